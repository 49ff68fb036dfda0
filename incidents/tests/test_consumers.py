"""The console's WebSockets and the pushes that feed them, through the real channel layer
(in-memory by default, Redis when REDIS_URL is set) and WebsocketCommunicator."""
from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.test import Client

from incidents import broadcast, hooks, services
from incidents.consumers import CLOSE_UNAUTHENTICATED
from incidents.models import Incident
from incidents.routing import websocket_urlpatterns
from incidents.selectors import IncidentFilters
from incidents.tests.seed import seed_console

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def data(transactional_db, isolated_channel_layer):
    return seed_console()


def communicator(path: str, user) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    comm.scope["user"] = user
    return comm


def run(coro_fn):
    """Run an async scenario from a sync test; sync_to_async inside it comes back to this thread."""
    return async_to_sync(coro_fn)()


def open_incident(data, *, severity: str, title: str) -> Incident:
    """What the correlation engine does: create an incident and tell the hooks, in one transaction."""
    with transaction.atomic():
        incident = Incident.objects.create(
            number=services.incident_number_next(), title=title, severity=severity, grouping_key=f"test:{title}",
            started_at=data.now, last_event_at=data.now, root_cause_service=data.services["orders"],
        )
        incident.services.set([data.services["orders"]])
        hooks.incident_changed(hooks.IncidentChange(incident.pk, "opened"))
    return incident


@pytest.mark.parametrize("path", ["/ws/console/", "/ws/incidents/1/"])
def test_anonymous_sockets_are_refused(data, path):
    async def scenario():
        comm = communicator(path, AnonymousUser())
        connected, code = await comm.connect()
        assert not connected and code == CLOSE_UNAUTHENTICATED
        await comm.disconnect()

    run(scenario)


def test_the_real_asgi_stack_authenticates_with_the_session_cookie(data):
    from cleara.asgi import application

    client = Client()
    client.force_login(data.users["alice"])
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    async def scenario():
        comm = WebsocketCommunicator(application, "/ws/console/", headers=[(b"cookie", cookie.encode()), (b"origin", b"http://testserver")])
        connected, _ = await comm.connect()
        assert connected
        await comm.disconnect()
        stranger = WebsocketCommunicator(application, "/ws/console/", headers=[(b"origin", b"http://testserver")])
        connected, code = await stranger.connect()
        assert not connected and code == CLOSE_UNAUTHENTICATED
        other_site = WebsocketCommunicator(application, "/ws/console/", headers=[(b"cookie", cookie.encode()), (b"origin", b"http://evil.example")])
        connected, _ = await other_site.connect()
        assert not connected
        # End the refused consumers as a browser would (websocket.disconnect): left running, their
        # channel-layer receive was cancelled at the event loop's close, which could hang there.
        await stranger.disconnect()
        await other_site.disconnect()

    run(scenario)


def test_a_new_incident_is_inserted_on_dashboards_whose_filters_it_matches(data):
    async def scenario():
        critical_only = communicator("/ws/console/?severity=critical", data.users["alice"])
        everything = communicator("/ws/console/", data.users["bob"])
        assert (await critical_only.connect())[0] and (await everything.connect())[0]
        incident = await sync_to_async(open_incident)(data, severity="warning", title="Orders lag")
        html = await everything.receive_from(timeout=5)
        assert html.startswith('<tbody hx-swap-oob="afterbegin:#incident-rows-body">')
        assert f'id="incident-{incident.pk}-row"' in html and "Orders lag" in html
        assert await critical_only.receive_nothing(timeout=0.5)
        critical = await sync_to_async(open_incident)(data, severity="critical", title="Orders down")
        html = await critical_only.receive_from(timeout=5)
        assert f'id="incident-{critical.pk}-row"' in html
        await critical_only.disconnect()
        await everything.disconnect()

    run(scenario)


def test_a_changed_incident_replaces_its_row(data):
    async def scenario():
        comm = communicator("/ws/console/?status=open", data.users["alice"])
        assert (await comm.connect())[0]
        await sync_to_async(services.incident_set_status)(incident=data.main, status="resolved", by=data.users["bob"])
        html = await comm.receive_from(timeout=5)
        # Not in an "open" list any more, but a page showing the row still updates it in place.
        assert html.startswith(f'<tr id="incident-{data.main.pk}-row"') and "Resolved" in html
        await comm.disconnect()

    run(scenario)


def test_a_dashboard_with_a_malformed_filter_gets_nothing(data):
    async def scenario():
        comm = communicator("/ws/console/?severity=nope", data.users["alice"])
        assert (await comm.connect())[0]
        await sync_to_async(open_incident)(data, severity="critical", title="Anything")
        assert await comm.receive_nothing(timeout=0.5)
        await comm.disconnect()

    run(scenario)


def test_incident_page_gets_header_notes_and_audit_after_a_note(data):
    async def scenario():
        comm = communicator(f"/ws/incidents/{data.main.pk}/", data.users["bob"])
        assert (await comm.connect())[0]
        await sync_to_async(services.note_add)(incident=data.main, body="Pool drained, **recovering**", author=data.users["alice"])
        html = await comm.receive_from(timeout=5)
        for part in ("header", "notes", "audit"):
            assert f'id="incident-{data.main.pk}-{part}"' in html
        assert "<strong>recovering</strong>" in html and "added a note" in html
        assert "csrfmiddlewaretoken" not in html
        await comm.disconnect()

    run(scenario)


def test_system_updates_push_only_the_header(data):
    def touch():
        with transaction.atomic():
            Incident.objects.filter(pk=data.main.pk).update(event_count=999)
            hooks.incident_changed(hooks.IncidentChange(data.main.pk, "updated"))

    async def scenario():
        comm = communicator(f"/ws/incidents/{data.main.pk}/", data.users["bob"])
        assert (await comm.connect())[0]
        await sync_to_async(touch)()
        html = await comm.receive_from(timeout=5)
        assert f'id="incident-{data.main.pk}-header"' in html and "999 events" in html
        assert f'id="incident-{data.main.pk}-notes"' not in html
        await comm.disconnect()

    run(scenario)


def test_a_split_pushes_the_audit_trail_that_records_it(data):
    message = f"Split: #{data.memory.number} opened for payments, which logged errors of its own from 10:00:00 UTC."

    async def scenario():
        comm = communicator(f"/ws/incidents/{data.main.pk}/", data.users["bob"])
        assert (await comm.connect())[0]
        await sync_to_async(services.incident_split_record)(source=data.main, split=data.memory, message=message)
        html = await comm.receive_from(timeout=5)
        assert f'id="incident-{data.main.pk}-audit"' in html and f"Split: #{data.memory.number} opened for payments" in html
        await comm.disconnect()

    run(scenario)


def test_other_incidents_pages_hear_nothing(data):
    async def scenario():
        comm = communicator(f"/ws/incidents/{data.memory.pk}/", data.users["bob"])
        assert (await comm.connect())[0]
        await sync_to_async(services.note_add)(incident=data.main, body="not for you", author=data.users["alice"])
        assert await comm.receive_nothing(timeout=0.5)
        await comm.disconnect()

    run(scenario)


def test_a_rolled_back_change_pushes_nothing_and_one_transaction_pushes_once(data):
    def rolled_back():
        with pytest.raises(RuntimeError), transaction.atomic():
            services.note_add(incident=data.main, body="never committed", author=data.users["alice"])
            raise RuntimeError

    def two_changes():
        with transaction.atomic():
            services.note_add(incident=data.main, body="first", author=data.users["alice"])
            services.incident_assign(incident=data.main, assignee=data.users["carol"], by=data.users["alice"])

    async def scenario():
        comm = communicator(f"/ws/incidents/{data.main.pk}/", data.users["bob"])
        assert (await comm.connect())[0]
        await sync_to_async(rolled_back)()
        assert await comm.receive_nothing(timeout=0.5)
        await sync_to_async(two_changes)()
        html = await comm.receive_from(timeout=5)
        assert "first" in html and "data-incident-assignee>carol<" in html
        # The collaborate step's controls come along, with the state they act on.
        assert f'id="incident-{data.main.pk}-status-controls"' in html and f'id="incident-{data.main.pk}-assign-form"' in html
        assert '<input type="hidden" name="seen" value="carol">' in html
        assert await comm.receive_nothing(timeout=0.5)
        await comm.disconnect()

    run(scenario)


@pytest.mark.skipif("redis" not in settings.CHANNEL_LAYERS["default"]["BACKEND"].lower(), reason="needs REDIS_URL")
def test_an_idle_socket_outlives_the_redis_read_timeout(data):
    """A socket waits for its next push in a blocking pop of up to brpop_timeout (5 s): a read
    timeout no longer than that ended the wait with an error and the socket with it."""
    from channels_redis.core import RedisChannelLayer

    async def scenario():
        comm = communicator(f"/ws/incidents/{data.main.pk}/", data.users["bob"])
        assert (await comm.connect())[0]
        assert await comm.receive_nothing(timeout=RedisChannelLayer.brpop_timeout * 2 + 1)
        await sync_to_async(services.note_add)(incident=data.main, body="still listening", author=data.users["alice"])
        assert "still listening" in await comm.receive_from(timeout=5)
        await comm.disconnect()

    run(scenario)


def test_a_failing_push_does_not_fail_the_change(data, settings, caplog):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}}
    note = services.note_add(incident=data.main, body="saved anyway", author=data.users["alice"])
    assert note.pk and "saved anyway" in data.main.notes.values_list("body", flat=True)
    assert "Error calling broadcast.incident_changed" in caplog.text


def facts(**overrides) -> dict:
    base = {"status": "open", "severity": "critical", "services": ["checkout", "payments"], "started_at": "2026-11-02T09:00:00+00:00",
            "last_event_at": "2026-11-02T09:30:00+00:00", "text": "checkout failing\npool exhausted"}
    return {**base, **overrides}


def test_facts_match_follows_the_dashboard_filters():
    from datetime import UTC, datetime

    t = datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
    assert broadcast.facts_match(facts(), IncidentFilters())
    assert broadcast.facts_match(facts(), IncidentFilters(status=["open"], severity=["critical", "warning"], service="payments", q="POOL"))
    assert not broadcast.facts_match(facts(), IncidentFilters(status=["resolved"]))
    assert not broadcast.facts_match(facts(), IncidentFilters(severity=["info"]))
    assert not broadcast.facts_match(facts(), IncidentFilters(service="orders"))
    assert not broadcast.facts_match(facts(), IncidentFilters(q="dns"))
    assert broadcast.facts_match(facts(), IncidentFilters(since=t, until=t))  # overlaps the range
    assert not broadcast.facts_match(facts(), IncidentFilters(since=t + timedelta(hours=1)))
    assert not broadcast.facts_match(facts(), IncidentFilters(until=t - timedelta(hours=1)))
