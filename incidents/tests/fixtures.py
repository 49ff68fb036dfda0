"""Shared fixtures: users, API tokens, an authenticated API client, incidents."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from incidents.models import Incident, Service
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
    _, raw = api_token_create(name="test-token")
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


T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def make_incident(db):
    counter = {"n": 1000}

    def make(**kwargs) -> Incident:
        counter["n"] += 1
        services = kwargs.pop("services", ["checkout"])
        svc = [Service.objects.get_or_create(name=name)[0] for name in services]
        defaults = dict(
            number=counter["n"],
            title=f"Incident {counter['n']}",
            grouping_key=f"test:{counter['n']}",
            started_at=T0,
            last_event_at=T0 + timedelta(minutes=5),
            severity="critical",
            root_cause_service=svc[0],
            confidence=0.9,
            hypotheses=[{"service": s.name, "score": 0.9 - i * 0.3, "reasons": [], "evidence": []} for i, s in enumerate(svc)],
        )
        defaults.update(kwargs)
        incident = Incident.objects.create(**defaults)
        incident.services.set(svc)
        return incident

    return make
