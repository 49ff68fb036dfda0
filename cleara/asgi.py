"""ASGI entry point: HTTP goes to Django, WebSockets to the Channels router (served by daphne).

One route is served before Django: POST /api/v1/events with the ingest queue on, by
incidents.fastingest (the same checks and answers as the Django view, without the middleware
stack's cost per request, and concurrent requests sharing one commit). Everything it does not
take (`fastingest.accepts`) goes to Django."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cleara.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from cleara.routing import websocket_urlpatterns  # noqa: E402
from incidents import fastingest  # noqa: E402


async def http_application(scope, receive, send):
    if fastingest.accepts(scope):
        return await fastingest.handle(scope, receive, send)
    return await django_asgi_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
