"""Roles as groups with permissions, token scopes, and the sentences a refusal says."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group
from django.test import RequestFactory

from access import roles
from access.roles import AccessDenied, Action, Role, Scope

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(django_user_model):
    made = {}
    for role in Role:
        user = django_user_model.objects.create_user(f"{role.value}-user", password="x-long-password-1")
        roles.assign_role(user, role)
        made[role] = django_user_model.objects.get(pk=user.pk)  # fresh: no permission cache
    made["nobody"] = django_user_model.objects.create_user("no-group", password="x-long-password-1")
    return made


def test_the_migration_made_three_groups_with_their_permissions():
    groups = {g.name: {f"{p.content_type.app_label}.{p.codename}" for p in g.permissions.all()} for g in Group.objects.all()}
    assert groups["viewer"] == {"access.view_console"}
    assert groups["responder"] == {"access.view_console", "access.respond"}
    assert {"access.manage_models", "access.manage_topology", "auth.change_user", "incidents.add_apitoken", "access.view_auditentry"} <= groups["admin"]


def test_each_role_can_exactly_what_its_permissions_say(people):
    assert roles.user_can(people[Role.VIEWER], Action.VIEW)
    assert not roles.user_can(people[Role.VIEWER], Action.RESOLVE)
    assert roles.user_can(people[Role.RESPONDER], Action.RESOLVE)
    assert not roles.user_can(people[Role.RESPONDER], Action.MANAGE_MODELS)
    assert all(roles.user_can(people[Role.ADMIN], a) for a in Action if a.permission)
    assert not any(roles.user_can(people[role], Action.INGEST) for role in Role)  # machines only


def test_a_user_in_no_group_gets_the_default_role(people, settings):
    assert roles.role_of(people["nobody"]) is Role.VIEWER
    assert roles.user_can(people["nobody"], Action.VIEW) and not roles.user_can(people["nobody"], Action.NOTE)
    settings.CLEARA_DEFAULT_ROLE = "responder"
    assert roles.user_can(people["nobody"], Action.NOTE)


def test_assign_role_keeps_one_role(people, django_user_model):
    user = people[Role.VIEWER]
    roles.assign_role(user, Role.ADMIN)
    assert [g.name for g in user.groups.all()] == ["admin"]
    assert roles.role_of(django_user_model.objects.get(pk=user.pk)) is Role.ADMIN


def test_inactive_and_anonymous_users_can_nothing(people):
    from django.contrib.auth.models import AnonymousUser

    admin = people[Role.ADMIN]
    admin.is_active = False
    assert not roles.user_can(admin, Action.VIEW)
    assert not roles.user_can(AnonymousUser(), Action.VIEW)
    with pytest.raises(AccessDenied, match="log in"):
        roles.check(Action.VIEW, user=AnonymousUser())


def test_a_refusal_says_the_role_and_what_would_allow_it(people):
    with pytest.raises(AccessDenied) as denied:
        roles.check(Action.RESOLVE, user=people[Role.VIEWER])
    assert str(denied.value) == "your role (viewer) cannot resolve an incident: that needs the responder role; ask an admin"


def test_token_scopes_grant_only_their_actions():
    ingest = SimpleNamespace(name="exporter", scopes=["ingest"])
    read = SimpleNamespace(name="grafana", scopes=["read"])
    admin = SimpleNamespace(name="terraform", scopes=["admin"])
    assert roles.token_can(ingest, Action.INGEST) and not roles.token_can(ingest, Action.VIEW)
    assert roles.token_can(read, Action.VIEW) and not roles.token_can(read, Action.INGEST) and not roles.token_can(read, Action.MANAGE_MODELS)
    assert roles.token_can(admin, Action.MANAGE_TOPOLOGY) and roles.token_can(admin, Action.VIEW)
    assert not roles.token_can(admin, Action.INGEST)  # ingest is its own scope
    assert not any(roles.token_can(admin, a) for a in (Action.NOTE, Action.RESOLVE, Action.STATUS))  # people's acts
    with pytest.raises(AccessDenied, match="'exporter' \\(scopes: ingest\\) cannot train, activate or roll back a model: that needs the 'admin' scope"):
        roles.check(Action.MANAGE_MODELS, token=ingest)
    assert roles.token_scopes(admin) == {Scope.ADMIN, Scope.READ}


def test_requires_redirects_anonymous_to_login_and_refuses_the_wrong_role(people):
    from django.contrib.auth.models import AnonymousUser

    @roles.requires(Action.MANAGE_MODELS)
    def view(request):
        return "done"

    request = RequestFactory().post("/models/train/")
    request.user = AnonymousUser()
    assert view(request).status_code == 302
    request.user = people[Role.RESPONDER]
    with pytest.raises(AccessDenied):
        view(request)
    request.user = people[Role.ADMIN]
    assert view(request) == "done"


def test_consumer_allows_reads_the_socket_user(people):
    from django.contrib.auth.models import AnonymousUser

    assert roles.consumer_allows({"user": people[Role.VIEWER]})
    assert not roles.consumer_allows({"user": AnonymousUser()})
    assert not roles.consumer_allows({"user": people[Role.VIEWER]}, Action.STATUS)


def test_a_socket_refuses_who_may_not_view_and_acts_on_nothing_a_client_sends(people):
    from asgiref.sync import async_to_sync
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator

    from incidents.consumers import CLOSE_FORBIDDEN
    from incidents.routing import websocket_urlpatterns

    inactive = people[Role.ADMIN]
    inactive.is_active = False  # signed in before being deactivated: authenticated, but no role
    viewer = people[Role.VIEWER]
    roles.user_can(viewer, Action.VIEW)  # the permission cache, filled in the test's transaction

    async def scenario():
        refused = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/console/")
        refused.scope["user"] = inactive
        connected, code = await refused.connect()
        assert (connected, code) == (False, CLOSE_FORBIDDEN)
        watching = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/console/")
        watching.scope["user"] = viewer
        assert (await watching.connect())[0]
        await watching.send_to(text_data='{"status": "resolved", "HEADERS": {}}')
        answer = await watching.receive_from()
        assert "only carries updates" in answer
        await watching.disconnect()

    async_to_sync(scenario)()


def test_the_console_shows_each_role_only_the_controls_it_may_use(seeded, client, people):
    users = {**seeded.users, "carol": people[Role.VIEWER]}  # carol: a viewer here

    def page(username: str, path: str) -> str:
        client.force_login(users[username])
        return client.get(path).content.decode()

    incident = f"/incidents/{seeded.main.number}/collaborate/"
    viewer, responder = page("carol", incident), page("bob", incident)
    # Responder controls carry data-needs="respond"; the CSS hides them unless the body allows it.
    assert 'data-needs="respond"' in viewer and "data-can-respond" not in viewer.split("<body", 1)[1].split(">", 1)[0]
    assert "data-can-respond" in responder.split("<body", 1)[1].split(">", 1)[0]
    assert "Train a new version" not in page("bob", "/models/") and "Train a new version" in page("alice", "/models/")
    assert "Send test notification" not in page("bob", "/integrations/") and "Send test notification" in page("alice", "/integrations/")
    assert "Curate in the admin" not in page("carol", "/patterns/") and "Curate in the admin" in page("alice", "/patterns/")


def test_set_role_puts_a_user_in_one_role_and_is_audited(people):
    from django.core.management import CommandError, call_command

    from access.models import AuditEntry

    user = people["nobody"]
    call_command("set_role", user.username, "responder")
    assert roles.role_of(type(user).objects.get(pk=user.pk)) is Role.RESPONDER
    entry = AuditEntry.objects.get(action="set_role")
    assert (entry.via, entry.target, entry.details) == ("command", f"user {user.username}", {"from": "viewer", "to": "responder"})
    with pytest.raises(CommandError, match="no user named"):
        call_command("set_role", "ghost", "admin")
