"""The pure parts: Slack Block Kit messages and PagerDuty Events v2 payloads, without HTTP."""
from __future__ import annotations

from integrations.facts import IncidentFacts
from integrations.pagerduty import events
from integrations.slack import blocks
from integrations.tests.receivers import block_kit_errors


def facts(**overrides) -> IncidentFacts:
    base = dict(
        number=42, title="DB latency", status="open", status_label="Open", severity="critical",
        url="https://cleara.example.com/incidents/42/", root_cause="postgres", confidence=0.874,
        alternatives=[("pgbouncer", 0.41), ("checkout", 0.12)], services=["checkout", "postgres"],
        summary="p99 latency of checkout rose after postgres replication lag", reasons=["errors began on postgres"],
        evidence=["2026-11-27 08:00:00 postgres alert: replication lag 30s"], started_at="2026-11-27T08:00:00+00:00",
    )
    base.update(overrides)
    return IncidentFacts(**base)


def test_the_incident_message_says_what_matters():
    message = blocks.incident_message(facts())
    assert message["text"] == "[CRITICAL] #42 DB latency — Open"
    rendered = str(message["blocks"])
    for expected in ("#42 DB latency", "Critical", "*Status*\\n:rotating_light: Open", "postgres (87% confidence)",
                     "checkout, postgres", "<https://cleara.example.com/incidents/42/|Open incident #42 in Cleara>", "pgbouncer (41%)"):
        assert expected in rendered, expected
    [actions] = [b for b in message["blocks"] if b["type"] == "actions"]
    assert actions["block_id"] == "incident_actions"
    assert [(e["action_id"], e["text"]["text"], e["value"]) for e in actions["elements"]] == [
        ("incident_acknowledge", "Acknowledge", "INC-42"), ("incident_investigate", "Investigate", "INC-42"),
        ("incident_resolve", "Resolve", "INC-42"), ("incident_open", "Open in Cleara", "INC-42"),
    ]
    assert block_kit_errors(message["blocks"]) == []


def test_a_closed_incident_keeps_only_the_link():
    message = blocks.incident_message(facts(status="resolved", status_label="Resolved"))
    assert message["blocks"][0]["text"]["text"] == "#42 DB latency (Resolved)"
    [actions] = [b for b in message["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["incident_open"]


def test_limits_hold_for_huge_inputs_and_text_is_escaped():
    message = blocks.incident_message(facts(
        title="T" * 500, summary="<!channel> & " + "s" * 5000, root_cause="<@U123>",
        services=[f"service-{i}" for i in range(400)], alternatives=[("x" * 3000, 0.5)] * 10,
    ))
    assert block_kit_errors(message["blocks"]) == []
    assert len(message["blocks"][0]["text"]["text"]) == 150
    rendered = str(message["blocks"])
    assert "<!channel>" not in rendered and "&lt;!channel&gt; &amp;" in rendered and "&lt;@U123&gt;" in rendered
    listing = blocks.incident_list_message([facts(number=n, title="t" * 4000) for n in range(80)], more=5)
    assert len(listing["blocks"]) <= 50 and block_kit_errors(listing["blocks"]) == []
    assert listing["text"] == "85 open incidents"


def test_the_receiver_refuses_what_slack_refuses():
    too_many = [{"type": "divider"}] * 51
    long_button = [{"type": "actions", "elements": [{"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "b" * 76}, "value": "v"}]}]
    long_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    long_action_id = [{"type": "actions", "elements": [{"type": "button", "action_id": "a" * 256, "text": {"type": "plain_text", "text": "b"}, "value": "v" * 2001}]}]
    assert block_kit_errors(too_many) and block_kit_errors(long_button) and block_kit_errors(long_section)
    assert len(block_kit_errors(long_action_id)) == 2


def test_references_and_lines():
    assert blocks.incident_ref(42) == "INC-42"
    assert [blocks.incident_ref_parse(v) for v in ("INC-42", "inc-7", "#9", "12", "x", "")] == [42, 7, 9, 12, None, None]
    assert blocks.root_cause_line(previous="pgbouncer", current="postgres", confidence=0.8) == (
        ":bulb: Root-cause hypothesis changed: pgbouncer → *postgres* (80% confidence)"
    )
    assert blocks.status_line(previous="open", current="investigating", who="pat", where="Slack") == (
        ":mag: Status: open → *investigating* by pat (Slack)"
    )


def test_trigger_event():
    event = events.trigger_event(facts())
    body = event.to_json()
    assert body["event_action"] == "trigger" and body["dedup_key"] == "cleara-INC-42"
    assert body["payload"]["summary"] == "#42 DB latency (root cause: postgres, 87%)"
    assert (body["payload"]["source"], body["payload"]["severity"]) == ("postgres", "critical")
    details = body["payload"]["custom_details"]
    assert details["root_cause"] == "postgres" and details["confidence"] == 0.874
    assert details["affected_services"] == ["checkout", "postgres"] and details["console_url"] == "https://cleara.example.com/incidents/42/"
    assert body["links"] == [{"href": "https://cleara.example.com/incidents/42/", "text": "Cleara incident #42"}]
    assert body["client_url"] == "https://cleara.example.com/incidents/42/"
    assert "routing_key" not in body  # the client adds it
    long = events.trigger_event(facts(title="x" * 2000, root_cause=None, services=[], severity="info")).to_json()["payload"]
    assert len(long["summary"]) == 1024 and long["source"] == "cleara" and long["severity"] == "info" and "component" not in long


def test_the_dedup_key_is_stable_and_reversible():
    assert events.dedup_key_for(42) == events.trigger_event(facts()).dedup_key == events.acknowledge_event(42).dedup_key == events.resolve_event(42).dedup_key
    assert events.number_from_dedup_key("cleara-INC-42") == 42
    assert events.number_from_dedup_key("something-else") is None and events.number_from_dedup_key(None) is None
    assert events.acknowledge_event(42).to_json() == {"event_action": "acknowledge", "dedup_key": "cleara-INC-42"}


def test_threshold_and_status_mapping():
    assert events.severity_meets("critical", "critical") and not events.severity_meets("warning", "critical")
    assert events.severity_meets("warning", "warning") and events.severity_meets("critical", "info")
    assert [events.action_for_status(s) for s in ("open", "investigating", "resolved", "false_positive")] == ["trigger", "acknowledge", "resolve", "resolve"]


def test_root_cause_note():
    note = events.rca_note(facts(), previous="pgbouncer")
    assert note.splitlines()[0] == "Root-cause hypothesis changed: pgbouncer → postgres (87% confidence)"
    assert "Why: errors began on postgres" in note and "- 2026-11-27 08:00:00 postgres alert: replication lag 30s" in note
    assert events.rca_note(facts()).startswith("Probable root cause: postgres (87% confidence)")
    sent = events.text_note(note, key="abc123")
    assert events.is_cleara_note(sent) and not events.is_cleara_note(note)


def test_the_notification_text_is_escaped_like_the_blocks():
    hostile = "<!channel> disk & <https://evil.example|your bank> > 90% <@U123>"
    message = blocks.incident_message(facts(title=hostile))
    assert message["text"] == "[CRITICAL] #42 &lt;!channel&gt; disk &amp; &lt;https://evil.example|your bank&gt; &gt; 90% &lt;@U123&gt; — Open"
    for text in (message["text"], blocks.incident_list_message([facts(title=hostile)])["blocks"][1]["text"]["text"]):
        assert "<!channel>" not in text and "<https://evil" not in text and "<@U123>" not in text
        assert "&amp;" in text and "&gt;" in text
