"""Ingest, API and page figures through nginx with two web processes, next to one daphne process.

    .venv/bin/python bench/stack.py [--hours 1] [--batch 100] [--clients 4] [--samples 40] [--no-browser]

Starts the loopback stack of `make stack` (scripts/stack.py: private PostgreSQL, Redis, two daphne,
one ingest-tier process, the worker, nginx, Prometheus), loads the demo topology, then for each of
two set-ups, in the same stack and database:

- `1 process`: every request straight to the first daphne (no proxy);
- `nginx + 2`: every request through nginx, which balances reads and pages over both daphne
  processes and sends ingest to the ingest tier (uvicorn, docs/ingest.md);

measures (a) ingest: `--clients` threads post a simulated stream (alerts, logs, metrics, injected
faults; a different `--hours` slice of the same simulation for each set-up, in batches of `--batch`)
as fast as it is taken: with Redis, as in production, a request stores its batch and answers 202, and
the stack's ingest workers detect and correlate after it (issue 11), so these figures are the
acknowledged rate, not the processed one (`bench/ingest.py` and `bench/scale.py` measure that); (b) API reads:
GET /api/v1/incidents, /api/v1/incidents/<id>, /api/v1/stats, `--samples` each; (c) pages: the
dashboard and an incident's page, server time over HTTP with a logged-in session, `--samples` each,
and (unless --no-browser) the full load in headless Chromium (navigation start to the load event,
static files and plotly.js included) through each set-up. Targets (the seed's): API p95 < 500 ms,
page < 2 s.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.client import post_all  # noqa: E402
from bench.ingest import percentile, sim_start  # noqa: E402
from evaluation import simulation  # noqa: E402
from scripts.stack import Stack  # noqa: E402


def stream(*, start_hour: float, hours: float, batch: int, seed: int) -> tuple[list[bytes], int]:
    start = sim_start(start_hour + hours)
    config = simulation.SimConfig(start=start, seed=seed)
    events = [e for e in simulation.Recording(config, days=(start_hour + hours) / 24)]
    cut = start.timestamp() + start_hour * 3600
    events = [e for e in events if datetime.fromisoformat(e["timestamp"]).timestamp() >= cut]
    return [json.dumps(events[i : i + batch]).encode() for i in range(0, len(events), batch)], len(events)


def ingest(ports: list[int], bodies: list[bytes], token: str, clients: int) -> dict:
    answers, began, ended = post_all(ports, bodies, token, clients=clients, timeout=300)
    errors = [f"{a.status} {a.body[:200]!r}" for a in answers if a.status != 202]
    accepted = [a for a in answers if a.status == 202]
    latencies = [a.seconds for a in accepted]
    events = sum(answer["accepted"] + answer["duplicates"] for answer in (json.loads(a.body) for a in accepted))
    wall = ended - began
    if errors:
        raise SystemExit(f"{len(errors)} failed ingest request(s), e.g. {errors[0]}")
    return {"events": events, "seconds": wall, "rate": events / wall, "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95), "requests": len(latencies)}


def timed_gets(port: int, paths: list[str], headers: dict, samples: int) -> dict[str, list[float]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out: dict[str, list[float]] = {p: [] for p in paths}
    for path in paths:
        for _ in range(samples):
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"GET {path}: {response.status}")
            out[path].append(time.perf_counter() - started)
    return out


def queue_drained(port: int, token: str, timeout: float = 600.0) -> float | None:
    """Poll /api/v1/stats until the ingest workers have processed everything; perf_counter() then
    (None if it did not drain within `timeout`)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        conn.request("GET", "/api/v1/stats", headers={"Authorization": f"Bearer {token}"})
        stats = json.loads(conn.getresponse().read())
        if not any(q["messages"] for q in stats.get("queue", {}).values()):
            return time.perf_counter()
        time.sleep(0.2)
    return None


def login_cookie(port: int, username: str, password: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login/")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie") or "")
    if response.status != 200 or not cookie:
        raise SystemExit(f"GET /login/: {response.status}, no CSRF cookie: {page[:300]!r}")
    csrf_cookie = cookie.group(1)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    from urllib.parse import urlencode

    conn.request("POST", "/login/", body=urlencode({"username": username, "password": password, "csrfmiddlewaretoken": csrf}),
                 headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={csrf_cookie}",
                          "Referer": f"http://127.0.0.1:{port}/login/"})
    response = conn.getresponse()
    response.read()
    session = re.search(r"sessionid=([^;]+)", response.getheader("Set-Cookie") or "")
    if response.status != 302 or not session:
        raise SystemExit(f"login failed: {response.status}")
    return session.group(1)


def browser_loads(url: str, session: str, paths: list[str], loads: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    out: dict[str, list[float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(base_url=url)
        context.add_cookies([{"name": "sessionid", "value": session, "url": url}])
        page = context.new_page()
        for path in paths:
            page.goto(path, wait_until="load")  # warm the cache, as a returning user
            out[path] = []
            for _ in range(loads):
                page.goto(path, wait_until="load")
                out[path].append(page.evaluate(
                    "() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; }") / 1000)
        browser.close()
    return out


def ms(values: list[float], p: float) -> str:
    return f"{percentile(values, p) * 1000:7.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=1.0, help="simulated hours per set-up (about 21,000 events an hour)")
    parser.add_argument("--batch", type=int, default=100, help="events per ingest request")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--samples", type=int, default=40, help="requests per API endpoint and page")
    parser.add_argument("--loads", type=int, default=10, help="browser loads per page")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()

    runs = {
        "1 process": stream(start_hour=0, hours=args.hours, batch=args.batch, seed=args.seed),
        "nginx + 2": stream(start_hour=args.hours, hours=args.hours, batch=args.batch, seed=args.seed),
    }
    print(f"stack bench: {', '.join(f'{k}: {n} events in {len(b)} requests' for k, (b, n) in runs.items())} "
          f"(simulated estate, 21 services, seed {args.seed}); batches of {args.batch}, {args.clients} clients, "
          f"stored and acknowledged (202), detection and correlation in the ingest workers; {os.cpu_count()} CPUs shared by every process of the stack")
    workdir = Path(tempfile.mkdtemp(prefix="cleara-bench-stack-"))
    try:
        with Stack(workdir=workdir, web=2, extra_env={"LOG_LEVEL": "WARNING"}) as stack:
            token = stack.manage("create_api_token", "bench", "--scope", "ingest", "--scope", "admin").strip()
            body = json.dumps(simulation.topology()).encode()
            conn = http.client.HTTPConnection("127.0.0.1", stack.ports["nginx"], timeout=60)
            conn.request("POST", "/api/v1/services", body=body, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            assert response.status in (200, 201), "topology not loaded"
            setups = {"1 process": [stack.ports["web"][0]], "nginx + 2": [stack.ports["nginx"]]}
            results = {}
            for name, ports in setups.items():
                started = time.perf_counter()
                results[name] = {"ingest": ingest(ports, runs[name][0], token, args.clients)}
                drained = queue_drained(stack.ports["nginx"], token)
                results[name]["ingest"]["processed"] = runs[name][1] / (drained - started) if drained else None
            conn.request("GET", "/api/v1/incidents?page_size=1", headers={"Authorization": f"Bearer {token}"})
            first = json.loads(conn.getresponse().read())
            ref = first["results"][0]["number"] if first.get("results") else None
            api_paths = ["/api/v1/incidents", "/api/v1/stats"] + ([f"/api/v1/incidents/n{ref}"] if ref else [])
            page_paths = ["/"] + ([f"/incidents/{ref}/"] if ref else [])
            session = login_cookie(stack.ports["nginx"], *stack.admin)
            for name, ports in setups.items():
                results[name]["api"] = timed_gets(ports[0], api_paths, {"Authorization": f"Bearer {token}"}, args.samples)
                results[name]["pages"] = timed_gets(ports[0], page_paths, {"Cookie": f"sessionid={session}"}, args.samples)
                if not args.no_browser:
                    results[name]["browser"] = browser_loads(f"http://127.0.0.1:{ports[0]}", session, page_paths, args.loads)
            incidents = stack.manage("shell", "--no-imports", "-c", "from incidents.models import Incident; print(Incident.objects.count())").strip()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n(database at the end: {incidents} incidents)\n")
    print(f"{'ingest':34s} {'events/s':>9s} {'p50 ms':>7s} {'p95 ms':>7s}  requests      processed events/s (first request -> queue drained)")
    for name, r in results.items():
        i = r["ingest"]
        processed = f"{i['processed']:,.0f}" if i.get("processed") else "did not drain in 600 s"
        print(f"  {name:32s} {i['rate']:9,.0f} {i['p50'] * 1000:7.0f} {i['p95'] * 1000:7.0f}  {i['requests']} x {args.batch} events"
              f"  {processed:>12s}")
    worst_api = worst_page = 0.0
    for kind in ("api", "pages", "browser"):
        if kind not in results["1 process"]:
            continue
        label = {"api": "API reads (server, over HTTP)", "pages": "pages (server, over HTTP)",
                 "browser": "full page load in Chromium"}[kind]
        print(f"\n{label:34s} " + "  ".join(f"{name + ' p50/p95 ms':>24s}" for name in results))
        for path in results["1 process"][kind]:
            cells = []
            for name in results:
                values = results[name][kind][path]
                cells.append(f"{ms(values, 50)} /{ms(values, 95)}".rjust(24))
                if kind == "api":
                    worst_api = max(worst_api, percentile(values, 95))
                elif kind in ("pages", "browser"):
                    worst_page = max(worst_page, percentile(values, 95))
            print(f"  {path:32s} " + "  ".join(cells))
    ingest_p95 = max(r["ingest"]["p95"] for r in results.values())
    ok = worst_api < 0.5 and worst_page < 2.0
    print(f"\ntargets: API read p95 < 500 ms {'met' if worst_api < 0.5 else 'MISSED'} (worst {worst_api * 1000:.0f} ms); "
          f"page p95 < 2 s {'met' if worst_page < 2.0 else 'MISSED'} (worst {worst_page * 1000:.0f} ms); "
          f"ingest request p95 {ingest_p95 * 1000:.0f} ms ({args.batch}-event batches, stored before 202)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
