"""PagerDuty webhooks v3 in: the signature (shared vectors, rotation), and each status synced back
to Cleara with origin "pagerduty" and without being sent back to PagerDuty."""
from __future__ import annotations

import json

import pytest
from django.test import Client

from incidents.models import Incident, Note, TimelineEvent
from integrations.models import InboundPayload, PagerDutyIncident
from integrations.pagerduty import webhooks
from integrations.tests.conftest import CHANNEL, PD_SECRETS

pytestmark = pytest.mark.django_db

URL = "/api/v1/integrations/pagerduty/webhook"

# ../shared/vectors/pagerduty_webhook_body.json (from PagerDuty's Go client tests)
GO_SECRET = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK"
GO_SIGNATURE = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd"
GO_WRONG_SIGNATURE = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5"
GO_BODY = (
    b'{"event":{"id":"01BWDWL3NYY7LUFPZCC28QUCMK","event_type":"incident.priority_updated","resource_type":"incident",'
    b'"occurred_at":"2021-04-26T17:36:27.458Z","agent":{"html_url":"https://acme.pagerduty.com/users/PLH1HKV","id":"PLH1HKV",'
    b'"self":"https://api.pagerduty.com/users/PLH1HKV","summary":"Tenex Engineer","type":"user_reference"},"client":null,'
    b'"data":{"id":"PGR0VU2","type":"incident","self":"https://api.pagerduty.com/incidents/PGR0VU2","html_url":'
    b'"https://acme.pagerduty.com/incidents/PGR0VU2","number":2,"status":"triggered","title":"A little bump in the road",'
    b'"service":{"html_url":"https://acme.pagerduty.com/services/PF9KMXH","id":"PF9KMXH","self":'
    b'"https://api.pagerduty.com/services/PF9KMXH","summary":"API Service","type":"service_reference"},"assignees":'
    b'[{"html_url":"https://acme.pagerduty.com/users/PTUXL6G","id":"PTUXL6G","self":"https://api.pagerduty.com/users/PTUXL6G",'
    b'"summary":"User 123","type":"user_reference"}],"escalation_policy":{"html_url":'
    b'"https://acme.pagerduty.com/escalation_policies/PUS0KTE","id":"PUS0KTE","self":'
    b'"https://api.pagerduty.com/escalation_policies/PUS0KTE","summary":"Default","type":"escalation_policy_reference"},'
    b'"teams":[{"html_url":"https://acme.pagerduty.com/teams/PFCVPS0","id":"PFCVPS0","self":"https://api.pagerduty.com/teams/PFCVPS0",'
    b'"summary":"Engineering","type":"team_reference"}],"priority":{"html_url":"https://acme.pagerduty.com/account/incident_priorities",'
    b'"id":"PSO75BM","self":"https://api.pagerduty.com/priorities/PSO75BM","summary":"P1","type":"priority_reference"},'
    b'"urgency":"high","conference_bridge":{"conference_number":1000,"conference_url":"https://example.com"},"resolve_reason":null}}}'
)
# ../shared/vectors/pagerduty_webhook_rotation_body.json: signed with two secrets during a rotation
ROTATION_BODY = (
    b'{"event":{"id":"01CLEARAFAKE0000000000000A","event_type":"incident.resolved","resource_type":"incident",'
    b'"occurred_at":"2026-01-02T03:04:05.000Z","agent":null,"client":null,"data":{"id":"PABC123","type":"incident",'
    b'"status":"resolved","incident_key":"cleara-INC-42","title":"INC-42: DB latency"}}}'
)
ROTATION_HEADER = (
    "v1=321407ab7ccd160d0c39a6956d9771da8bbbef7426a9499c2023a9a1004a6eb3,"
    "v1=43f91190cbaa58dd73bf2ccb7a4d02bbe7026bceab996c04707e08856a35539b"
)


def deliver(body: bytes, signature: str | None, capture):
    headers = {"HTTP_X_PAGERDUTY_SIGNATURE": signature} if signature is not None else {}
    with capture(execute=True):
        return Client(enforce_csrf_checks=True).post(URL, body, content_type="application/json", **headers)


# --- the signature ------------------------------------------------------------------------------


def test_go_client_vector():
    assert len(GO_BODY) == 1655
    assert webhooks.signature_valid(body=GO_BODY, header=GO_SIGNATURE, secrets=[GO_SECRET])
    assert not webhooks.signature_valid(body=GO_BODY, header=GO_WRONG_SIGNATURE, secrets=[GO_SECRET])
    assert webhooks.signature_for(body=GO_BODY, secret=GO_SECRET) == GO_SIGNATURE


def test_rotation_vector_verifies_with_either_secret_alone():
    for secret in PD_SECRETS:
        assert webhooks.signature_valid(body=ROTATION_BODY, header=ROTATION_HEADER, secrets=[secret])
    assert webhooks.signature_valid(body=ROTATION_BODY, header=ROTATION_HEADER, secrets=["whsec-unrelated", PD_SECRETS[1]])
    assert not webhooks.signature_valid(body=ROTATION_BODY, header=ROTATION_HEADER, secrets=["whsec-unrelated"])
    assert not webhooks.signature_valid(body=ROTATION_BODY + b" ", header=ROTATION_HEADER, secrets=PD_SECRETS)
    assert not webhooks.signature_valid(body=ROTATION_BODY, header="", secrets=PD_SECRETS)
    assert not webhooks.signature_valid(body=ROTATION_BODY, header=ROTATION_HEADER, secrets=[])


# --- the endpoint -------------------------------------------------------------------------------


def test_the_go_vector_is_accepted_and_stored(settings, django_capture_on_commit_callbacks):
    settings.PAGERDUTY_WEBHOOK_SECRET = [GO_SECRET]
    response = deliver(GO_BODY, GO_SIGNATURE, django_capture_on_commit_callbacks)
    assert response.status_code == 202
    payload = InboundPayload.objects.get(source="pagerduty")
    assert payload.body["event"]["event_type"] == "incident.priority_updated"
    assert payload.status == InboundPayload.Status.PROCESSED  # nothing to do: no such Cleara incident
    assert deliver(GO_BODY, GO_WRONG_SIGNATURE, django_capture_on_commit_callbacks).status_code == 401


@pytest.mark.parametrize("configured", [[PD_SECRETS[0]], [PD_SECRETS[1]], PD_SECRETS])
def test_the_rotation_vector_resolves_incident_42_with_either_secret(settings, make_incident, django_capture_on_commit_callbacks, configured):
    settings.PAGERDUTY_WEBHOOK_SECRET = configured
    incident = make_incident(number=42, title="DB latency")
    assert deliver(ROTATION_BODY, ROTATION_HEADER, django_capture_on_commit_callbacks).status_code == 202
    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED
    entry = incident.timeline.get(kind=TimelineEvent.Kind.STATUS)
    assert (entry.origin, entry.actor, entry.message) == ("pagerduty", None, "resolved in PagerDuty")
    from access.models import AuditEntry

    [audited] = AuditEntry.objects.all()
    assert (audited.actor, audited.actor_label.startswith("pagerduty:"), audited.via, audited.action, audited.target, audited.allowed) == (
        None, True, "webhook", "pagerduty:incident.resolved", "incident 42", True)


@pytest.mark.parametrize("signature, secrets", [
    ("v1=" + "0" * 64, PD_SECRETS),   # wrong
    ("", PD_SECRETS),                  # empty
    (None, PD_SECRETS),                # missing
    (ROTATION_HEADER, ["whsec-other"]),  # signed with secrets we do not hold
    (ROTATION_HEADER, []),             # no secret configured: nothing can be verified
])
def test_unverified_webhooks_are_refused(settings, make_incident, django_capture_on_commit_callbacks, signature, secrets):
    settings.PAGERDUTY_WEBHOOK_SECRET = secrets
    incident = make_incident(number=42)
    response = deliver(ROTATION_BODY, signature, django_capture_on_commit_callbacks)
    assert response.status_code == 401 and "signature" in response.json()["detail"]
    incident.refresh_from_db()
    assert incident.status == Incident.Status.OPEN and not InboundPayload.objects.exists()


def test_a_signed_body_that_is_not_a_webhook_is_a_400(settings, django_capture_on_commit_callbacks):
    settings.PAGERDUTY_WEBHOOK_SECRET = PD_SECRETS
    for body in (b"not json", b'{"messages": []}', b'{"event": {"event_type": "incident.resolved", "data": {}}}'):
        response = deliver(body, webhooks.signature_for(body=body, secret=PD_SECRETS[0]), django_capture_on_commit_callbacks)
        assert response.status_code == 400, body
        assert response.json()["detail"].startswith("not a PagerDuty v3 webhook")
    assert not InboundPayload.objects.exists()


# --- each status, from a PagerDuty that Cleara paged -----------------------------------------------


@pytest.fixture
def paged(slack, pagerduty, open_incident):
    """An incident Cleara opened: posted to Slack, triggered in PagerDuty."""
    incident = open_incident(title="Checkout latency")
    pd_incident = pagerduty.incident_for(f"cleara-INC-{incident.number}")
    assert pd_incident["status"] == "triggered"
    return incident, pd_incident["id"]


def act(pagerduty, pd_id, event_type, capture, **kwargs):
    body, headers = pagerduty.act(pd_id, event_type, secrets_=PD_SECRETS, **kwargs)
    response = deliver(body, headers["X-PagerDuty-Signature"], capture)
    assert response.status_code == 202
    return response


@pytest.mark.parametrize("steps, expected", [
    (["incident.acknowledged"], "investigating"),
    (["incident.resolved"], "resolved"),
    (["incident.acknowledged", "incident.unacknowledged"], "open"),
    (["incident.resolved", "incident.reopened"], "open"),
    (["incident.acknowledged", "incident.resolved", "incident.reopened", "incident.acknowledged"], "investigating"),
])
def test_each_status_comes_back_to_cleara(slack, pagerduty, paged, django_capture_on_commit_callbacks, steps, expected):
    incident, pd_id = paged
    events_before = len(pagerduty.events())
    for step in steps:
        act(pagerduty, pd_id, step, django_capture_on_commit_callbacks, agent="Pat Oncall")
    incident.refresh_from_db()
    assert incident.status == expected
    entries = list(incident.timeline.filter(kind=TimelineEvent.Kind.STATUS).values_list("origin", "message"))
    assert entries == [("pagerduty", f"{s.split('.')[1]} in PagerDuty by Pat Oncall") for s in steps]
    # Not sent back to PagerDuty (no loop) …
    assert len(pagerduty.events()) == events_before
    # … but shown in Slack: the message says the status, its thread says who did it, and where.
    message = slack.message(CHANNEL, incident.slack_messages.get().ts)
    assert incident.get_status_display() in str(message["blocks"])
    thread = [m["text"] for m in slack.thread(CHANNEL, message["ts"])]
    assert thread[-1].endswith("(PagerDuty)")


def test_annotated_becomes_a_note_once(slack, pagerduty, paged, django_capture_on_commit_callbacks):
    incident, pd_id = paged
    body, headers = pagerduty.act(pd_id, "incident.annotated", secrets_=PD_SECRETS, agent="Pat Oncall", note="Failing over the primary DB")
    # PagerDuty may deliver a webhook more than once: the second is answered as a duplicate.
    assert [deliver(body, headers["X-PagerDuty-Signature"], django_capture_on_commit_callbacks).status_code for _ in range(2)] == [202, 200]
    note = Note.objects.get(incident=incident)
    assert (note.body, note.author_name, note.origin) == ("Failing over the primary DB", "Pat Oncall", "pagerduty")
    assert note.external_id.startswith("pagerduty:PNOTE")
    # The note is not sent back to PagerDuty as a new note (only Cleara's root-cause note is there).
    contents = [n["content"] for n in pagerduty.notes[pd_id]]
    assert len([c for c in contents if "sent by Cleara" in c]) == 1
    thread = [m["text"] for m in slack.thread(CHANNEL, incident.slack_messages.get().ts)]
    assert thread == [":memo: Note from Pat Oncall (PagerDuty):\nFailing over the primary DB"]


def test_the_echo_of_a_cleara_note_is_not_a_new_note(slack, pagerduty, paged, django_capture_on_commit_callbacks):
    incident, pd_id = paged
    ours = pagerduty.notes[pd_id][0]["content"]
    act(pagerduty, pd_id, "incident.annotated", django_capture_on_commit_callbacks, note=ours)
    assert not Note.objects.filter(incident=incident).exists()


def test_an_annotation_is_matched_by_the_pagerduty_id(slack, pagerduty, paged, django_capture_on_commit_callbacks):
    """incident.annotated carries only PagerDuty's incident id: known from the note's delivery, or
    asked of the REST API."""
    incident, pd_id = paged
    assert PagerDutyIncident.objects.get(incident=incident).pd_incident_id == pd_id
    PagerDutyIncident.objects.filter(incident=incident).update(pd_incident_id="")
    act(pagerduty, pd_id, "incident.annotated", django_capture_on_commit_callbacks, note="Rolled back deploy 4711")
    assert Note.objects.get(incident=incident).body == "Rolled back deploy 4711"
    assert pagerduty.calls_to(f"/incidents/{pd_id}")[-1].method == "GET"


def test_a_webhook_echo_of_cleara_s_own_change_changes_nothing(slack, pagerduty, paged, django_capture_on_commit_callbacks):
    from django.db import transaction

    from incidents.services import incident_set_status

    incident, pd_id = paged
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            incident_set_status(incident=incident, status=Incident.Status.INVESTIGATING)
    assert pagerduty.incidents[pd_id]["status"] == "acknowledged"
    events_before, entries_before = len(pagerduty.events()), incident.timeline.count()
    body = json.dumps({"event": {"id": "01ECHO", "event_type": "incident.acknowledged", "resource_type": "incident", "agent": None,
                                 "data": {"id": pd_id, "type": "incident", "status": "acknowledged", "incident_key": f"cleara-INC-{incident.number}"}}}).encode()
    deliver(body, webhooks.signature_for(body=body, secret=PD_SECRETS[1]), django_capture_on_commit_callbacks)
    assert incident.timeline.count() == entries_before and len(pagerduty.events()) == events_before


def test_resolved_in_pagerduty_after_a_false_positive_here_is_kept_as_is(slack, pagerduty, paged, django_capture_on_commit_callbacks):
    from django.db import transaction

    from incidents.services import incident_resolve

    incident, pd_id = paged
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            incident_resolve(incident=incident, false_positive=True)
    assert pagerduty.incidents[pd_id]["status"] == "resolved"
    act(pagerduty, pd_id, "incident.resolved", django_capture_on_commit_callbacks)
    incident.refresh_from_db()
    assert incident.status == Incident.Status.FALSE_POSITIVE
    assert InboundPayload.objects.get(source="pagerduty").status == InboundPayload.Status.PROCESSED


# --- delivered twice (issue 12) -------------------------------------------------------------------


def test_a_signed_body_delivered_twice_is_applied_once(settings, make_incident, django_capture_on_commit_callbacks):
    settings.PAGERDUTY_WEBHOOK_SECRET = PD_SECRETS
    incident = make_incident(number=42, title="DB latency")
    first = deliver(ROTATION_BODY, ROTATION_HEADER, django_capture_on_commit_callbacks)
    assert first.status_code == 202 and first.json()["duplicate"] is False
    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED
    # Someone reopens it in Cleara; then PagerDuty (or anyone who captured the request) sends the
    # same signed body again: it is recognised by its event id and changes nothing.
    Incident.objects.filter(pk=incident.pk).update(status=Incident.Status.OPEN, resolved_at=None)
    again = deliver(ROTATION_BODY, ROTATION_HEADER, django_capture_on_commit_callbacks)
    assert again.status_code == 200
    assert again.json() == {"accepted": False, "duplicate": True, "id": first.json()["id"]}
    incident.refresh_from_db()
    assert incident.status == Incident.Status.OPEN
    assert InboundPayload.objects.filter(source="pagerduty").count() == 1
    assert incident.timeline.filter(kind=TimelineEvent.Kind.STATUS, origin="pagerduty").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_event_store_it_once(settings):
    import threading

    from django.db import connection

    settings.PAGERDUTY_WEBHOOK_SECRET = [GO_SECRET]
    barrier, answers = threading.Barrier(4), []

    def post():
        try:
            barrier.wait()
            answers.append(Client().post(URL, GO_BODY, content_type="application/json", HTTP_X_PAGERDUTY_SIGNATURE=GO_SIGNATURE).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 200, 200, 202]
    assert InboundPayload.objects.filter(source="pagerduty", external_id="01BWDWL3NYY7LUFPZCC28QUCMK").count() == 1
