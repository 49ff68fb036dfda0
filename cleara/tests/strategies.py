"""Hypothesis strategies: valid events and Alertmanager payloads, and the hostile values that
get mixed into them (NUL, lone surrogates, huge integers, deep nesting, non-finite numbers,
wrong types, overlong strings). Timestamps are drawn around `now`, passed in by the test."""
from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import strategies as st

SERVICES = ["checkout", "payments", "payments-db", "cart", "api-gateway"]
TYPES = ["alert", "log", "metric"]
SEVERITIES = ["critical", "warning", "info"]

# Text a person or an exporter could send: any Unicode that is valid (no surrogates, no NUL).
clean_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=80)
service_name = st.one_of(st.sampled_from(SERVICES), st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True))


def timestamps(now: datetime, *, within: timedelta = timedelta(hours=6)):
    return st.integers(min_value=-int(within.total_seconds()), max_value=60).map(
        lambda s: (now + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")
    )


def events(now: datetime):
    """One valid event (the ingest schema of README: id, timestamp, service, type, severity...)."""
    base = st.fixed_dictionaries(
        {
            "id": st.uuids().map(str),
            "timestamp": timestamps(now),
            "service": service_name,
            "type": st.sampled_from(TYPES),
            "severity": st.sampled_from(SEVERITIES),
            "message": clean_text,
        },
        optional={
            "attributes": st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), st.one_of(clean_text, st.integers(-(2**63), 2**63 - 1), st.booleans()), max_size=4),
            "host": st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
        },
    )

    def metric(event: dict) -> st.SearchStrategy:
        if event["type"] != "metric":
            return st.just(event)
        return st.fixed_dictionaries({"metric": st.sampled_from(["latency_p99_ms", "cpu", "errors"]), "value": st.floats(-1e9, 1e9, allow_nan=False)}).map(lambda m: {**event, **m})

    return base.flatmap(metric)


def event_batches(now: datetime, *, max_size: int = 8):
    return st.lists(events(now), min_size=1, max_size=max_size)


def alertmanager_payloads(now: datetime, *, max_alerts: int = 5):
    alert = st.fixed_dictionaries(
        {
            "status": st.just("firing"),
            "labels": st.fixed_dictionaries({"alertname": st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,20}", fullmatch=True), "service": st.sampled_from(SERVICES), "severity": st.sampled_from(SEVERITIES)}),
            "annotations": st.fixed_dictionaries({"summary": clean_text}),
            "startsAt": timestamps(now),
            "endsAt": st.just("0001-01-01T00:00:00Z"),
            "fingerprint": st.from_regex(r"[0-9a-f]{16}", fullmatch=True),
        }
    )
    return st.fixed_dictionaries(
        {
            "version": st.just("4"),
            "groupKey": st.just('{}:{alertname="x"}'),
            "truncatedAlerts": st.just(0),
            "status": st.just("firing"),
            "receiver": st.just("cleara"),
            "groupLabels": st.just({}),
            "commonLabels": st.just({}),
            "commonAnnotations": st.just({}),
            "externalURL": st.just("http://alertmanager.local:9093"),
            "alerts": st.lists(alert, min_size=1, max_size=max_alerts),
        }
    )


def deep(depth: int):
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return value


# Values no validator should ever let through to Python's encoders or the database.
hostile_values = st.one_of(
    st.text(min_size=0, max_size=10).map(lambda s: s + "\x00"),
    st.sampled_from(["\ud800", "a\udfffb", "\udbff"]),
    st.integers(min_value=2**64, max_value=10**300),
    st.integers(max_value=-(2**64), min_value=-(10**300)),
    st.integers(min_value=40, max_value=400).map(deep),
)


def with_hostile_value(batch: list[dict], data) -> tuple[list[dict], int, str]:
    """The batch with one field of one event replaced by a hostile value: (batch, index, field)."""
    index = data.draw(st.integers(0, len(batch) - 1), label="index")
    field = data.draw(st.sampled_from(sorted(batch[index])), label="field")
    value = data.draw(hostile_values, label="value")
    changed = [dict(e) for e in batch]
    changed[index][field] = value
    return changed, index, field
