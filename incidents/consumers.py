"""The console's WebSockets: sync consumers that join a group and forward pushed HTML.

Both refuse anonymous users (the page would have sent them to the login page anyway).
"""
from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.generic.websocket import WebsocketConsumer
from django.http import QueryDict
from django.utils import timezone

from incidents import broadcast

# 4401: like HTTP 401, in the range the WebSocket spec leaves to applications.
CLOSE_UNAUTHENTICATED = 4401


def _authenticated(scope) -> bool:
    user = scope.get("user")
    return bool(user is not None and user.is_authenticated)


class ConsoleConsumer(WebsocketConsumer):
    """The dashboard's socket: ws/console/?<the dashboard's filters>."""

    def connect(self):
        if not _authenticated(self.scope):
            self.close(code=CLOSE_UNAUTHENTICATED)
            return
        from incidents.forms import DashboardFilterForm

        query = QueryDict(self.scope.get("query_string", b"").decode("latin-1"))
        self.form = DashboardFilterForm(query or {})
        self.form_valid = self.form.is_valid()
        async_to_sync(self.channel_layer.group_add)(broadcast.console_group(), self.channel_name)
        self.accept()

    def disconnect(self, code):
        if _authenticated(self.scope):
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


class IncidentConsumer(WebsocketConsumer):
    """An incident page's socket: ws/incidents/<pk>/."""

    def connect(self):
        if not _authenticated(self.scope):
            self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = broadcast.incident_group(self.scope["url_route"]["kwargs"]["incident_id"])
        async_to_sync(self.channel_layer.group_add)(self.group, self.channel_name)
        self.accept()

    def disconnect(self, code):
        if hasattr(self, "group"):
            async_to_sync(self.channel_layer.group_discard)(self.group, self.channel_name)

    def incident_changed(self, event):
        self.send(text_data=event["html"])
