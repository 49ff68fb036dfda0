"""The console's WebSockets: sync consumers that join a group and forward pushed HTML.

Both accept whoever may see the console (access.roles: Action.VIEW, every role) and refuse anyone
else: anonymous 4401, a user whose role cannot view 4403. Nothing is done on a message a client
sends: the sockets only push; every change goes through its URL, which checks the role.
"""
from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.generic.websocket import WebsocketConsumer
from django.http import QueryDict
from django.utils import timezone

from access.roles import Action, consumer_allows
from incidents import broadcast

log = logging.getLogger(__name__)

# 4401, 4403: like HTTP 401 and 403, in the range the WebSocket spec leaves to applications.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TRY_AGAIN_LATER = 1013  # RFC 6455's "Try Again Later"
REFUSED = '<div id="request-error" class="alert error request-error" role="alert" hx-swap-oob="true">This connection only carries updates; use the page\'s buttons to make changes.</div>'


def _authenticated(scope) -> bool:
    user = scope.get("user")
    return bool(user is not None and user.is_authenticated)


def _refused(consumer) -> bool:
    """Close the socket of someone who may not watch; True when it was refused."""
    if not _authenticated(consumer.scope):
        consumer.close(code=CLOSE_UNAUTHENTICATED)
        return True
    if not consumer_allows(consumer.scope, Action.VIEW):
        consumer.close(code=CLOSE_FORBIDDEN)
        return True
    return False


class _PushOnly:
    def receive(self, text_data=None, bytes_data=None):
        # No action is taken over a socket (there is no role check here to get wrong): say so.
        self.send(text_data=REFUSED)


def _layer_errors() -> tuple[type[BaseException], ...]:
    try:
        from redis.exceptions import RedisError
    except ImportError:  # no Redis client installed: only the in-memory layer can be configured
        return (OSError, TimeoutError)
    return (RedisError, OSError, TimeoutError)


LAYER_ERRORS = _layer_errors()


class _SurvivesLayerOutage:
    """A channel layer that cannot be reached (Redis down or cut off) ends the socket with 1013
    "try again later", whether it fails while the socket connects (joining the group, the first
    wait for a message) or after (the wait breaks): never a handshake answered 500 with a
    traceback. htmx's ws extension reconnects after 1013 with a growing delay; until then the page
    polls (static/cleara/js/cleara.js, clearaShouldPoll), and it is live again once Redis answers."""

    async def __call__(self, scope, receive, send):
        accepted = False

        async def send_watching(message):
            nonlocal accepted
            if message.get("type") == "websocket.accept":
                accepted = True
            await send(message)

        try:
            await super().__call__(scope, receive, send_watching)
        except LAYER_ERRORS as exc:
            log.warning("channel layer unavailable (%s: %s): socket closed with %s, the page polls until it reconnects",
                        type(exc).__name__, exc, CLOSE_TRY_AGAIN_LATER)
            try:
                if not accepted:
                    await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})
            except Exception:  # noqa: BLE001 - the client may be gone already; nothing left to tell it
                pass


class ConsoleConsumer(_SurvivesLayerOutage, _PushOnly, WebsocketConsumer):
    """The dashboard's socket: ws/console/?<the dashboard's filters>."""

    def connect(self):
        if _refused(self):
            return
        from incidents.forms import DashboardFilterForm

        query = QueryDict(self.scope.get("query_string", b"").decode("latin-1"))
        self.form = DashboardFilterForm(query or {})
        self.form_valid = self.form.is_valid()
        async_to_sync(self.channel_layer.group_add)(broadcast.console_group(), self.channel_name)
        self.accept()

    def disconnect(self, code):
        if hasattr(self, "form"):
            async_to_sync(self.channel_layer.group_discard)(broadcast.console_group(), self.channel_name)

    def incident_changed(self, event):
        if not self.form_valid:
            return
        # Presets ("last 24 hours") move with the clock: compute the range now, not at connect.
        matches = broadcast.facts_match(event["facts"], self.form.to_filters(now=timezone.now()))
        if event["new"]:
            if matches:
                self.send(text_data=f'<tbody hx-swap-oob="afterbegin:#incident-rows-body">{event["row"]}</tbody>')
            return
        # A changed incident replaces its row if this page shows it; htmx ignores unknown ids.
        self.send(text_data=event["row"])


class IncidentConsumer(_SurvivesLayerOutage, _PushOnly, WebsocketConsumer):
    """An incident page's socket: ws/incidents/<pk>/."""

    def connect(self):
        if _refused(self):
            return
        self.group = broadcast.incident_group(self.scope["url_route"]["kwargs"]["incident_id"])
        async_to_sync(self.channel_layer.group_add)(self.group, self.channel_name)
        self.accept()

    def disconnect(self, code):
        if hasattr(self, "group"):
            async_to_sync(self.channel_layer.group_discard)(self.group, self.channel_name)

    def incident_changed(self, event):
        self.send(text_data=event["html"])
