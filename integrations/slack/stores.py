"""Bolt's installation and OAuth state stores, kept in the database.

Bolt ships file, SQLAlchemy and SQLite stores but none for Django; these implement its
`InstallationStore` and `OAuthStateStore` interfaces on Django models, so that every process
(web servers, workers) sees the same installs, and several workspaces can install Cleara. The
interfaces come through `integrations.slack.client`, the only module that imports the SDK.
"""
from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.utils import timezone

from integrations.models import SlackInstallation, SlackOAuthState
from integrations.slack.client import (
    Bot,
    Installation,
    InstallationStore,
    OAuthStateStore,
    installation_from_dict,
    installation_to_dict,
)

log = logging.getLogger(__name__)


class DjangoInstallationStore(InstallationStore):
    def __init__(self, *, client_id: str):
        self.client_id = client_id

    @property
    def logger(self) -> logging.Logger:
        return log

    def _rows(self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False):
        rows = SlackInstallation.objects.filter(client_id=self.client_id, enterprise_id=enterprise_id or "")
        if not is_enterprise_install:
            rows = rows.filter(team_id=team_id or "")
        return rows.order_by("-installed_at", "-id")

    def save(self, installation: Installation) -> None:
        team_id = "" if installation.is_enterprise_install else (installation.team_id or "")
        SlackInstallation.objects.update_or_create(
            client_id=self.client_id,
            enterprise_id=installation.enterprise_id or "",
            team_id=team_id,
            user_id=installation.user_id or "",
            defaults={
                "app_id": installation.app_id or "",
                "team_name": installation.team_name or "",
                "bot_token": installation.bot_token or "",
                "bot_id": installation.bot_id or "",
                "bot_user_id": installation.bot_user_id or "",
                "incoming_webhook_channel_id": installation.incoming_webhook_channel_id or "",
                "incoming_webhook_channel": installation.incoming_webhook_channel or "",
                "is_enterprise_install": bool(installation.is_enterprise_install),
                "installed_at": timezone.now(),
                "data": installation_to_dict(installation),
            },
        )

    def save_bot(self, bot: Bot) -> None:
        # Token rotation refreshes the bot token of every install in the workspace.
        self._rows(enterprise_id=bot.enterprise_id, team_id=bot.team_id, is_enterprise_install=bot.is_enterprise_install).update(
            bot_token=bot.bot_token or "", bot_id=bot.bot_id or "", bot_user_id=bot.bot_user_id or ""
        )

    def find_installation(self, *, enterprise_id, team_id, user_id=None, is_enterprise_install=False) -> Installation | None:
        rows = self._rows(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install)
        if user_id is not None:
            rows = rows.filter(user_id=user_id)
        row = rows.first()
        if row is None:
            return None
        installation = installation_from_dict(row.data)
        if user_id is None:
            # The workspace's latest bot token, whoever installed last.
            installation.bot_token, installation.bot_id, installation.bot_user_id = row.bot_token, row.bot_id, row.bot_user_id
        return installation

    def find_bot(self, *, enterprise_id, team_id, is_enterprise_install=False) -> Bot | None:
        row = self._rows(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install).exclude(bot_token="").first()
        if row is None:
            return None
        installation = installation_from_dict(row.data)
        installation.bot_token, installation.bot_id, installation.bot_user_id = row.bot_token, row.bot_id, row.bot_user_id
        return installation.to_bot()

    def delete_bot(self, *, enterprise_id, team_id) -> None:
        self._rows(enterprise_id=enterprise_id, team_id=team_id).update(bot_token="", bot_id="", bot_user_id="")

    def delete_installation(self, *, enterprise_id, team_id, user_id=None) -> None:
        rows = self._rows(enterprise_id=enterprise_id, team_id=team_id)
        if user_id is not None:
            rows = rows.filter(user_id=user_id)
        rows.delete()


class DjangoOAuthStateStore(OAuthStateStore):
    """One-time OAuth states: issued by /slack/install, consumed once within `expiration_seconds`."""

    def __init__(self, *, expiration_seconds: int = 600):
        self.expiration_seconds = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return log

    def issue(self, *args, **kwargs) -> str:
        state = secrets.token_urlsafe(32)
        SlackOAuthState.objects.create(state=state)
        return state

    def consume(self, state: str) -> bool:
        oldest = timezone.now() - timedelta(seconds=self.expiration_seconds)
        SlackOAuthState.objects.filter(created_at__lt=oldest).delete()
        deleted, _ = SlackOAuthState.objects.filter(state=state, created_at__gte=oldest).delete()
        return deleted > 0
