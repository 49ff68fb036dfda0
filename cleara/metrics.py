"""Prometheus metrics of Cleara itself, counted in this process; served at /metrics together with
the shared state that cleara/monitoring.py reads at scrape time.

What is counted here: events stored by type and source, the time to store a batch and to run the
pipeline's stages on it (anomaly detection and correlation), the metric points scored and the
anomalies found, the request latency by view. Prometheus scrapes every web process (each daphne,
each pod) and `sum by (...)` adds them up. Any app may import this module: it imports none.
One registry of our own (not the global default), so imports and tests never register twice.
"""
from __future__ import annotations

import time
from collections.abc import Iterable

from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # CPU seconds and memory of this process (sizing, HPA cross-check)

# Request and batch latencies: from 5 ms to 60 s (an inline-correlated 5,000-event batch).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

EVENTS_INGESTED = Counter("cleara_events_ingested", "Events stored, by event type and source", ["type", "source"], registry=REGISTRY)
INGEST_SECONDS = Histogram("cleara_ingest_store_seconds", "Time to store one validated batch", buckets=LATENCY_BUCKETS, registry=REGISTRY)
CORRELATION_SECONDS = Histogram(
    "cleara_correlation_seconds", "Time to run the pipeline stages (anomaly detection, correlation) on one stored batch",
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
ANOMALY_POINTS = Counter("cleara_anomaly_points_scored", "Metric points scored by the live anomaly detector", registry=REGISTRY)
ANOMALIES = Counter("cleara_anomalies_detected", "Anomalies the live detector found", registry=REGISTRY)
REQUEST_SECONDS = Histogram(
    "cleara_http_request_duration_seconds", "HTTP request latency by view, method and status class",
    ["view", "method", "status"], buckets=LATENCY_BUCKETS, registry=REGISTRY,
)


def events_counted(events: Iterable) -> None:
    """Count stored events (anything with `.type` and `.source`) under their type and source."""
    counts: dict[tuple[str, str], int] = {}
    for event in events:
        key = (event.type, event.source)
        counts[key] = counts.get(key, 0) + 1
    for (kind, source), n in counts.items():
        EVENTS_INGESTED.labels(type=kind, source=source).inc(n)


# --- the request middleware ---------------------------------------------------

def _status_class(status: int) -> str:
    return f"{status // 100}xx"


class RequestMetricsMiddleware:
    """Times every request under its view name (the URL pattern's name, never the raw path)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match._func_path) if match else "unmatched"
        if view != "metrics":
            REQUEST_SECONDS.labels(view=view, method=request.method if request.method in _METHODS else "other",
                                   status=_status_class(response.status_code)).observe(time.perf_counter() - started)
        return response


_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
