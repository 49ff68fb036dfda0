"""Console speed at scale: server time per page, full page loads, and the live-update delay.

    .venv/bin/python bench/pages.py [--incidents 10000] [--events 1000000] [--samples 20] [--rebuild]

Works in its own PostgreSQL database, `cleara_bench_pages` (on the server DATABASE_URL names, or
127.0.0.1:5432), filled once with COPY and reused by later runs (--rebuild refills it): a
topology of 61 services, 10,000 incidents over 60 days with hypotheses and evidence, 1,000,000
events (each incident's alerts, logs, metrics and anomalies, plus background traffic).

Prints, per console page, the cold load under a throttled mobile profile at 1440 and 390 px
(bytes transferred and load time, empty cache; --profile, --cold-only, --wide), the server time (Django's test client in this process: middleware,
views, queries and templates; median and p95 over --samples incidents), then with daphne and
headless Chromium the full page load (navigation start to the load event, plotly.js included),
and the delay from an incident's change to its appearance in another browser: for a change
made in the console (a note posted over HTTP) and, when Redis is reachable, for a change made
by another process (as the worker or the correlation engine would).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BASE_DIR))
from bench.db import named_database  # noqa: E402
from cleara.tests.outage import free_port  # noqa: E402

DB_NAME = os.environ.get("BENCH_PAGES_DB", "cleara_bench_pages")  # another name keeps two checkouts apart
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


def redis_url() -> str | None:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return url
    except Exception:
        return None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --- Data --------------------------------------------------------------------------------------

ALERTS = {
    "db": ["Connection pool exhausted: {n}/{n} connections active", "Replication lag above {n}s", "Disk usage above {n}%"],
    "svc": ["p99 latency above {n}ms", "Error rate {n}% above 5% for 2m", "Pod {host} OOMKilled (limit 2Gi)", "5xx rate above {n}% on /api"],
}
LOGS = [
    "ERROR upstream {dep} returned 503 Service Unavailable request={n}",
    "WARN retrying request to {dep} attempt={n}",
    "ERROR could not acquire connection from pool within 5000ms (active={n})",
    "INFO GET /healthz 200 in {n}ms",
    "WARN slow query took {n}ms",
    "ERROR timeout after 10s calling {dep}",
]
METRICS = ["latency_p99_ms", "error_rate", "cpu_percent", "memory_rss_mb"]


def generate(*, incidents: int, events: int, seed: int = 11) -> None:
    """Fill the bench database with COPY: a few hundred thousand rows per second."""
    from django.db import connection
    from django.utils import timezone

    from incidents.fingerprints import message_signature
    from incidents.models import Pattern, Service
    from incidents.tests.seed import seed_patterns, seed_topology, seed_users

    rng = random.Random(seed)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE incidents_event, incidents_incident_services, incidents_timelineevent, incidents_note, "
            "incidents_feedback, incidents_incident RESTART IDENTITY CASCADE"
        )
    services = seed_topology()
    for i in range(1, 41):
        svc, _ = Service.objects.get_or_create(name=f"svc-{i:02d}", defaults={"tier": "backend", "team": f"team-{i % 7}", "runbook_url": f"https://runbooks.example.com/services/svc-{i:02d}"})
        deps = rng.sample([s for s in services.values()], k=2)
        svc.depends_on.set(deps)
        services[svc.name] = svc
    seed_patterns()
    users = seed_users()
    patterns = list(Pattern.objects.all())
    by_id = {s.pk: s for s in services.values()}
    dependants: dict[int, list[int]] = {s.pk: [] for s in services.values()}
    for s in services.values():
        for d in s.depends_on.all():
            dependants[d.pk].append(s.pk)
    service_ids = list(by_id)
    now = timezone.now().replace(microsecond=0)
    span = timedelta(days=60)
    start = now - span
    per_incident = max(10, int(events * 0.6 / incidents))
    raw = connection.connection

    def fingerprint(service: str, kind: str, message: str) -> str:
        return "" if kind == "metric" else f"{service}:{message_signature(message)}"[:128]

    incident_rows, m2m_rows, event_rows = [], [], []
    event_id = 0
    t0 = time.perf_counter()
    for n in range(1, incidents + 1):
        started = start + span * (n / incidents) - timedelta(seconds=rng.randint(0, 300))
        duration = timedelta(minutes=rng.choice([5, 10, 20, 30, 45, 60, 90, 180]))
        root = rng.choice(service_ids)
        affected = [root] + rng.sample(dependants[root], k=min(len(dependants[root]), rng.randint(1, 4)))
        age = now - started
        if age < timedelta(hours=6):
            status = rng.choice(["open", "investigating"])
        else:
            status = "false_positive" if rng.random() < 0.1 else "resolved"
        resolved = started + duration + timedelta(minutes=rng.randint(5, 120)) if status in ("resolved", "false_positive") else None
        pattern = rng.choice(patterns) if rng.random() < 0.7 else None
        severity = rng.choices(["critical", "warning", "info"], weights=[3, 5, 2])[0]
        confidence = round(rng.uniform(0.35, 0.98), 3)
        first_ids = []
        alerts = 0
        for k in range(per_incident):
            event_id += 1
            svc = by_id[affected[k % len(affected)]]
            ts = started + duration * (k / per_incident)
            roll = k % 12
            if roll < 2:
                kind, sev = "alert", severity
                msg = rng.choice(ALERTS["db" if svc.tier == "data" else "svc"]).format(n=rng.randint(2, 500), host=f"{svc.name}-{rng.randint(1, 3)}")
                alerts += 1
            elif roll < 3:
                kind, sev, msg = "anomaly", "warning", f"{rng.choice(METRICS)} far outside its usual range"
            elif roll < 7:
                kind, sev = "log", rng.choice(["warning", "critical", "info"])
                msg = rng.choice(LOGS).format(dep=by_id[rng.choice(service_ids)].name, n=rng.randint(1, 99999))
            else:
                kind, sev, msg = "metric", "info", ""
            metric = rng.choice(METRICS) if kind in ("metric", "anomaly") else ""
            value = round(rng.uniform(1, 1000), 3) if metric else None
            if kind in ("alert", "anomaly") and len(first_ids) < 8:
                first_ids.append(event_id)
            event_rows.append((event_id, ts, ts, svc.pk, kind, sev, msg, metric, value, f"{svc.name}-1", fingerprint(svc.name, kind, msg), "{}", "simulator", n))
        hypotheses = [{"service": by_id[affected[0]].name, "score": confidence, "pattern": pattern.slug if pattern else None,
                       "reasons": ["alerted first", "healthy dependencies, failing dependants"],
                       "evidence": [{"event": i, "client_id": None, "weight": None} for i in first_ids]}]
        hypotheses += [{"service": by_id[s].name, "score": round((1 - confidence) / (i + 2), 3), "pattern": None, "reasons": ["a dependant that failed later"], "evidence": []}
                       for i, s in enumerate(affected[1:4])]
        incident_rows.append((
            n, n, f"{by_id[root].name}: {rng.choice(['latency', 'errors', 'saturation', 'pool exhausted', 'OOM kills'])} #{n}", status, severity,
            f"bench:{n}", started, started + duration, resolved, root, pattern.pk if pattern else None, "", confidence,
            json.dumps(hypotheses), users["alice"].pk if status == "investigating" else None, json.dumps(["bench"] if resolved else []),
            pattern.incident_type if (pattern and resolved) else "", "Rolled back and scaled out." if status == "resolved" else "",
            per_incident, alerts, started, started,
        ))
        m2m_rows.extend((n, s) for s in affected)
    background = max(0, events - event_id)
    for _ in range(background):
        event_id += 1
        svc = by_id[rng.choice(service_ids)]
        ts = start + span * rng.random()
        if rng.random() < 0.7:
            kind, sev, msg, metric, value = "metric", "info", "", rng.choice(METRICS), round(rng.uniform(1, 1000), 3)
        elif rng.random() < 0.9:
            kind, sev, msg, metric, value = "log", "info", rng.choice(LOGS).format(dep=by_id[rng.choice(service_ids)].name, n=rng.randint(1, 99999)), "", None
        else:
            kind, sev, metric, value = "alert", "warning", "", None
            msg = rng.choice(ALERTS["svc"]).format(n=rng.randint(2, 500), host=f"{svc.name}-2")
        event_rows.append((event_id, ts, ts, svc.pk, kind, sev, msg, metric, value, f"{svc.name}-2", fingerprint(svc.name, kind, msg), "{}", "simulator", None))
    print(f"  generated {len(incident_rows):,} incidents and {len(event_rows):,} events in {time.perf_counter() - t0:.0f} s; copying…", flush=True)
    t0 = time.perf_counter()
    with raw.cursor() as cur:
        with cur.copy(
            "COPY incidents_incident (id, number, title, status, severity, grouping_key, started_at, last_event_at, resolved_at, "
            "root_cause_service_id, pattern_id, summary, confidence, hypotheses, assignee_id, tags, incident_type, resolution_notes, "
            "event_count, alert_count, created_at, updated_at) FROM STDIN"
        ) as copy:
            for row in incident_rows:
                copy.write_row(row)
        with cur.copy("COPY incidents_incident_services (incident_id, service_id) FROM STDIN") as copy:
            for row in m2m_rows:
                copy.write_row(row)
        event_rows.sort(key=lambda r: r[1])  # insertion in time order, as ingest does
        with cur.copy(
            "COPY incidents_event (id, timestamp, received_at, service_id, type, severity, message, metric, value, host, fingerprint, "
            "attributes, source, incident_id) FROM STDIN"
        ) as copy:
            for row in event_rows:
                copy.write_row(row)
        cur.execute("SELECT setval(pg_get_serial_sequence('incidents_incident', 'id'), %s)", [incidents])
        cur.execute("SELECT setval(pg_get_serial_sequence('incidents_event', 'id'), %s)", [event_id])
    raw.commit()
    print(f"  copied in {time.perf_counter() - t0:.0f} s; vacuum analyze…", flush=True)
    connection.close()
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


# --- Server time per page ----------------------------------------------------------------------


def pages(samples: int):
    """(label, [(url, headers)]) for each page, over `samples` incidents (recent and old)."""
    from incidents.models import Event, Incident

    rng = random.Random(5)
    generated = Incident.objects.filter(grouping_key__startswith="bench:")
    recent = list(generated.filter(status__in=["open", "investigating"]).values_list("number", flat=True))
    old = list(generated.exclude(status__in=["open", "investigating"]).values_list("number", flat=True))
    numbers = rng.sample(recent, k=min(len(recent), samples // 2)) + rng.sample(old, k=samples - min(len(recent), samples // 2))
    event_of = {n: Event.objects.filter(incident__number=n, type="alert").values_list("pk", flat=True).first() for n in numbers}
    hx = {"HTTP_HX_REQUEST": "true"}

    def each(path: str, **headers):
        return [(path.format(n=n, e=event_of[n]), headers) for n in numbers]

    def same(path: str, **headers):
        return [(path, headers)] * samples

    return [
        ("dashboard (last 7 days)", same("/")),
        ("dashboard, filtered (critical, open, 30 d)", same("/?severity=critical&status=open&status=investigating&range=30d")),
        ("dashboard, service + search, all time", same("/?service=checkout&q=latency&range=all")),
        ("dashboard, page 20, all time", same("/?range=all&page=20")),
        ("dashboard poll (rows partial)", same("/", **hx, HTTP_HX_TARGET="incident-rows")),
        ("dashboard stats (htmx, last 7 days)", same("/", **hx, HTTP_HX_TARGET="dashboard-stats")),
        ("dashboard stats (htmx, 30 days)", same("/?range=30d", **hx, HTTP_HX_TARGET="dashboard-stats")),
        ("dashboard stats (htmx, all time)", same("/?range=all", **hx, HTTP_HX_TARGET="dashboard-stats")),
        ("preview panel", each("/incidents/{n}/preview/", **hx, HTTP_HX_TARGET="incident-preview")),
        ("overview", each("/incidents/{n}/")),
        ("timeline", each("/incidents/{n}/timeline/")),
        ("timeline, filtered (htmx)", each("/incidents/{n}/timeline/?type=alert&severity=critical", **hx, HTTP_HX_TARGET="timeline-results")),
        ("event detail (htmx)", each("/incidents/{n}/events/{e}/", **hx, HTTP_HX_TARGET="event-detail")),
        ("root cause", each("/incidents/{n}/rca/")),
        ("service map", each("/incidents/{n}/map/")),
        ("recommendations", each("/incidents/{n}/recommendations/")),
        ("investigate", each("/incidents/{n}/investigate/")),
        ("log search beyond (htmx)", each("/incidents/{n}/investigate/?q=timeout&beyond=on", **hx, HTTP_HX_TARGET="log-results")),
        ("collaborate", each("/incidents/{n}/collaborate/")),
        ("resolve", each("/incidents/{n}/resolve/")),
        ("live poll (htmx)", each("/incidents/{n}/live/", **hx)),
        ("export CSV", each("/incidents/{n}/export.csv")),
        ("pattern library", same("/patterns/")),
    ]


def measure_server(samples: int) -> list[tuple[str, float, float, int]]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="alice"))
    results = []
    for label, requests in pages(samples):
        url, headers = requests[0]
        client.get(url, **headers)  # warm: imports, template compilation, connection
        times, sizes = [], []
        for url, headers in requests:
            t = time.perf_counter()
            response = client.get(url, **headers)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            times.append((time.perf_counter() - t) * 1000)
            if response.status_code not in (200, 286):
                raise SystemExit(f"{url} answered {response.status_code}")
            sizes.append(len(body))
        results.append((label, statistics.median(times), pct(times, 0.95), int(statistics.median(sizes))))
        print(f"  {label:<44} {results[-1][1]:7.0f} {results[-1][2]:7.0f} {results[-1][3] // 1024:7d}", flush=True)
    return results


# --- Browser: full page load and live updates --------------------------------------------------


def start_daphne(env: dict, log=None) -> tuple[subprocess.Popen, str]:
    """collectstatic, then daphne on a free port (or BENCH_PORT) until /healthz answers; its output to
    ``log`` (an open file) or nowhere."""
    port = int(os.environ.get("BENCH_PORT") or free_port())  # a fixed port on a machine whose sessions share ports out
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=BASE_DIR, env=env, check=True)
    proc = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "cleara.asgi:application"],
                            cwd=BASE_DIR, env=env, stdout=log or subprocess.DEVNULL,
                            stderr=subprocess.STDOUT if log else subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return proc, url
        except Exception:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("daphne did not start")


def seeded_console(db_name: str, username: str):
    """Django set up on database `db_name`, recreated and seeded with the e2e tests' data
    (`incidents.tests.seed.seed_console`); returns the seed and `username`'s session cookie value.
    The channel layer is the one the environment's REDIS_URL chooses at this point."""
    os.environ["DATABASE_URL"] = named_database(db_name, recreate=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cleara.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from incidents.tests.seed import seed_console

    call_command("migrate", verbosity=0)
    data = seed_console()
    client = Client()
    client.force_login(data.users[username])
    return data, client.cookies[settings.SESSION_COOKIE_NAME].value


def in_thread(fn):
    """Run `fn` in a thread of its own: Playwright keeps an event loop in this one, where the
    on-commit push (async_to_sync) refuses to run."""
    out, err = [], []

    def run():
        from django.db import connection

        try:
            out.append(fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            err.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if err:
        raise err[0]
    return out[0]


# Starts watching for `marker` and returns at once; `window.__seenAt` resolves to the time
# (Date.now()) the marker first appears in the page.
WATCH = """marker => { window.__seenAt = new Promise(resolve => {
    const seen = () => document.body.textContent.includes(marker);
    if (seen()) return resolve(Date.now());
    const obs = new MutationObserver(() => { if (seen()) { obs.disconnect(); resolve(Date.now()); } });
    obs.observe(document.body, {subtree: true, childList: true, characterData: true});
}); }"""
SEEN = "window.__seenAt"


# Throttled mobile profiles (Lighthouse's mobile defaults are "slow4g": 150 ms RTT, 1.6 Mbit/s
# down, 750 kbit/s up, CPU 4x slower; Chrome DevTools' "Fast 4G" is 60 ms, 9 / 1.5 Mbit/s).
PROFILES = {
    "slow4g": {"latency": 150, "down": 1.6e6, "up": 750e3, "cpu": 4},
    "fast4g": {"latency": 60, "down": 9e6, "up": 1.5e6, "cpu": 4},
}


def cold_pages(number: int) -> list[tuple[str, str]]:
    return [
        ("dashboard", "/"), ("overview", f"/incidents/{number}/"), ("timeline", f"/incidents/{number}/timeline/"),
        ("root cause", f"/incidents/{number}/rca/"), ("service map", f"/incidents/{number}/map/"),
        ("recommendations", f"/incidents/{number}/recommendations/"), ("investigate", f"/incidents/{number}/investigate/"),
        ("collaborate", f"/incidents/{number}/collaborate/"), ("resolve", f"/incidents/{number}/resolve/"),
        ("pattern library", "/patterns/"), ("models", "/models/"), ("integrations", "/integrations/"), ("API docs", "/api/v1/docs"),
    ]


def measure_cold(browser, url: str, session: dict, number: int, *, profile: str, rounds: int, wide: int = 1440) -> list[tuple]:
    """Each page loaded cold (a fresh browser context: empty cache; the server warmed by one untimed request per page) under a throttled profile at
    `wide` (1440) and 390 px. Bytes: what crossed the network (encoded, i.e. compressed) until the page
    went quiet; load: navigation start to the load event; quiet: to 500 ms without a request
    (charts drawn, stats counted)."""
    throttle = PROFILES[profile]
    results = []
    # "Cold" is the browser's cache, not the server: a server just started spends its first
    # requests importing and compiling (the first page measured, the dashboard, took 3.7 s at
    # 1280 px against 1.8 s the next time), so each page is asked for once, untimed, first.
    for _, path in cold_pages(number):
        request = urllib.request.Request(url + path, headers={"Cookie": f"{session['name']}={session['value']}"})
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
    print(f"\ncold load per page ({profile}: {throttle['latency']} ms RTT, {throttle['down'] / 1e6:g} Mbit/s down, CPU {throttle['cpu']}x slower; "
          f"empty cache; median of {rounds})")
    print(f"  {'page':<18} {f'{wide} px: KB':>11} {'load':>6} {'quiet':>6}   {'390 px: KB':>10} {'load':>6} {'quiet':>6}  (ms)")
    for label, path in cold_pages(number):
        row = [label]
        for width, height, mobile in ((wide, 900, False), (390, 844, True)):
            sizes, loads, quiets = [], [], []
            for _ in range(rounds):
                ctx = browser.new_context(viewport={"width": width, "height": height}, is_mobile=mobile, has_touch=mobile, base_url=url)
                ctx.add_cookies([session])
                page = ctx.new_page()
                cdp = ctx.new_cdp_session(page)
                transferred = [0]
                cdp.on("Network.loadingFinished", lambda params, t=transferred: t.__setitem__(0, t[0] + params.get("encodedDataLength", 0)))
                cdp.send("Network.enable")
                cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
                cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": throttle["latency"],
                                                              "downloadThroughput": throttle["down"] / 8, "uploadThroughput": throttle["up"] / 8})
                cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle["cpu"]})
                response = page.goto(path, wait_until="load", timeout=120_000)
                if response is None or response.status != 200:
                    raise SystemExit(f"{path} answered {response and response.status}")
                loads.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
                page.wait_for_load_state("networkidle", timeout=120_000)
                quiets.append(page.evaluate("performance.now()") - 500)
                sizes.append(transferred[0])
                ctx.close()
            row += [statistics.median(sizes) / 1024, statistics.median(loads), statistics.median(quiets)]
        results.append(tuple(row))
        print(f"  {label:<18} {row[1]:11.0f} {row[2]:6.0f} {row[3]:6.0f}   {row[4]:10.0f} {row[5]:6.0f} {row[6]:6.0f}", flush=True)
    worst_kb = max(results, key=lambda r: max(r[1], r[4]))
    worst_load = max(results, key=lambda r: max(r[2], r[5]))
    print(f"  heaviest: {worst_kb[0]} {max(worst_kb[1], worst_kb[4]) / 1024:.2f} MB (target < 1.5 MB); "
          f"slowest load: {worst_load[0]} {max(worst_load[2], worst_load[5]) / 1000:.2f} s (target < 2 s)")
    return results


def measure_browser(env: dict, *, cross_process: bool, rounds: int, profile: str = "slow4g", cold_rounds: int = 3, cold_only: bool = False,
                    wide: int = 1440) -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.test import Client
    from django.utils import timezone
    from playwright.sync_api import sync_playwright

    from incidents import hooks, services
    from incidents.models import Incident

    User = get_user_model()
    sessions = {}
    for name in ("alice", "bob"):
        client = Client()
        client.force_login(User.objects.get(username=name))
        sessions[name] = client.cookies[settings.SESSION_COOKIE_NAME].value
    incident = Incident.objects.filter(status="investigating").order_by("-started_at").first()
    proc, url = start_daphne(env)
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

            def context(user: str):
                ctx = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=url)
                ctx.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": sessions[user], "url": url}])
                return ctx

            session = {"name": settings.SESSION_COOKIE_NAME, "value": sessions["alice"], "url": url}
            measure_cold(browser, url, session, incident.number, profile=profile, rounds=cold_rounds, wide=wide)
            if cold_only:
                browser.close()
                return

            # Full page loads, with a warm browser cache.
            page = context("alice").new_page()
            print(f"\nfull page load in Chromium (navigation start -> load event, warm cache, {rounds} loads each)")
            print(f"  {'page':<44} {'median':>7} {'p95':>7}  (ms)")
            for label, path in [("dashboard", "/"), ("timeline", f"/incidents/{incident.number}/timeline/"),
                                ("root cause", f"/incidents/{incident.number}/rca/"), ("service map", f"/incidents/{incident.number}/map/"),
                                ("investigate", f"/incidents/{incident.number}/investigate/")]:
                page.goto(path)
                loads = []
                for _ in range(rounds):
                    page.goto(path, wait_until="load")
                    loads.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
                print(f"  {label:<44} {statistics.median(loads):7.0f} {pct(loads, 0.95):7.0f}")

            # Live: bob watches the incident's page; changes come from alice's browser session
            # (HTTP, handled by daphne) or from another process (this one).
            watcher = context("bob").new_page()
            watcher.goto(f"/incidents/{incident.number}/collaborate/")
            watcher.wait_for_function("() => document.querySelector('[data-live-indicator]').dataset.state === 'open'")
            author = context("alice").new_page()
            author.goto(f"/incidents/{incident.number}/collaborate/")
            csrf = author.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken']")
            cookies = "; ".join(f"{c['name']}={c['value']}" for c in author.context.cookies())
            web, other, dashboard = [], [], []
            for i in range(rounds):
                marker = f"bench-note-{time.time_ns()}"
                watcher.evaluate(WATCH, marker)
                request = urllib.request.Request(f"{url}/incidents/{incident.number}/notes/", data=f"body={marker}".encode(), method="POST",
                                                 headers={"Cookie": cookies, "X-CSRFToken": csrf, "HX-Request": "true", "Referer": url,
                                                          "Content-Type": "application/x-www-form-urlencoded"})
                sent = time.time() * 1000
                urllib.request.urlopen(request).read()
                web.append(watcher.evaluate(SEEN) - sent)
            if cross_process:
                for i in range(rounds):
                    marker = f"bench-worker-{time.time_ns()}"
                    watcher.evaluate(WATCH, marker)
                    sent = time.time() * 1000
                    in_thread(lambda: services.note_add(incident=incident, body=marker, author_name="worker"))
                    other.append(watcher.evaluate(SEEN) - sent)
                watcher.goto("/")
                watcher.wait_for_function("() => document.querySelector('[data-live-indicator]').dataset.state === 'open'")
                for i in range(rounds):
                    marker = f"Bench incident {time.time_ns()}"
                    watcher.evaluate(WATCH, marker)
                    sent = time.time() * 1000

                    def open_incident():
                        with transaction.atomic():
                            now = timezone.now()
                            new = Incident.objects.create(number=services.incident_number_next(), title=marker, severity="critical",
                                                          grouping_key=marker, started_at=now, last_event_at=now)
                            hooks.incident_changed(hooks.IncidentChange(new.pk, "opened"))

                    in_thread(open_incident)
                    dashboard.append(watcher.evaluate(SEEN) - sent)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        # Leave the data set as it was for the next run.
        from incidents.models import Note

        Incident.objects.filter(grouping_key__startswith="Bench incident ").delete()
        Note.objects.filter(incident=incident, body__startswith="bench-").delete()
    print(f"\nlive update delay: change -> visible in another browser ({rounds} changes each)")
    print(f"  {'path':<44} {'median':>7} {'p95':>7} {'max':>7}  (ms)")
    print(f"  {'note posted in the console -> incident page':<44} {statistics.median(web):7.0f} {pct(web, 0.95):7.0f} {max(web):7.0f}")
    if cross_process:
        print(f"  {'note from another process -> incident page':<44} {statistics.median(other):7.0f} {pct(other, 0.95):7.0f} {max(other):7.0f}")
        print(f"  {'incident opened elsewhere -> dashboard row':<44} {statistics.median(dashboard):7.0f} {pct(dashboard, 0.95):7.0f} {max(dashboard):7.0f}")
    else:
        print("  (no Redis: changes from other processes reach pages by polling, every 10 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20, help="requests per page (different incidents)")
    parser.add_argument("--rounds", type=int, default=10, help="page loads and live changes per measurement")
    parser.add_argument("--rebuild", action="store_true", help="refill the database even if it looks complete")
    parser.add_argument("--no-browser", action="store_true", help="server times only")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="slow4g", help="throttling of the cold loads")
    parser.add_argument("--cold-rounds", type=int, default=3, help="cold loads per page and width (median)")
    parser.add_argument("--cold-only", action="store_true", help="only the cold loads (skip server times, warm loads, live updates)")
    parser.add_argument("--wide", type=int, default=1440, help="the desktop width of the cold loads (px; the phone's is 390)")
    args = parser.parse_args()

    url = named_database(DB_NAME)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cleara.settings")
    redis = redis_url()
    if redis:
        os.environ["REDIS_URL"] = redis
    else:
        os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    from incidents.models import Event, Incident

    call_command("migrate", verbosity=0)
    # What an interrupted run may have left behind (the live measurement's incidents).
    Incident.objects.filter(grouping_key__startswith="Bench incident ").delete()
    have = (Incident.objects.count(), Event.objects.count())
    if args.rebuild or have[0] < args.incidents or have[1] < args.events:
        print(f"filling {DB_NAME}: {args.incidents:,} incidents, {args.events:,} events (have {have[0]:,} and {have[1]:,})", flush=True)
        generate(incidents=args.incidents, events=args.events)
    have = (Incident.objects.count(), Event.objects.count())
    print(f"database {DB_NAME}: {have[0]:,} incidents, {have[1]:,} events; channel layer {'Redis' if redis else 'in-memory'}")
    if not args.cold_only:
        print(f"\nserver time per page (Django test client, {args.samples} requests each)")
        print(f"  {'page':<44} {'median':>7} {'p95':>7} {'KiB':>7}  (ms)")
        results = measure_server(args.samples)
        worst = max(results, key=lambda r: r[2])
        print(f"  slowest p95: {worst[0]} {worst[2]:.0f} ms (target < 300 ms)")
    if args.no_browser:
        return
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        print(f"\n{CHROMIUM} is missing (apt-get install -y chromium): no browser figures")
        return
    env = {**os.environ, "DJANGO_DEBUG": "0", "Q_SYNC": "1"}
    measure_browser(env, cross_process=bool(redis), rounds=args.rounds, profile=args.profile, cold_rounds=args.cold_rounds, cold_only=args.cold_only,
                    wide=args.wide)


if __name__ == "__main__":
    main()
