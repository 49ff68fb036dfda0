"""Test data of the integrations app (factory_boy): users and their Slack links."""
from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from integrations.models import SlackUserLink


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")


class SlackUserLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlackUserLink

    team_id = "T0FAKE0001"
    slack_user_id = factory.Sequence(lambda n: f"U{n:09d}")
    user = factory.SubFactory(UserFactory)

