"""Fixtures of the console's tests: seeded data, logged-in clients, an isolated channel layer."""
from __future__ import annotations

import uuid

import pytest
from django.test import Client


HTMX = {"HTTP_HX_REQUEST": "true"}


def htmx(target: str | None = None) -> dict:
    """Headers of an htmx request aimed at `target` (an element id)."""
    return {**HTMX, **({"HTTP_HX_TARGET": target} if target else {})}


@pytest.fixture
def alice(seeded) -> Client:
    client = Client()
    client.force_login(seeded.users["alice"])
    return client


@pytest.fixture
def isolated_channel_layer(settings):
    """The configured channel layer, on a prefix of its own when it is Redis.

    Other test sessions may share the Redis server; a private prefix keeps their pushes out of
    this test's groups. Channels rebuilds its layers when CHANNEL_LAYERS changes.
    """
    layers = {alias: {**conf} for alias, conf in settings.CHANNEL_LAYERS.items()}
    default = layers["default"]
    if "redis" in default["BACKEND"].lower():
        default["CONFIG"] = {**default.get("CONFIG", {}), "prefix": f"cleara-test-{uuid.uuid4().hex[:12]}"}
    settings.CHANNEL_LAYERS = layers
    from channels.layers import get_channel_layer

    return get_channel_layer()
