"""The OAuth v2 install against the local Slack (oauth.v2.access at SLACK_API_URL): an installation
kept per workspace in the database, the state used once, and incidents posted to every workspace."""
from __future__ import annotations

import re
import urllib.parse

import pytest
from django.test import Client

from integrations.models import SlackInstallation, SlackOAuthState, SlackUserLink
from integrations.slack.stores import DjangoInstallationStore, DjangoOAuthStateStore
from integrations.tests.conftest import CHANNEL, block_action_body, slack_signature

pytestmark = pytest.mark.django_db


@pytest.fixture
def oauth(settings, slack):
    settings.SLACK_CLIENT_ID, settings.SLACK_CLIENT_SECRET = "1234.5678", "client-secret-xyz"
    settings.SLACK_OAUTH_ENABLED = True
    slack.oauth_client = ("1234.5678", "client-secret-xyz")
    return slack


@pytest.fixture
def admin(django_user_model):
    from access.roles import Role, assign_role

    user = django_user_model.objects.create_user("integrator", password="pw-integrator-123")
    assign_role(user, Role.ADMIN)
    return user


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def install(client: Client, slack, *, team_id: str, team_name: str, channel_id: str):
    page = client.get("/slack/install")
    assert page.status_code == 200
    link = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page.content.decode()).group(1)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link.replace("&amp;", "&")).query)
    assert query["client_id"] == ["1234.5678"]
    assert query["redirect_uri"] == ["https://cleara.example.com/slack/oauth_redirect"]
    assert "chat:write" in query["scope"][0] and "commands" in query["scope"][0]
    code = slack.oauth_grant(team_id=team_id, team_name=team_name, channel_id=channel_id)
    return client.get("/slack/oauth_redirect", {"code": code, "state": query["state"][0]})


def test_two_workspaces_install_and_both_get_incidents(oauth, open_incident, admin):
    first = install(as_user(admin), oauth, team_id="T0WORKSP01", team_name="Acme", channel_id="C0ACME0001")
    assert first.status_code == 200 and "https://cleara.example.com/integrations/" in first.content.decode()
    install(as_user(admin), oauth, team_id="T0WORKSP02", team_name="Globex", channel_id="C0GLOBEX01")
    installs = {i.team_id: i for i in SlackInstallation.objects.all()}
    assert set(installs) == {"T0WORKSP01", "T0WORKSP02"}
    assert installs["T0WORKSP01"].bot_token.startswith("xoxb-T0WORKSP01-") and installs["T0WORKSP01"].bot_id == "B0CLEARA"
    assert installs["T0WORKSP02"].incoming_webhook_channel_id == "C0GLOBEX01"
    # The token exchange went to SLACK_API_URL, with the client credentials.
    [exchange, _] = oauth.calls_to("/oauth.v2.access")
    assert exchange.data["redirect_uri"] == "https://cleara.example.com/slack/oauth_redirect"

    incident = open_incident(title="Shared database down")
    channels = sorted(p["channel"] for p in oauth.posts())
    assert channels == sorted([CHANNEL, "C0ACME0001", "C0GLOBEX01"])  # SLACK_BOT_TOKEN's channel, and each workspace's
    tokens = {c.headers["authorization"] for c in oauth.calls_to("/chat.postMessage")}
    assert tokens == {"Bearer xoxb-cleara-test", f"Bearer {installs['T0WORKSP01'].bot_token}", f"Bearer {installs['T0WORKSP02'].bot_token}"}
    assert incident.slack_messages.count() == 3


def test_a_click_in_an_installed_workspace_uses_its_token(oauth, make_incident, oncall, django_capture_on_commit_callbacks, admin):
    install(as_user(admin), oauth, team_id="T0WORKSP01", team_name="Acme", channel_id="C0ACME0001")
    token = SlackInstallation.objects.get(team_id="T0WORKSP01").bot_token
    make_incident(number=61)
    body = block_action_body("incident_acknowledge", "INC-61", response_url=oauth.response_url(), team_id="T0WORKSP01", channel="C0ACME0001")
    with django_capture_on_commit_callbacks(execute=True):
        assert Client().post("/slack/events", body, content_type="application/x-www-form-urlencoded", **slack_signature(body)).status_code == 200
    [lookup] = oauth.calls_to("/users.info")
    assert lookup.headers["authorization"] == f"Bearer {token}"
    assert SlackUserLink.objects.get(team_id="T0WORKSP01").user == oncall


def test_a_state_is_good_once(oauth, admin):
    client = as_user(admin)
    page = client.get("/slack/install")
    state = re.search(r"state=([^&\"]+)", page.content.decode()).group(1)
    code = oauth.oauth_grant(team_id="T0WORKSP01", team_name="Acme", channel_id="C0ACME0001")
    assert client.get("/slack/oauth_redirect", {"code": code, "state": state}).status_code == 200
    code = oauth.oauth_grant(team_id="T0WORKSP09", team_name="Evil", channel_id="C0EVIL0001")
    replay = client.get("/slack/oauth_redirect", {"code": code, "state": state})
    assert replay.status_code == 400
    assert list(SlackInstallation.objects.values_list("team_id", flat=True)) == ["T0WORKSP01"]


def test_a_forged_state_or_a_bad_code_installs_nothing(oauth, admin):
    client = as_user(admin)
    client.get("/slack/install")
    code = oauth.oauth_grant(team_id="T0WORKSP01", team_name="Acme", channel_id="C0ACME0001")
    assert client.get("/slack/oauth_redirect", {"code": code, "state": "made-up"}).status_code == 400
    page = client.get("/slack/install")
    state = re.search(r"state=([^&\"]+)", page.content.decode()).group(1)
    assert client.get("/slack/oauth_redirect", {"code": "not-a-code", "state": state}).status_code == 401  # Bolt: installation failed
    assert not SlackInstallation.objects.exists()


def test_install_is_off_without_client_credentials(slack, admin):
    assert as_user(admin).get("/slack/install").status_code == 404
    assert as_user(admin).get("/slack/oauth_redirect", {"code": "x", "state": "y"}).status_code == 404


@pytest.mark.parametrize("role", [None, "viewer", "responder"])
def test_only_an_admin_may_start_or_complete_an_install(oauth, role, django_user_model):
    client = Client()
    if role is not None:
        from access.roles import assign_role

        user = django_user_model.objects.create_user(f"{role}-person", password="pw-person-12345")
        assign_role(user, role)
        client.force_login(user)
    page = client.get("/slack/install")
    code = oauth.oauth_grant(team_id="T0WORKSP09", team_name="Evil", channel_id="C0EVIL0001")
    redirect = client.get("/slack/oauth_redirect", {"code": code, "state": "anything"})
    if role is None:  # anonymous: the login page, and back here after it
        assert page.status_code == redirect.status_code == 302
        assert page["Location"].startswith("/login/?next=/slack/install")
    else:
        assert page.status_code == redirect.status_code == 403
        assert "needs the admin role" in page.content.decode()
    assert not SlackOAuthState.objects.exists()  # no state was issued
    assert not SlackInstallation.objects.exists()
    assert not oauth.calls_to("/oauth.v2.access")  # no code was exchanged


def test_the_stores_keep_the_latest_install_per_workspace(oauth, admin):
    store = DjangoInstallationStore(client_id="1234.5678")
    install(as_user(admin), oauth, team_id="T0WORKSP01", team_name="Acme", channel_id="C0ACME0001")
    install(as_user(admin), oauth, team_id="T0WORKSP01", team_name="Acme", channel_id="C0ACME0002")  # reinstalled, new token
    assert SlackInstallation.objects.count() == 1
    latest = SlackInstallation.objects.get()
    bot = store.find_bot(enterprise_id=None, team_id="T0WORKSP01")
    found = store.find_installation(enterprise_id=None, team_id="T0WORKSP01")
    assert bot.bot_token == latest.bot_token == found.bot_token and found.incoming_webhook_channel_id == "C0ACME0002"
    assert store.find_installation(enterprise_id=None, team_id="T0WORKSP01", user_id="U0INSTALL1").team_name == "Acme"
    assert store.find_bot(enterprise_id=None, team_id="T0OTHER000") is None
    store.delete_bot(enterprise_id=None, team_id="T0WORKSP01")
    assert store.find_bot(enterprise_id=None, team_id="T0WORKSP01") is None
    store.delete_all(enterprise_id=None, team_id="T0WORKSP01")
    assert not SlackInstallation.objects.exists()

    states = DjangoOAuthStateStore(expiration_seconds=600)
    state = states.issue()
    assert states.consume(state) and not states.consume(state) and not SlackOAuthState.objects.exists()
