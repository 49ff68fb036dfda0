"""Slack bot tokens are encrypted in the database, readable through the model, and rotatable."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from cleara import encryption
from integrations.models import SlackInstallation

pytestmark = pytest.mark.django_db


def raw_row(pk: int) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT bot_token, data FROM integrations_slackinstallation WHERE id = %s", [pk])
        return cursor.fetchone()


def install(token: str = "xoxb-T1-secret-123") -> SlackInstallation:
    return SlackInstallation.objects.create(client_id="c1", team_id="T1", bot_token=token, data={"bot_token": token, "user_token": "xoxp-user-secret"})


def test_tokens_are_encrypted_in_the_database_and_plain_through_the_model():
    row = install()
    stored_token, stored_data = raw_row(row.pk)
    assert stored_token.startswith("fernet:") and "secret" not in stored_token
    assert "secret" not in str(stored_data) and "xoxp" not in str(stored_data)
    again = SlackInstallation.objects.get(pk=row.pk)
    assert again.bot_token == "xoxb-T1-secret-123"
    assert again.data == {"bot_token": "xoxb-T1-secret-123", "user_token": "xoxp-user-secret"}
    assert SlackInstallation.objects.exclude(bot_token="").count() == 1
    SlackInstallation.objects.filter(pk=row.pk).update(bot_token="")
    assert SlackInstallation.objects.exclude(bot_token="").count() == 0


def test_a_key_from_the_environment_rotates_without_losing_what_is_stored(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CLEARA_ENCRYPTION_KEYS = [old]
    row = install()
    settings.CLEARA_ENCRYPTION_KEYS = [new, old]  # new first: it encrypts, both decrypt
    assert SlackInstallation.objects.get(pk=row.pk).bot_token == "xoxb-T1-secret-123"
    row.save()
    settings.CLEARA_ENCRYPTION_KEYS = [new]
    assert SlackInstallation.objects.get(pk=row.pk).bot_token == "xoxb-T1-secret-123"
    settings.CLEARA_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the key was lost
    with pytest.raises(ImproperlyConfigured, match="does not open"):
        SlackInstallation.objects.get(pk=row.pk)


def test_values_written_before_encryption_are_read_and_encrypted_on_save():
    row = install()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE integrations_slackinstallation SET bot_token = %s, data = %s WHERE id = %s", ["xoxb-legacy", '{"bot_token": "xoxb-legacy"}', row.pk])
    legacy = SlackInstallation.objects.get(pk=row.pk)
    assert legacy.bot_token == "xoxb-legacy" and legacy.data == {"bot_token": "xoxb-legacy"}
    legacy.save()
    assert raw_row(row.pk)[0].startswith(encryption.PREFIX)


def test_a_malformed_key_is_a_configuration_error(settings):
    settings.CLEARA_ENCRYPTION_KEYS = ["not-a-key"]
    with pytest.raises(ImproperlyConfigured, match="CLEARA_ENCRYPTION_KEYS"):
        encryption.encrypt("x")
