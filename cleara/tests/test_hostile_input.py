"""Hostile input is refused with a 4xx JSON naming index, field and reason; never a 500.

Property-based (Hypothesis, bounded examples): valid event batches and Alertmanager payloads with
one hostile value put anywhere; plus the fixed cases of issue 12.
"""
from __future__ import annotations

import json

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from cleara import inputguard
from cleara.tests import strategies

pytestmark = pytest.mark.django_db
FUZZ = hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], derandomize=True)
NOW = timezone.now()


def refusal(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    return response.json()


# --- the pure checks ---------------------------------------------------------------------------

def test_problems_name_the_index_field_and_reason():
    data = [{"message": "ok"}, {"message": "a\x00b", "labels": {"service": "\ud800"}}, {"value": 10**30}]
    assert inputguard.problems(data) == [
        {"index": 1, "field": "labels.service", "reason": "contains a lone UTF-16 surrogate (not valid Unicode)"},
        {"index": 1, "field": "message", "reason": "contains a NUL character (\\u0000)"},
        {"index": 2, "field": "value", "reason": "integer beyond 64 bits (±9223372036854775807)"},
    ]


def test_alertmanager_shaped_documents_name_the_alert_and_its_field():
    errors = inputguard.problems({"alerts": [{}, {"labels": {"service": "x\x00"}}]})
    assert errors == [{"index": 1, "field": "labels.service", "reason": "contains a NUL character (\\u0000)"}]


def test_depth_is_checked_without_recursion():
    errors = inputguard.problems(strategies.deep(5000))
    assert errors[0]["reason"] == "nested deeper than 32 levels"


def test_integer_literals_of_hundreds_of_digits_never_reach_int():
    with pytest.raises(inputguard.Refused) as refused:
        inputguard.check_json(b'[{"value": ' + b"9" * 5000 + b"}]")
    assert refused.value.errors == [{"index": 0, "field": "value", "reason": "integer of 5000 digits: at most 64-bit integers (±9223372036854775807)"}]


def test_not_json_is_left_to_the_view():
    inputguard.check_json(b"{not json")  # no exception: the endpoint answers in its own words


def test_a_clean_body_comes_back_parsed_for_the_view():
    assert inputguard.check_json(b'[{"a": 1}, {"b": "\xc3\xa9"}]') == inputguard.Parsed(lines=False, value=[{"a": 1}, {"b": "\u00e9"}])
    lines = inputguard.check_json(b'{"a": 1}\r\n\n  \n{"b": [2.5, null]}\n', lines=True)
    assert lines == inputguard.Parsed(lines=True, value=[{"a": 1}, {"b": [2.5, None]}])


@pytest.mark.parametrize("body, lines", [
    ('[{"a": 1}]'.encode("utf-16"), False),  # json.loads(bytes) reads UTF-16; the view refuses it
    (b"\xef\xbb\xbf[1]", False),  # a UTF-8 BOM: json.loads(bytes) skips it, json.loads(text) does not
    (b'{"m": "a\xe2\x80\xa8b"}\n', True),  # U+2028 ends a line for str.splitlines, not for bytes
    (b'{"a": 1}\n{oops\n', True),  # one line is not JSON: the view names it
    (b'{"a": 1}\n\xc2\xa0\n', True),  # a line of U+00A0: blank to the view, not to bytes.strip
])
def test_a_body_the_view_would_read_differently_is_not_handed_over(body, lines):
    assert inputguard.check_json(body, lines=lines) is None


@pytest.mark.parametrize("data", [
    [{"m": "ok", "v": 9223372036854775807, "w": -9223372036854775807, "f": 1.5, "b": True, "n": None}],
    [{"m": "a\x00"}], [{"k\x00": 1}], [{"m": "\udfff"}], [{"v": 9223372036854775808}], [{"v": -(2**63)}],
    [{"v": float("inf")}], [{"v": float("nan")}], strategies.deep(40), [[[{"deep": strategies.deep(31)}]]],
    [{"emoji": "\U0001f600 \u00e9"}],
])
def test_the_quick_pass_agrees_with_the_naming_walk(data):
    limits = inputguard.Limits()
    assert inputguard._clean(data, limits.max_depth) == (inputguard._named(data, limits=limits, index_offset=None) == [])


def test_the_view_answers_as_before_for_what_the_guard_does_not_hand_over(api):
    body = refusal(api.post("/api/v1/events", b"\xef\xbb\xbf[]", content_type="application/json"))
    assert "BOM" in body["detail"]
    body = refusal(api.post("/api/v1/events", '{"id": "a", "message": "x\u2028y"}\n'.encode(), content_type="application/x-ndjson"))
    assert body["detail"].startswith("invalid JSON on line 1")


# --- through the API -------------------------------------------------------------------------

@FUZZ
@given(data=st.data())
def test_any_valid_event_batch_is_accepted(api, data):
    batch = data.draw(strategies.event_batches(NOW))
    response = api.post("/api/v1/events", batch)
    assert response.status_code == 202, (response.status_code, response.content[:500])
    body = response.json()
    assert body["accepted"] + body["duplicates"] == len(batch)


@FUZZ
@given(data=st.data())
def test_one_hostile_value_anywhere_in_a_batch_is_named(api, data):
    batch, index, field = strategies.with_hostile_value(data.draw(strategies.event_batches(NOW)), data)
    body = refusal(api.post("/api/v1/events", batch))
    assert any(e["index"] == index and e["field"].split(".")[0] == field for e in body["errors"]), body


@FUZZ
@given(data=st.data())
def test_one_hostile_value_in_an_alertmanager_alert_is_named(api, data):
    payload = data.draw(strategies.alertmanager_payloads(NOW))
    alerts, index, field = strategies.with_hostile_value(payload["alerts"], data)
    body = refusal(api.post("/api/v1/integrations/alertmanager", {**payload, "alerts": alerts}))
    assert any(e["index"] == index and e["field"].split(".")[0] == field for e in body["errors"]), body


@pytest.mark.parametrize("raw, reason", [
    ('[{"id": "a", "message": "\\u0000"}]', "NUL"),
    ('[{"id": "a", "message": "\\ud800"}]', "surrogate"),
    ('[{"id": "a", "value": ' + "1" * 300 + "}]", "300 digits"),
    ("[" * 2000 + "]" * 2000, "nested deeper"),
    ('[{"id": "a", "value": 1e999}]', "not finite"),
    ('[{"id": "a", "value": NaN}]', "NaN is not a JSON number"),
])
def test_the_fixed_cases_of_the_issue_on_ingest(api, raw, reason):
    body = refusal(api.post("/api/v1/events", raw))
    assert reason in json.dumps(body["errors"], ensure_ascii=False)


def test_json_lines_name_the_line(api):
    raw = '{"id": "a", "message": "ok"}\n{"id": "b", "message": "\\u0000"}\n'
    body = refusal(api.post("/api/v1/events", raw, content_type="application/x-ndjson"))
    assert body["errors"] == [{"index": 1, "field": "message", "reason": "contains a NUL character (\\u0000)"}]


def test_a_huge_integer_to_ml_score_is_refused(api):
    refusal(api.post("/api/v1/ml/score", '{"service": "checkout", "metric": "cpu", "values": [1, ' + "9" * 400 + "]}"))


@pytest.mark.parametrize("param", ["q", "service", "status", "since"])
def test_nul_in_a_query_parameter_is_a_400_json(api, param):
    response = api.client.get(f"/api/v1/incidents?{param}=%00", **api.auth)
    body = refusal(response)
    assert body["errors"] == [{"index": None, "field": param, "reason": "contains a NUL character (\\u0000)"}]


def test_nul_in_a_console_query_parameter_is_a_400(alice):
    response = alice.get("/?q=%00")
    assert response.status_code == 400 and b"NUL" in response.content


def test_a_body_over_the_limit_is_a_413_json_before_it_is_read(api, settings):
    body = refusal(api.post("/api/v1/events", b"[" + b" " * (12 * 1024 * 1024) + b"]"), 413)
    assert f"the limit is {settings.INGEST_MAX_BYTES}" in body["detail"]
    refusal(api.post("/api/v1/integrations/alertmanager", b"{" + b" " * (12 * 1024 * 1024) + b"}"), 413)


def _write_operations() -> list[tuple[str, str]]:
    import re

    from cleara.api import api as ninja_api

    schema = ninja_api.get_openapi_schema(path_prefix="/api/v1")
    return sorted(
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, item in schema["paths"].items() for method in item if method in ("post", "put", "patch", "delete")
    )


def test_every_write_endpoint_is_in_the_list():
    assert len(_write_operations()) >= 8  # events, alertmanager, pagerduty, services, ml ...


@pytest.mark.parametrize("method, path", _write_operations())
@pytest.mark.parametrize("content_type", ["application/json", "application/octet-stream", "application/x-www-form-urlencoded", "text/plain"])
def test_a_12_mib_body_is_the_documented_413_json_on_every_api_endpoint(api, method, path, content_type):
    body = b"a" * (12 * 1024 * 1024)
    response = api.client.generic(method, path, body, content_type=content_type, **api.auth)
    refused = refusal(response, 413)
    assert refused["detail"].startswith("body is 12582912 bytes; the limit is")
