"""The console's sockets while Redis is unreachable: the channel layer goes through a TCP proxy
the test cuts and restores (the shared Redis keeps running). An open socket and a new one are
both ended with 1013 "try again later" (a handshake is never answered 500); once Redis answers
again, a socket connects and pushes arrive."""
from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings

from cleara.tests.outage import TcpProxy
from incidents import broadcast
from incidents.consumers import CLOSE_TRY_AGAIN_LATER, LAYER_ERRORS
from incidents.routing import websocket_urlpatterns
from incidents.tests.seed import seed_console

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_proxy(settings):
    if not django_settings.REDIS_URL:
        pytest.skip("needs REDIS_URL: the in-memory layer has nothing to lose")
    url = urlsplit(django_settings.REDIS_URL)
    proxy = TcpProxy(url.hostname or "127.0.0.1", url.port or 6379).start()
    settings.CHANNEL_LAYERS = {"default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": f"redis://127.0.0.1:{proxy.port}{url.path or '/0'}", "socket_connect_timeout": 2, "socket_timeout": 20}],
            "prefix": f"cleara-outage-{uuid.uuid4().hex[:10]}",
        },
    }}
    yield proxy
    proxy.stop()


def communicator(path: str, user) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    comm.scope["user"] = user
    return comm


async def closed_with(comm: WebsocketCommunicator) -> int | None:
    """The close code the consumer sent (skipping anything pushed before it), or None if it stays open."""
    for _ in range(5):
        try:
            message = await comm.receive_output(timeout=8)
        except asyncio.TimeoutError:
            return None
        if message["type"] == "websocket.close":
            return message.get("code")
    return None


@pytest.mark.parametrize("page", ["console", "incident"])
def test_a_cut_redis_ends_sockets_with_try_again_later_and_they_come_back(redis_proxy, page, caplog):
    data = seed_console()
    alice, main = data.users["alice"], data.main
    path = "/ws/console/" if page == "console" else f"/ws/incidents/{main.pk}/"

    async def scenario():
        # Redis up: the socket opens and a push arrives.
        live = communicator(path, alice)
        assert (await live.connect(timeout=10))[0]
        # Redis cut: the open socket's wait for its next message breaks; it is closed with 1013.
        redis_proxy.cut()
        assert await closed_with(live) == CLOSE_TRY_AGAIN_LATER
        # A new socket meanwhile: accepted and closed with 1013 (the browser retries later); not a 500.
        fresh = communicator(path, alice)
        await fresh.connect(timeout=10)
        assert await closed_with(fresh) == CLOSE_TRY_AGAIN_LATER
        # Redis back: the browser tries again (htmx's ws extension, after a delay). A pooled
        # connection that broke in the cut may fail that first try with 1013 once more (it is
        # dropped then); within a few tries one stays open and receives what is pushed.
        redis_proxy.restore()
        message = {}
        for attempt in range(1, 5):
            back = communicator(path, alice)
            try:
                if not (await back.connect(timeout=10))[0]:
                    continue
            except asyncio.TimeoutError:
                continue  # a handshake that hung on a pooled connection broken in the cut: the browser retries
            for _ in range(3):  # what a change pushes after commit (the next change pushes again)
                try:
                    await sync_to_async(broadcast.incident_changed)(incident_id=main.pk)
                    break
                except LAYER_ERRORS:
                    pass  # the sender's pool had a connection broken in the cut too: dropped now
            message = await back.receive_output(timeout=10)
            if message["type"] == "websocket.send":
                break
            assert message == {"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER}
        assert message.get("type") == "websocket.send" and f"incident-{main.pk}-" in message["text"], "no reconnect once Redis answered"
        await back.disconnect()

    async_to_sync(scenario)()
    assert "channel layer unavailable" in caplog.text
    assert "Traceback" not in caplog.text
