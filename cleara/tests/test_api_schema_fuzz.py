"""Schema-driven fuzzing of the whole API (Schemathesis over /api/v1/openapi.json).

For every operation, Schemathesis generates requests that fit the schema (positive) and requests
that break it (negative); each goes through Django's test client with a token and must get an
answer below 500, JSON whenever it is a 4xx. Bounded: FUZZ_EXAMPLES per operation and mode. The
requests sent per endpoint and the statuses seen are written to
test-artifacts/schemathesis.json and printed (pytest -s or -rA shows them).
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings as hsettings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from django.utils import timezone

from cleara.api import api as ninja_api

pytestmark = pytest.mark.django_db

FUZZ_EXAMPLES = 25
ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "schemathesis.json"
# Training a model takes minutes of CPU per request: its input checks are fuzzed through
# the other ml operations and its own tests (correlation/tests/test_ml_api.py).
SKIP = {("POST", "/api/v1/ml/models/train")}

SCHEMA = schemathesis.openapi.from_dict(ninja_api.get_openapi_schema(path_prefix="/api/v1"))
OPERATIONS = [op.ok() for op in SCHEMA.get_all_operations()]
SEEN: dict[str, Counter] = defaultdict(Counter)


def _ids(op) -> str:
    return f"{op.method.upper()} {op.path}"


# A request the schema describes that was refused anyway (the schema is looser than the
# validator there): endpoint -> [(status, first words of the answer)].
REFUSED_POSITIVE: dict[str, list] = defaultdict(list)
# Where the schema must be exactly as strict as the validator: nothing it describes is refused.
STRICT = {"POST /api/v1/events", "POST /api/v1/integrations/alertmanager"}


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    ARTIFACT.parent.mkdir(exist_ok=True)
    summary = {
        endpoint: {"requests": sum(c.values()), "statuses": dict(sorted(c.items())),
                   "described_but_refused": len(REFUSED_POSITIVE[endpoint]), "examples": REFUSED_POSITIVE[endpoint][:3]}
        for endpoint, c in sorted(SEEN.items())
    }
    ARTIFACT.write_text(json.dumps(summary, indent=2))
    print("\nSchemathesis requests per endpoint (statuses; described by the schema yet refused):")
    for endpoint, row in summary.items():
        print(f"  {endpoint:55} {row['requests']:4}  {row['statuses']}  {row['described_but_refused']}")


def in_window(case, endpoint: str) -> None:
    """What JSON Schema cannot state, made true of a described request: its timestamps lie in the
    ingest window around now (ingest.TimestampWindow)."""
    now = timezone.now().isoformat()
    if endpoint == "POST /api/v1/events":
        items = case.body if isinstance(case.body, list) else [case.body]
        for item in items:
            if isinstance(item, dict) and "timestamp" in item:
                item["timestamp"] = now
    elif endpoint == "POST /api/v1/integrations/alertmanager" and isinstance(case.body, dict):
        for alert in case.body.get("alerts") or []:
            if isinstance(alert, dict):
                alert["startsAt"] = now
                if alert.get("endsAt"):
                    alert["endsAt"] = now


def send(client, token: str, case):
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    for name, value in (case.headers or {}).items():
        if name.lower() not in ("authorization", "content-type", "content-length"):
            kwargs["HTTP_" + name.upper().replace("-", "_")] = str(value)
    path = case.formatted_path
    if case.query:
        from urllib.parse import urlencode

        path += "?" + urlencode({k: v if not isinstance(v, bool | dict) else json.dumps(v) for k, v in case.query.items()}, doseq=True)
    body = b""
    media_type = case.media_type or "application/json"
    if not _unset(case.body):
        if "ndjson" in media_type and isinstance(case.body, list):
            body = "\n".join(json.dumps(item) for item in case.body).encode()
        elif isinstance(case.body, bytes):
            body = case.body
        else:
            body = json.dumps(case.body).encode()
    return client.generic(case.method.upper(), path, body, content_type=media_type, **kwargs)


def _unset(value) -> bool:
    return value is None or type(value).__name__ == "NotSet"


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("operation", [op for op in OPERATIONS if (op.method.upper(), op.path) not in SKIP], ids=_ids)
def test_no_request_the_schema_describes_or_breaks_gets_a_500(operation, mode, api_token, client, settings):
    endpoint = _ids(operation)
    settings.INGEST_MAX_NEW_SERVICES = 10**6  # the per-request cap is not in the schema either

    @hsettings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
               suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case):
        if mode == GenerationMode.POSITIVE:
            in_window(case, endpoint)
        response = send(client, api_token, case)
        SEEN[endpoint][response.status_code] += 1
        assert response.status_code < 500, (case.method, case.formatted_path, case.query, str(case.body)[:300], response.content[:500])
        if mode == GenerationMode.POSITIVE and response.status_code in (400, 422):
            REFUSED_POSITIVE[endpoint].append((response.status_code, response.content[:200].decode(errors="replace")))
            assert endpoint not in STRICT, ("the schema describes a request the validator refuses", str(case.body)[:500], response.content[:500])
        if 400 <= response.status_code < 500:
            assert response["Content-Type"].startswith("application/json"), (response.status_code, response.content[:300])
            assert "detail" in response.json()

    try:
        fuzz()
    except Unsatisfiable:
        assert SEEN[endpoint], "no request could be generated"  # e.g. nothing in the schema to break
