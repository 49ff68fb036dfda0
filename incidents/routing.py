"""WebSocket routes of the console."""
from django.urls import path

from incidents import consumers

websocket_urlpatterns = [
    path("ws/console/", consumers.ConsoleConsumer.as_asgi()),
    path("ws/incidents/<int:incident_id>/", consumers.IncidentConsumer.as_asgi()),
]
