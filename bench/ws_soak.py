"""Live that stays live: WebSockets through the Redis channel layer, held open for minutes.

    REDIS_URL=redis://127.0.0.1:6379/7 .venv/bin/python bench/ws_soak.py [--minutes 10] [--interval 15]

A bench script, not a test: it takes ten minutes, so CI does not run it. It works in its own
PostgreSQL database `cleara_bench_soak` (on the server DATABASE_URL names, or 127.0.0.1:5432),
recreated and seeded with the e2e tests' data (`incidents.tests.seed.seed_console`) on every run.

daphne serves the console with the Redis channel layer (REDIS_URL; default
redis://127.0.0.1:6379/0). Headless Chromium holds two pages open as bob: the dashboard and an
incident's collaborate step. Every --interval seconds this process (another process, as the
worker or the correlation engine would be) adds a note to the incident and opens a new incident;
the pages must show both. With Redis and an open socket the pages do not poll, so what arrives came
over the socket. Prints the socket closes and reconnects per page, the updates that arrived (and
their delay) and the "Timeout reading" errors in daphne's log. Target: no close, every update.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BASE_DIR))

from bench.pages import CHROMIUM, CHROMIUM_ARGS, SEEN, WATCH, in_thread, pct, seeded_console, start_daphne  # noqa: E402

DB_NAME = "cleara_bench_soak"

# Counts the socket's closes and opens from the first script on, before htmx connects.
COUNT_SOCKET = """window.__soak = {open: 0, close: 0, error: 0};
document.addEventListener('htmx:wsOpen', () => window.__soak.open++);
document.addEventListener('htmx:wsClose', () => window.__soak.close++);
document.addEventListener('htmx:wsError', () => window.__soak.error++);"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between changes")
    parser.add_argument("--timeout", type=float, default=10.0, help="an update not seen within this many seconds is missed")
    args = parser.parse_args()

    os.environ["REDIS_URL"] = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    data, session = seeded_console(DB_NAME, "bob")
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone
    from playwright.sync_api import sync_playwright

    from incidents import hooks, services
    from incidents.models import Incident

    incident = data.main

    log_path = Path(tempfile.gettempdir()) / f"cleara-soak-daphne-{os.getpid()}.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    env = {**os.environ, "DJANGO_DEBUG": "0", "Q_SYNC": "1", "PYTHONUNBUFFERED": "1"}
    proc, base = start_daphne(env, log)
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    delays = {"incident page (note)": [], "dashboard (new incident)": []}
    missed = {name: 0 for name in delays}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            ctx = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=base)
            ctx.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base}])
            ctx.add_init_script(COUNT_SOCKET)
            pages = {"incident page (note)": ctx.new_page(), "dashboard (new incident)": ctx.new_page()}
            pages["incident page (note)"].goto(f"/incidents/{incident.number}/collaborate/")
            pages["dashboard (new incident)"].goto("/")
            for page in pages.values():
                page.wait_for_function("() => document.querySelector('[data-live-indicator]').dataset.state === 'open'")
            started = time.monotonic()
            end = started + args.minutes * 60
            rounds = 0
            print(f"soak: {args.minutes:g} min, a note and a new incident every {args.interval:g} s, Redis {os.environ['REDIS_URL']}", flush=True)
            while time.monotonic() < end:
                rounds += 1
                marker = f"soak-{rounds}-{time.time_ns()}"
                note_page, dash_page = pages["incident page (note)"], pages["dashboard (new incident)"]
                note_page.evaluate(WATCH, marker)
                dash_page.evaluate(WATCH, f"Soak incident {marker}")
                sent = time.time() * 1000
                in_thread(lambda: services.note_add(incident=incident, body=marker, author_name="worker"))

                def open_incident():
                    with transaction.atomic():
                        now = timezone.now()
                        new = Incident.objects.create(number=services.incident_number_next(), title=f"Soak incident {marker}",
                                                      severity="critical", grouping_key=f"soak:{marker}", started_at=now, last_event_at=now)
                        hooks.incident_changed(hooks.IncidentChange(new.pk, "opened"))

                in_thread(open_incident)
                for name, page in pages.items():
                    try:
                        seen = page.evaluate(f"Promise.race([{SEEN}, new Promise(r => setTimeout(() => r(null), {int(args.timeout * 1000)}))])")
                    except Exception:
                        seen = None
                    if seen is None:
                        missed[name] += 1
                    else:
                        delays[name].append(seen - sent)
                elapsed = time.monotonic() - started
                if rounds % 4 == 0:
                    closes = sum(p.evaluate("window.__soak.close") for p in pages.values())
                    print(f"  {elapsed / 60:5.1f} min: {rounds} rounds, {closes} socket closes so far", flush=True)
                time.sleep(max(0.0, started + rounds * args.interval - time.monotonic()))
            counts = {name: page.evaluate("window.__soak") for name, page in pages.items()}
            minutes = (time.monotonic() - started) / 60
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    timeouts = log_path.read_text(errors="replace").count("Timeout reading from")
    print(f"\n{minutes:.1f} minutes, {rounds} changes each ({args.interval:g} s apart), database {DB_NAME} (seed_console), daphne + Chromium 1440 px")
    print(f"  {'page':<28} {'opens':>6} {'closes':>7} {'errors':>7} {'arrived':>8} {'missed':>7} {'median':>7} {'p95':>7} {'max':>7}  (ms)")
    for name, c in counts.items():
        d = delays[name] or [float("nan")]
        print(f"  {name:<28} {c['open']:6d} {c['close']:7d} {c['error']:7d} {len(delays[name]):8d} {missed[name]:7d} "
              f"{statistics.median(d):7.0f} {pct(d, 0.95):7.0f} {max(d):7.0f}")
    total = sum(c["close"] for c in counts.values())
    print(f"  socket closes per 10 minutes: {total / minutes * 10:.1f} (both pages); 'Timeout reading from' in daphne's log: {timeouts}")
    print(f"  daphne log: {log_path}")


if __name__ == "__main__":
    main()
