"""Who may do what, end to end: ONE table, every principal against every action, through the real
endpoints (console pages and htmx posts, the WebSocket, the API with a session or a token, a signed
Slack button), asserting the answer AND whether the effect happened.

The principals: anonymous, the three roles (viewer, responder, admin) and a token of each scope
(ingest, read, admin). A token on the console, the socket or Slack is nobody there (the console
knows people only). Slack rows run as the Slack user linked to a Cleara user of the role; the
anonymous row is a Slack user linked to nobody; tokens have no Slack identity (n/a).

The table the run observed is printed at the end of the session (access/tests/conftest.py's
pytest_terminal_summary); `manage.py roles_table` prints the policy it comes from.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.utils import timezone

from access.roles import Role, assign_role
from correlation.models import ModelVersion
from incidents.factories import IncidentFactory
from incidents.models import Event, Feedback, Incident, Note, Service
from incidents.routing import websocket_urlpatterns
from incidents.tokens import api_token_create

pytestmark = pytest.mark.django_db

PRINCIPALS = ["anonymous", "viewer", "responder", "admin", "token:ingest", "token:read", "token:admin"]
PEOPLE = {"viewer", "responder", "admin"}
EVERYONE_LOGGED_IN = PEOPLE
RESPONDERS = {"responder", "admin"}
ADMINS = {"admin"}
READ_TOKENS = {"token:read", "token:admin"}


@dataclass
class World:
    incident: Incident
    users: dict
    old: ModelVersion  # inactive anomaly v1
    new: ModelVersion  # active anomaly v2
    tokens: dict
    request: pytest.FixtureRequest

    def client(self, principal: str) -> Client:
        if principal.startswith("token:"):
            return Client(headers={"Authorization": f"Bearer {self.tokens[principal]}"})
        client = Client()
        if principal in PEOPLE:
            client.force_login(self.users[principal])
        return client


@pytest.fixture
def world(db, request) -> World:
    users = {}
    for role in Role:
        user = _user(role.value, email=f"{role.value}@example.com")
        assign_role(user, role)
        users[role.value] = user
    incident = IncidentFactory(number=7, status=Incident.Status.OPEN, service_names=("checkout",), services=["checkout"])
    old = ModelVersion.objects.create(kind="anomaly", version=1, parameters={"detector": "ensemble"}, metrics={})
    new = ModelVersion.objects.create(kind="anomaly", version=2, parameters={"detector": "ensemble"}, metrics={}, active=True)
    tokens = {f"token:{scope}": api_token_create(name=f"t-{scope}", scopes=[scope])[1] for scope in ("ingest", "read", "admin")}
    return World(incident=incident, users=users, old=old, new=new, tokens=tokens, request=request)


def _user(username: str, **fields):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username=username, password=None, **fields)  # no hashing: fast


# --- the actions: how to do each, and how to tell it happened ---------------------------------

@dataclass(frozen=True)
class Case:
    name: str
    allowed: frozenset[str]
    do: Callable  # (world, principal) -> status code
    happened: Callable  # (world, status) -> bool
    refusals: tuple[int, ...] = (302, 401, 403)  # what a refusal may look like (302: to the login page)
    not_for: frozenset[str] = frozenset()  # principals the action does not exist for


def _incident(world: World) -> Incident:
    return Incident.objects.get(pk=world.incident.pk)


def _get(path: str, marker: str):
    def do(world, who):
        response = world.client(who).get(path.format(n=world.incident.number, pk=world.incident.pk))
        body = b"".join(response.streaming_content) if response.streaming else response.content
        world.last_body = body.decode(errors="replace")
        return response.status_code

    return do, (lambda world, status: status == 200 and marker in world.last_body)


def _post(path: str, data=None, *, json_body=None, htmx: bool = False):
    def do(world, who):
        extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        url = path.format(n=world.incident.number, old=world.old.pk)
        client = world.client(who)
        if json_body is not None:
            response = client.post(url, json.dumps(json_body(world) if callable(json_body) else json_body), content_type="application/json", **extra)
        else:
            response = client.post(url, data(world) if callable(data) else (data or {}), **extra)
        world.last_body = response.content.decode(errors="replace")
        if response.get("HX-Redirect", "").startswith("/login/"):
            return 302  # htmx's way of sending the browser to the login page (HtmxLoginRedirectMiddleware)
        return response.status_code

    return do


def _socket(world, who):
    user = world.users[who] if who in PEOPLE else AnonymousUser()
    if who in PEOPLE:
        from access.roles import Action, user_can

        user_can(user, Action.VIEW)  # fills the permission cache here, in the test's transaction

    async def scenario():
        comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/incidents/{world.incident.pk}/")
        comm.scope["user"] = user
        connected, code = await comm.connect()
        await comm.disconnect()
        return connected, code

    connected, code = async_to_sync(scenario)()
    world.socket_connected = connected
    return 101 if connected else code


def _slack(action_id: str):
    def do(world, who):
        from integrations.models import SlackUserLink
        from integrations.tests.conftest import TEAM, block_action_body, slack_signature

        slack = world.request.getfixturevalue("slack")
        capture = world.request.getfixturevalue("django_capture_on_commit_callbacks")
        slack_user = f"U0{who.upper()[:8]:0<8}"
        if who in PEOPLE:
            SlackUserLink.objects.create(team_id=TEAM, slack_user_id=slack_user, user=world.users[who])
        else:
            slack.users[slack_user] = "nobody@elsewhere.example"  # a Slack user no Cleara user matches
        body = block_action_body(action_id, f"INC-{world.incident.number}", response_url=slack.response_url(), user_id=slack_user)
        with capture(execute=True):
            response = Client().post("/slack/events", body, content_type="application/x-www-form-urlencoded", **slack_signature(body))
        world.slack_reply = slack.responses[-1]["text"] if slack.responses else ""
        return response.status_code

    return do


def _slack_refused(world, status) -> bool:
    return status == 200 and world.slack_reply.startswith((":no_entry:", ":warning:"))


def _task_ran(func: str) -> bool:
    from django_q.models import Task  # tasks run inline in tests (conftest), and are recorded

    return Task.objects.filter(func=func).exists()


def _alertmanager() -> dict:
    now = timezone.now().isoformat()
    alert = {"status": "firing", "labels": {"alertname": "PermCheck", "service": "checkout", "severity": "warning"}, "annotations": {},
             "startsAt": now, "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "0123456789abcdef"}
    return {"receiver": "cleara", "status": "firing", "alerts": [alert], "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093", "version": "4", "groupKey": "{}:{alertname=\"PermCheck\"}", "truncatedAlerts": 0}


def _event(world):
    return [{"id": "perm-1", "timestamp": timezone.now().isoformat(), "service": "checkout", "type": "log", "severity": "info", "message": "hello"}]


CASES = [
    # console pages and their htmx endpoints
    Case("console: dashboard", frozenset(EVERYONE_LOGGED_IN), *_get("/", "incident-rows")),
    Case("console: incident page", frozenset(EVERYONE_LOGGED_IN), *_get("/incidents/{n}/", "incident-page")),
    Case("console: export CSV", frozenset(EVERYONE_LOGGED_IN), *_get("/incidents/{n}/export.csv", "incident_title")),
    Case("console: add a note", frozenset(RESPONDERS), _post("/incidents/{n}/notes/", {"body": "checked the pool"}, htmx=True),
         lambda w, s: Note.objects.filter(incident=w.incident, body="checked the pool").exists()),
    Case("console: assign", frozenset(RESPONDERS), _post("/incidents/{n}/assign/", {"assignee": "viewer"}, htmx=True),
         lambda w, s: _incident(w).assignee_id == w.users["viewer"].pk),
    Case("console: change status", frozenset(RESPONDERS), _post("/incidents/{n}/status/", {"status": "investigating", "seen": "open"}, htmx=True),
         lambda w, s: _incident(w).status == Incident.Status.INVESTIGATING),
    Case("console: resolve", frozenset(RESPONDERS), _post("/incidents/{n}/resolve/", {"notes": "restarted the pool", "tags": "db"}, htmx=True),
         lambda w, s: _incident(w).status == Incident.Status.RESOLVED),
    Case("console: root-cause feedback", frozenset(RESPONDERS), _post("/incidents/{n}/feedback/", {"verdict": "yes"}, htmx=True),
         lambda w, s: Feedback.objects.filter(incident=w.incident).exists()),
    Case("console: activate a model", frozenset(ADMINS), _post("/models/{old}/activate/"),
         lambda w, s: ModelVersion.objects.get(active=True).pk == w.old.pk),
    Case("console: roll back a model", frozenset(ADMINS), _post("/models/anomaly/rollback/"),
         lambda w, s: ModelVersion.objects.get(active=True).pk == w.old.pk),
    Case("console: start a Slack install", frozenset(ADMINS), *_get("/slack/install", "slack.com/oauth/v2/authorize")),
    Case("console: read the audit log", frozenset(ADMINS), *_get("/audit/", 'id="audit-entries"')),
    Case("console: send a test notification", frozenset(ADMINS), _post("/integrations/test", htmx=True),
         lambda w, s: s == 200 and "nothing to send" in w.last_body),
    # the live socket
    Case("socket: watch an incident", frozenset(EVERYONE_LOGGED_IN), _socket, lambda w, s: w.socket_connected, refusals=(4401, 4403)),
    # the API, with a session or a token
    Case("api: send events", frozenset({"token:ingest"}), _post("/api/v1/events", json_body=_event),
         lambda w, s: Event.objects.filter(client_id="perm-1").exists()),
    Case("api: Alertmanager webhook", frozenset({"token:ingest"}), _post("/api/v1/integrations/alertmanager", json_body=lambda w: _alertmanager()),
         lambda w, s: Event.objects.filter(attributes__alertname="PermCheck").exists()),
    Case("api: list incidents", frozenset(EVERYONE_LOGGED_IN | READ_TOKENS), *_get("/api/v1/incidents", '"results"')),
    Case("api: incident detail", frozenset(EVERYONE_LOGGED_IN | READ_TOKENS), *_get("/api/v1/incidents/{pk}", '"root_cause_service"')),
    Case("api: stats", frozenset(EVERYONE_LOGGED_IN | READ_TOKENS), *_get("/api/v1/stats", '"events"')),
    Case("api: score a series", frozenset(EVERYONE_LOGGED_IN | READ_TOKENS),
         _post("/api/v1/ml/score", json_body={"timestamps": list(range(0, 600, 60)), "values": [1.0] * 10}),
         lambda w, s: s == 200 and '"points"' in w.last_body),
    Case("api: classify a text", frozenset(EVERYONE_LOGGED_IN | READ_TOKENS), _post("/api/v1/ml/classify", json_body={"text": "connection pool exhausted"}),
         lambda w, s: s == 200 and '"types"' in w.last_body),
    Case("api: similar incidents", frozenset(EVERYONE_LOGGED_IN | READ_TOKENS), *_get("/api/v1/ml/incidents/{pk}/similar", '"similar"')),
    Case("api: replace the topology", frozenset(ADMINS | {"token:admin"}),
         _post("/api/v1/services", json_body={"services": [{"name": "perm-svc", "runbook_url": "https://runbooks.example.com/x"}]}),
         lambda w, s: Service.objects.filter(name="perm-svc").exists()),
    Case("api: train a model", frozenset(ADMINS | {"token:admin"}), _post("/api/v1/ml/models/train", json_body={"days": 1}),
         lambda w, s: ModelVersion.objects.filter(kind="anomaly").count() == 3),
    Case("api: activate a model", frozenset(ADMINS | {"token:admin"}), _post("/api/v1/ml/models/{old}/activate"),
         lambda w, s: ModelVersion.objects.get(active=True).pk == w.old.pk),
    Case("api: roll back a model", frozenset(ADMINS | {"token:admin"}), _post("/api/v1/ml/models/anomaly/rollback"),
         lambda w, s: ModelVersion.objects.get(active=True).pk == w.old.pk),
    Case("api: discover patterns", frozenset(ADMINS | {"token:admin"}), _post("/api/v1/ml/patterns/discover"),
         lambda w, s: _task_ran("correlation.tasks.discover_patterns")),
    Case("api: retrain the type classifier", frozenset(ADMINS | {"token:admin"}), _post("/api/v1/ml/models/incident-types/train"),
         lambda w, s: _task_ran("correlation.tasks.retrain_type_classifier")),
    # Slack buttons, as the Cleara user the Slack user maps to
    Case("slack: acknowledge button", frozenset(RESPONDERS), _slack("incident_acknowledge"),
         lambda w, s: _incident(w).status == Incident.Status.INVESTIGATING, refusals=(200,),
         not_for=frozenset({"token:ingest", "token:read", "token:admin"})),
    Case("slack: resolve button", frozenset(RESPONDERS), _slack("incident_resolve"),
         lambda w, s: _incident(w).status == Incident.Status.RESOLVED, refusals=(200,),
         not_for=frozenset({"token:ingest", "token:read", "token:admin"})),
]

OBSERVED: dict[tuple[str, str], str] = {}


def roles_table(observed: dict[tuple[str, str], str]) -> list[str]:
    names = [c.name for c in CASES if any((c.name, p) in observed for p in PRINCIPALS)]
    width = max(len(n) for n in names)
    head = " | ".join(p.ljust(12) for p in PRINCIPALS)
    lines = [f"{'action'.ljust(width)} | {head}", "-" * (width + 3 + len(head))]
    for name in names:
        cells = " | ".join(observed.get((name, p), "").ljust(12) for p in PRINCIPALS)
        lines.append(f"{name.ljust(width)} | {cells}")
    return lines


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("principal", PRINCIPALS)
def test_each_principal_can_exactly_what_the_policy_says(world, settings, case: Case, principal: str):
    if principal in case.not_for:
        OBSERVED[(case.name, principal)] = "n/a"
        return
    if case.name == "console: start a Slack install":
        settings.SLACK_SIGNING_SECRET, settings.SLACK_CLIENT_ID, settings.SLACK_CLIENT_SECRET = "secret", "1234.5678", "client-secret"
        settings.SLACK_OAUTH_ENABLED = True
    expected = principal in case.allowed
    status = case.do(world, principal)
    happened = case.happened(world, status)
    OBSERVED[(case.name, principal)] = f"allowed {status}" if happened else f"refused {status}"
    if expected:
        assert status < 400 or status == 101, (status, getattr(world, "last_body", "")[:300])
        assert happened, getattr(world, "last_body", "")[:300]
    else:
        assert status in case.refusals, (status, getattr(world, "last_body", "")[:300])
        assert not happened
        if case.name.startswith("slack:"):
            assert _slack_refused(world, status), world.slack_reply
