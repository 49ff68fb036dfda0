"""All WebSocket routes, gathered from the apps."""
from incidents.routing import websocket_urlpatterns as incident_ws

websocket_urlpatterns = [*incident_ws]
