"""/metrics: the counters of cleara/metrics.py plus the shared state, read when Prometheus scrapes.

Read here (so the figure is the same whichever process answers, and the worker needs no endpoint):
open incidents by severity, notification deliveries and failures by provider, queue depth and the
age of the oldest queued task, the ingest queue's lag per kind of partition, task failures by function, model versions and training durations,
the last event received and the last task a worker finished. Each read is one indexed query; a
failing read is skipped and counted in `cleara_metrics_collect_errors`, never a failed scrape.
Kept apart from cleara/metrics.py (which any app imports to count) because it reads every app's
models.

Access: `/metrics` answers a caller that sends `Authorization: Bearer $METRICS_TOKEN` (when the
token is set), or one whose address is in METRICS_ALLOWED_NETWORKS (default: loopback only), and
404 to anyone else. The proxy in front (deploy/nginx) does not route /metrics at all.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4  # what every Prometheus 2.x parses

from cleara.metrics import REGISTRY

log = logging.getLogger(__name__)


def _open_incidents() -> Iterable:
    from django.db.models import Count

    from incidents.models import Incident, Severity

    gauge = GaugeMetricFamily("cleara_open_incidents", "Incidents open or under investigation, by severity", labels=["severity"])
    counts = dict(
        Incident.objects.filter(status__in=Incident.OPEN_STATUSES).values_list("severity").annotate(n=Count("pk")).values_list("severity", "n")
    )
    for severity in Severity.values:
        gauge.add_metric([severity], counts.get(severity, 0))
    yield gauge


def _notifications() -> Iterable:
    from django.db.models import Count

    from integrations.models import OutboxMessage

    rows = OutboxMessage.objects.values_list("provider", "status").annotate(n=Count("pk")).values_list("provider", "status", "n")
    counts = {(p, s): n for p, s, n in rows}
    delivered = CounterMetricFamily("cleara_notifications_delivered", "Notifications delivered, by provider", labels=["provider"])
    failed = CounterMetricFamily("cleara_notifications_failed", "Notifications refused for good (not retried), by provider", labels=["provider"])
    pending = GaugeMetricFamily("cleara_notifications_pending", "Notifications waiting for delivery or a retry, by provider", labels=["provider"])
    for provider in OutboxMessage.Provider.values:
        delivered.add_metric([provider], counts.get((provider, OutboxMessage.Status.DELIVERED), 0))
        failed.add_metric([provider], counts.get((provider, OutboxMessage.Status.FAILED), 0))
        pending.add_metric([provider], counts.get((provider, OutboxMessage.Status.PENDING), 0))
    retrying = GaugeMetricFamily(
        "cleara_notifications_retrying", "Pending notifications whose last attempt failed, by provider", labels=["provider"]
    )
    rows = (OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, attempts__gt=0)
            .values_list("provider").annotate(n=Count("pk")).values_list("provider", "n"))
    retry_counts = dict(rows)
    for provider in OutboxMessage.Provider.values:
        retrying.add_metric([provider], retry_counts.get(provider, 0))
    yield from (delivered, failed, pending, retrying)


def queue_state(broker=None) -> tuple[int, float]:
    """(tasks waiting in the django-q2 queue, age in seconds of the oldest one; 0 when empty)."""
    from django.utils import timezone
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker = broker or get_broker()
    depth = broker.queue_size() or 0
    if not depth:
        return 0, 0.0
    oldest = None
    if hasattr(broker.connection, "lindex"):  # Redis: a list, oldest first (rpush / blpop)
        raw = broker.connection.lindex(broker.list_key, 0)
        if raw is not None:
            oldest = SignedPackage.loads(raw)
    else:  # the ORM broker: the OrmQ table, oldest first by id
        row = broker.get_connection().filter(key=broker.list_key, lock__lte=timezone.now()).order_by("id").first()
        oldest = row.task if row else None
    started = oldest.get("started") if isinstance(oldest, dict) else None
    lag = (timezone.now() - started).total_seconds() if started else 0.0
    return depth, max(0.0, lag)


def _queue() -> Iterable:
    depth, lag = queue_state()
    yield GaugeMetricFamily("cleara_queue_depth", "Tasks waiting in the django-q2 queue", value=depth)
    yield GaugeMetricFamily("cleara_queue_lag_seconds", "Age of the oldest task waiting in the queue (0 when empty)", value=lag)


def _ingest_queue() -> Iterable:
    from incidents.queue import queue_lag

    messages = GaugeMetricFamily("cleara_ingest_queue_messages", "Ingest messages waiting for a worker, by kind of partition", labels=["kind"])
    events = GaugeMetricFamily("cleara_ingest_queue_events", "Events waiting for an ingest worker, by kind of partition", labels=["kind"])
    lag = GaugeMetricFamily("cleara_ingest_queue_lag_seconds", "Age of the oldest ingest message waiting for a worker (0 when none), by kind",
                            labels=["kind"])
    for row in queue_lag():
        messages.add_metric([row.kind], row.messages)
        events.add_metric([row.kind], row.events)
        lag.add_metric([row.kind], row.oldest_seconds)
    yield from (messages, events, lag)


def _tasks() -> Iterable:
    from django.db.models import Count, Max, Q
    from django_q.models import Task

    # Every function the workers ran (kept results), with its failures: 0 is a figure too.
    failures = CounterMetricFamily("cleara_task_failures", "Worker tasks that failed (kept by django-q2), by function", labels=["func"])
    for func, n in Task.objects.order_by().values_list("func").annotate(n=Count("pk", filter=Q(success=False))).values_list("func", "n"):
        failures.add_metric([func], n)
    yield failures
    last = Task.objects.aggregate(t=Max("stopped"))["t"]
    yield GaugeMetricFamily(
        "cleara_worker_last_task_timestamp_seconds", "When a worker last finished a task (Unix time; 0 = never)",
        value=last.timestamp() if last else 0.0,
    )


def _models() -> Iterable:
    from correlation.models import ModelVersion

    versions = GaugeMetricFamily("cleara_model_versions", "Model versions in the registry, by kind", labels=["kind"])
    active = GaugeMetricFamily("cleara_model_active_version", "Version number of the active model, by kind", labels=["kind"])
    training = GaugeMetricFamily(
        "cleara_model_training_seconds", "Replay time of the newest trained version, by kind", labels=["kind", "version"]
    )
    seen: dict[str, int] = {}
    for kind, version, is_active, metrics in ModelVersion.objects.order_by("kind", "-version").values_list(
        "kind", "version", "active", "metrics"
    ):
        if kind not in seen:
            points, per_second = (metrics or {}).get("points"), (metrics or {}).get("points_per_second")
            training.add_metric([kind, str(version)], points / per_second if points and per_second else 0.0)
        seen[kind] = seen.get(kind, 0) + 1
        if is_active:
            active.add_metric([kind], version)
    for kind, n in seen.items():
        versions.add_metric([kind], n)
    yield from (versions, active, training)


def _last_event() -> Iterable:
    from incidents.models import Event

    # The newest row by primary key (an index), not MAX(received_at) (a scan of every event).
    received = Event.objects.order_by("-pk").values_list("received_at", flat=True).first()
    yield GaugeMetricFamily(
        "cleara_last_event_received_timestamp_seconds", "When the newest stored event was received (Unix time; 0 = none)",
        value=received.timestamp() if received else 0.0,
    )


class StateCollector:
    """Reads the shared state at scrape time (see the module docstring)."""

    parts: tuple[Callable[[], Iterable], ...] = (_open_incidents, _notifications, _queue, _ingest_queue, _tasks, _models, _last_event)

    def describe(self):
        return []  # unknown until collected: keeps registration free of database reads

    def collect(self):
        errors = 0
        started = time.perf_counter()
        for part in self.parts:
            try:
                yield from list(part())
            except Exception:  # one unreadable source must not fail the whole scrape
                errors += 1
                log.exception("metrics: reading %s failed", part.__name__.strip("_"))
        yield GaugeMetricFamily("cleara_metrics_collect_errors", "Sources that could not be read during this scrape", value=errors)
        yield GaugeMetricFamily("cleara_metrics_collect_seconds", "Time spent reading the shared state for this scrape",
                                value=time.perf_counter() - started)


REGISTRY.register(StateCollector())



def _caller_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        if sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].strip().encode(), token.encode()):
            return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _caller_allowed(request):
        raise Http404  # not 401/403: do not advertise the endpoint
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_PLAIN_0_0_4)


