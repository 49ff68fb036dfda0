"""The console's WebSockets: sync consumers that join a group and forward pushed HTML.

Both accept whoever may see the console (access.roles: Action.VIEW, every role) and refuse anyone
else: anonymous 4401, a user whose role cannot view 4403. Nothing is done on a message a client
sends: the sockets only push; every change goes through its URL, which checks the role.
"""
from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.generic.websocket import WebsocketConsumer
from django.http import QueryDict
from django.utils import timezone

from access.roles import Action, consumer_allows
from incidents import broadcast

# 4401, 4403: like HTTP 401 and 403, in the range the WebSocket spec leaves to applications.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
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


class ConsoleConsumer(_PushOnly, WebsocketConsumer):
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


class IncidentConsumer(_PushOnly, WebsocketConsumer):
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
