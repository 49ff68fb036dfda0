"""Slack behind one door: the only module that imports slack_sdk and slack_bolt.

Every Web API call goes to settings.SLACK_API_URL (tests point it at a local receiver), and the
SDK's exceptions leave this module as `integrations.errors`. The SDK's own retries are switched
off: the outbox retries, with backoff and Retry-After, without holding a worker in a sleep.

Bolt is used for what it does well and what is easy to get wrong by hand: request signatures and
their replay window, acknowledging within Slack's three seconds, and the OAuth v2 install flow.
Its listeners only hand the request to callbacks given by `integrations.slack.interactions`.
"""
from __future__ import annotations

import http.client
import logging
import re
import socket
import ssl
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass

from slack_bolt import App
from slack_bolt.adapter.django import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from integrations import errors

__all__ = [
    "Bot", "Installation", "InstallationStore", "OAuthStateStore",
    "SlackClient", "SlackBolt", "respond", "signature_valid", "OAUTH_SCOPES",
]

log = logging.getLogger(__name__)

TIMEOUT = 10
# chat:write to post and update, commands for /cleara, users:read(.email) to map a Slack user to a
# Cleara user, channels/groups:history to check, before a retry, whether a post already landed,
# incoming-webhook so that the installer picks the channel.
OAUTH_SCOPES = [
    "chat:write", "commands", "users:read", "users:read.email",
    "channels:history", "groups:history", "incoming-webhook",
]
AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission", "missing_scope"}
TRANSIENT_ERRORS = {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
METADATA_EVENT = "cleara_notification"


def _network_error(exc: BaseException) -> errors.IntegrationUnavailable:
    """A failure below HTTP. Refused connections and DNS failures never reached Slack; timeouts
    and dropped connections may have been processed."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    never_arrived = isinstance(reason, (ConnectionRefusedError, socket.gaierror, ssl.SSLError))
    return errors.IntegrationUnavailable(f"Slack unreachable: {reason!r}", maybe_sent=not never_arrived)


def _api_error(exc: SlackApiError) -> errors.IntegrationError:
    response = exc.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    code = data.get("error") or f"HTTP {status}"
    details = "; ".join((data.get("response_metadata") or {}).get("messages") or [])
    reason = f"Slack said {code}" + (f": {details}" if details else "")
    if status == 429 or code == "ratelimited":
        retry_after = errors.retry_after_parse((response.headers or {}).get("Retry-After") or (response.headers or {}).get("retry-after"))
        return errors.IntegrationRateLimited(reason, retry_after=retry_after)
    if status >= 500 or code in TRANSIENT_ERRORS:
        return errors.IntegrationUnavailable(reason, status=status, maybe_sent=True)
    if code in AUTH_ERRORS or status in (401, 403):
        return errors.IntegrationAuthError(reason, status=status)
    return errors.IntegrationRejected(reason, status=status)


NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError)


class SlackClient:
    """The Web API calls Cleara makes, with one bot token."""

    def __init__(self, *, token: str, base_url: str, timeout: int = TIMEOUT):
        self._web = WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[])

    def _call(self, method: str, **kwargs) -> dict:
        try:
            return getattr(self._web, method)(**kwargs).data
        except SlackApiError as exc:
            raise _api_error(exc) from exc
        except NETWORK_ERRORS as exc:
            raise _network_error(exc) from exc

    def post_message(self, *, channel: str, text: str, blocks: list[dict] | None = None, thread_ts: str | None = None, key: str = "") -> dict:
        """chat.postMessage; `key` goes into the message's metadata so that find_message can see it later."""
        metadata = {"event_type": METADATA_EVENT, "event_payload": {"key": key}} if key else None
        data = self._call("chat_postMessage", channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, metadata=metadata, unfurl_links=False)
        return {"channel": data["channel"], "ts": data["ts"]}

    def update_message(self, *, channel: str, ts: str, text: str, blocks: list[dict] | None = None) -> dict:
        data = self._call("chat_update", channel=channel, ts=ts, text=text, blocks=blocks)
        return {"channel": data["channel"], "ts": data["ts"]}

    def find_message(self, *, channel: str, key: str, thread_ts: str | None = None, oldest: float | None = None) -> str | None:
        """The ts of a message this app posted with `key` in its metadata, if Slack has it."""
        if thread_ts:
            data = self._call("conversations_replies", channel=channel, ts=thread_ts, include_all_metadata=True, limit=200)
        else:
            data = self._call("conversations_history", channel=channel, oldest=str(oldest or 0), include_all_metadata=True, limit=200)
        for message in data.get("messages") or []:
            meta = message.get("metadata") or {}
            if meta.get("event_type") == METADATA_EVENT and (meta.get("event_payload") or {}).get("key") == key:
                return message["ts"]
        return None

    def user_email(self, *, user_id: str) -> str:
        data = self._call("users_info", user=user_id)
        return ((data.get("user") or {}).get("profile") or {}).get("email") or ""


def respond(*, response_url: str, body: dict, timeout: int = TIMEOUT) -> None:
    """Answer an interaction through its response_url (valid 30 minutes, 5 times)."""
    try:
        response = WebhookClient(response_url, timeout=timeout, retry_handlers=[]).send_dict(body)
    except NETWORK_ERRORS as exc:
        raise _network_error(exc) from exc
    if response.status_code == 429:
        raise errors.IntegrationRateLimited("Slack rate-limited the response_url", retry_after=errors.retry_after_parse(response.headers.get("Retry-After")))
    if response.status_code >= 500:
        raise errors.IntegrationUnavailable(f"response_url answered {response.status_code}", status=response.status_code)
    if response.status_code != 200:
        raise errors.IntegrationRejected(f"response_url answered {response.status_code}: {response.body[:200]}", status=response.status_code)


def signature_valid(*, secret: str, body: str | bytes, timestamp: str, signature: str, now: float | None = None) -> bool:
    """Slack's v0 request signature, with its five-minute replay window."""
    verifier = SignatureVerifier(secret, clock=_FixedClock(now)) if now is not None else SignatureVerifier(secret)
    return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)


class _FixedClock:
    def __init__(self, now: float):
        self._now = now

    def now(self) -> float:
        return self._now


class _InstallationOrTokenAuthorize(Authorize):
    """A workspace that installed the app through OAuth uses its own bot token; any other request
    uses SLACK_BOT_TOKEN (the single-workspace setup). Bolt can do one or the other, not both."""

    def __init__(self, *, installation_store: InstallationStore | None, fallback_token: str):
        self.installation_store = installation_store
        self.fallback_token = fallback_token

    def __call__(self, *, context, enterprise_id, team_id, user_id, **_) -> AuthorizeResult | None:
        bot = None
        if self.installation_store is not None:
            bot = self.installation_store.find_bot(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=context.is_enterprise_install)
        if bot is not None:
            return AuthorizeResult(
                enterprise_id=enterprise_id, team_id=team_id, bot_token=bot.bot_token, bot_id=bot.bot_id, bot_user_id=bot.bot_user_id, user_id=user_id
            )
        if self.fallback_token:
            return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=self.fallback_token, user_id=user_id)
        return None


@dataclass(frozen=True)
class BoltConfig:
    signing_secret: str
    bot_token: str
    client_id: str
    client_secret: str
    api_url: str
    redirect_uri: str
    success_url: str


# (body) -> text to acknowledge with (None: an empty 200)
InteractionCallback = Callable[[dict], "str | None"]


class SlackBolt:
    """A Bolt app wired to Cleara's callbacks, behind Django's request/response."""

    def __init__(
        self,
        *,
        config: BoltConfig,
        installation_store: InstallationStore | None,
        state_store: OAuthStateStore | None,
        on_command: InteractionCallback,
        on_action: InteractionCallback,
    ):
        oauth_settings = None
        if config.client_id and config.client_secret and installation_store is not None:
            oauth_settings = OAuthSettings(
                client_id=config.client_id,
                client_secret=config.client_secret,
                scopes=OAUTH_SCOPES,
                redirect_uri=config.redirect_uri,
                install_path="/slack/install",
                redirect_uri_path="/slack/oauth_redirect",
                success_url=config.success_url,
                installation_store=installation_store,
                state_store=state_store,
            )
        app = App(
            # A name, or Bolt takes one from inspect.stack(): seconds, in a process that imported torch.
            name="cleara",
            signing_secret=config.signing_secret,
            client=WebClient(base_url=config.api_url, timeout=TIMEOUT, retry_handlers=[]),
            authorize=_InstallationOrTokenAuthorize(installation_store=installation_store, fallback_token=config.bot_token),
            oauth_settings=oauth_settings,
            # The listeners only store the request and queue a task: running them before the
            # response is sent keeps the database work in the request's thread, well within 3 s.
            process_before_response=True,
            token_verification_enabled=False,
        )

        def _acknowledge(ack, text: str | None) -> None:
            if text:
                ack(text)
            else:
                ack()

        @app.command(re.compile(r"^/cleara"))
        def _command(ack, body):
            _acknowledge(ack, on_command(body))

        @app.action(re.compile(r"^incident_"))
        def _action(ack, body):
            _acknowledge(ack, on_action(body))

        self._handler = SlackRequestHandler(app)
        self.oauth_enabled = oauth_settings is not None

    def handle(self, request):
        return self._handler.handle(request)


def installation_to_dict(installation: Installation) -> dict:
    """Bolt's Installation as JSON-safe values (its datetimes as epoch seconds)."""
    data = installation.to_dict_for_copying()
    for name in ("bot_token_expires_at", "user_token_expires_at", "installed_at"):
        value = data.get(name)
        if value is not None and hasattr(value, "timestamp"):
            data[name] = value.timestamp()
    if data.get("bot_token_expires_at") is not None:
        data["bot_token_expires_at"] = int(data["bot_token_expires_at"])
    if data.get("user_token_expires_at") is not None:
        data["user_token_expires_at"] = int(data["user_token_expires_at"])
    return data


def installation_from_dict(data: dict) -> Installation:
    return Installation(**data)
