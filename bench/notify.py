"""Notification latency: from an incident opening in Cleara to its Slack message and its PagerDuty
event arriving at local receivers, through the outbox and a real django-q2 worker.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cleara_bench REDIS_URL=redis://127.0.0.1:6379/5 \
        .venv/bin/python bench/notify.py [--incidents 40] [--gap 0.25]

It starts the Slack receiver (HTTP) and the PagerDuty receiver (HTTPS, throwaway CA) of
integrations/tests/receivers.py in this process, points Cleara at them through the environment,
migrates the database, starts `manage.py qcluster` (Q_WORKERS workers, default 2), warms it up,
then opens incidents one by one the way the correlation engine does (row, audit entry and hook in
one transaction) and waits for both deliveries of each. The clock starts just before the
transaction and stops when the receiver has read the request. The incidents it opened are deleted
at the end. Use a Redis database no other worker listens on: a worker of another checkout would
take the tasks.
"""
from __future__ import annotations

import argparse
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BOT_TOKEN = "xoxb-bench"
CHANNEL = "C0BENCH001"
ROUTING_KEY = "B3NCHR0UT1NGKEYB3NCHR0UT1NGKEY00"
PD_TOKEN = "pd-bench-token"
PD_FROM = "bench@example.com"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=40)
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between two openings")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for one delivery")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        print("bench/notify.py measures the production setup: set DATABASE_URL (PostgreSQL) and REDIS_URL.", file=sys.stderr)
        return 2

    import trustme

    from integrations.tests.receivers import PagerDutyReceiver, SlackReceiver

    ca = trustme.CA()
    workdir = Path(tempfile.mkdtemp(prefix="cleara-bench-notify-"))
    bundle = workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    slack = SlackReceiver(tokens={BOT_TOKEN}, channels={CHANNEL: "bench"}).start()
    pagerduty = PagerDutyReceiver(ssl_context=context, routing_keys={ROUTING_KEY}, api_tokens={PD_TOKEN}, user_emails={PD_FROM}).start()

    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_CHANNEL": CHANNEL, "SLACK_API_URL": slack.api_url,
        "PAGERDUTY_ROUTING_KEY": ROUTING_KEY, "PAGERDUTY_EVENTS_URL": pagerduty.url,
        "PAGERDUTY_API_TOKEN": PD_TOKEN, "PAGERDUTY_API_URL": pagerduty.url, "PAGERDUTY_FROM_EMAIL": PD_FROM,
        "SSL_CERT_FILE": str(bundle), "CLEARA_BASE_URL": "https://cleara.bench.invalid", "LOG_LEVEL": "WARNING",
        "Q_SYNC": "0", "DJANGO_SETTINGS_MODULE": "cleara.settings",
    }
    os.environ.update(env)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from incidents import hooks
    from incidents.models import Incident, Service, TimelineEvent
    from incidents.services import incident_number_next, timeline_event_record

    call_command("migrate", verbosity=0)
    service, _ = Service.objects.get_or_create(name="bench-checkout")
    opened: list[Incident] = []

    def open_incident() -> tuple[Incident, float]:
        t0 = time.time()
        with transaction.atomic():
            now = timezone.now()
            incident = Incident.objects.create(
                number=incident_number_next(), title="Bench: checkout p99 above 2s", severity="critical",
                grouping_key=f"bench:{uuid.uuid4().hex}", started_at=now, last_event_at=now + timedelta(seconds=1),
                root_cause_service=service, confidence=0.8, hypotheses=[{"service": service.name, "score": 0.8, "reasons": [], "evidence": []}],
            )
            incident.services.add(service)
            timeline_event_record(incident=incident, kind=TimelineEvent.Kind.OPENED, to_value=incident.severity)
            hooks.incident_changed(hooks.IncidentChange(incident.pk, "opened", TimelineEvent.Origin.SYSTEM))
        opened.append(incident)
        return incident, t0

    def arrivals(incident: Incident, timeout: float) -> tuple[float | None, float | None]:
        marker, key = f"#{incident.number} ", f"cleara-INC-{incident.number}"
        deadline = time.time() + timeout
        slack_at = pd_at = None
        while time.time() < deadline and (slack_at is None or pd_at is None):
            with slack.lock:
                slack_at = slack_at or next((c.wall for c in slack.calls if c.path.endswith("/chat.postMessage") and marker in str(c.data.get("text", ""))), None)
            with pagerduty.lock:
                pd_at = pd_at or next((c.wall for c in pagerduty.calls if c.path == "/v2/enqueue" and c.status == 202 and c.data.get("dedup_key") == key), None)
            time.sleep(0.002)
        return slack_at, pd_at

    log = open(workdir / "qcluster.log", "w")
    worker = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env={**os.environ}, stdout=log, stderr=subprocess.STDOUT)
    slack_ms: list[float] = []
    pd_ms: list[float] = []
    lost = 0
    try:
        started = time.time()
        incident, _ = open_incident()  # warm-up: the worker imports the project and connects
        if None in arrivals(incident, timeout=180):
            print(f"the worker did not deliver the warm-up incident within 180 s; see {workdir / 'qcluster.log'}", file=sys.stderr)
            return 1
        print(f"worker up and warm after {time.time() - started:.1f} s", file=sys.stderr)
        for _ in range(3):
            arrivals(open_incident()[0], timeout=args.timeout)
        for _ in range(args.incidents):
            incident, t0 = open_incident()
            slack_at, pd_at = arrivals(incident, timeout=args.timeout)
            if slack_at is None or pd_at is None:
                lost += 1
            if slack_at is not None:
                slack_ms.append((slack_at - t0) * 1000)
            if pd_at is not None:
                pd_ms.append((pd_at - t0) * 1000)
            time.sleep(args.gap)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
        Incident.objects.filter(pk__in=[i.pk for i in opened]).delete()
        slack.stop()
        pagerduty.stop()

    workers = os.environ.get("Q_WORKERS", "2")
    print(f"notification latency, incident opened -> arrived at the receiver ({args.incidents} incidents, "
          f"{args.gap:.2f} s apart; django-q2 qcluster, {workers} workers, Redis broker; {connection.vendor})")
    print(f"{'':22}{'median':>9}{'p95':>9}{'max':>9}  (ms)")
    for name, values in (("Slack chat.postMessage", slack_ms), ("PagerDuty trigger", pd_ms)):
        if values:
            print(f"{name:22}{statistics.median(values):9.0f}{percentile(values, 95):9.0f}{max(values):9.0f}")
    print(f"not delivered within {args.timeout:.0f} s: {lost}")
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
