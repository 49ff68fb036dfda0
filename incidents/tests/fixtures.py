"""Shared fixtures: users, API tokens, an authenticated API client, incidents."""
from __future__ import annotations

import json


import pytest
from django.test import Client

from incidents.factories import IncidentFactory
from incidents.models import Incident
from incidents.tests.seed import SeedResult, seed_console
from incidents.tokens import api_token_create


@pytest.fixture
def seeded(db) -> SeedResult:
    """The console's demo data: a topology, users, incidents with hypotheses, events and notes."""
    return seed_console()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="oncall", email="oncall@example.com", password="pw-oncall-123")


@pytest.fixture
def logged_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def api_token(db) -> str:
    """A token with every scope: these tests are about what the API does; what each scope may do
    is access/tests/test_permissions.py's table."""
    _, raw = api_token_create(name="test-token", scopes=["ingest", "read", "admin"])
    return raw


class ApiClient:
    """A test client that sends the bearer token and JSON bodies."""

    def __init__(self, token: str):
        self.client = Client()
        self.auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def post(self, path: str, data, content_type: str = "application/json", **extra):
        body = data if isinstance(data, (bytes, str)) else json.dumps(data)
        return self.client.post(path, body, content_type=content_type, **self.auth, **extra)

    def get(self, path: str, **params):
        return self.client.get(path, params, **self.auth)


@pytest.fixture
def api(api_token) -> ApiClient:
    return ApiClient(api_token)


@pytest.fixture
def make_incident(db):
    """A plain incident row (incidents.factories.IncidentFactory): `services` are names, the first
    its root cause; numbers count from 1001 in each test."""
    IncidentFactory.reset_sequence(0)

    def make(**kwargs) -> Incident:
        names = kwargs.pop("services", ["checkout"])
        return IncidentFactory(service_names=tuple(names), services=names, **kwargs)

    return make
