"""Backups: dump the live database with scripts/pg-backup, restore it into a fresh database, and
find the same incidents, events and users there (docs/operations.md)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _url(settings: dict, name: str) -> str:
    user = quote(settings.get("USER") or "postgres")
    password = f":{quote(settings['PASSWORD'])}" if settings.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{settings.get('HOST') or '127.0.0.1'}:{settings.get('PORT') or 5432}/{name}"


def _count(url: str, sql: str) -> int:
    return int(subprocess.run(["psql", "-Atqc", sql, url], capture_output=True, text=True, check=True).stdout.strip())


@pytest.mark.slow
def test_dump_and_restore_into_a_fresh_database_keeps_every_incident(transactional_db, make_incident, django_user_model, tmp_path):
    if connection.vendor != "postgresql" or not shutil.which("pg_dump"):
        pytest.skip("backups are of PostgreSQL (run with DATABASE_URL=postgres://...)")
    from incidents.models import Event, Incident, Service

    for n in range(5):
        make_incident(title=f"Backup test {n}", services=["checkout", "payments"])
    service = Service.objects.get(name="checkout")
    Event.objects.bulk_create([Event(timestamp=Incident.objects.first().started_at, service=service, type="log", severity="info",
                                     message=f"line {i}", fingerprint=f"f{i}") for i in range(50)])
    django_user_model.objects.create_user(username="restored-admin", password="pw-restored-123")
    source = _url(connection.settings_dict, connection.settings_dict["NAME"])
    target_name = f"{connection.settings_dict['NAME']}_restore_{os.getpid()}"
    target = _url(connection.settings_dict, target_name)
    dump = tmp_path / "cleara.dump"
    try:
        subprocess.run([str(ROOT / "scripts/pg-backup"), "dump", source, str(dump)], check=True, capture_output=True, text=True)
        assert dump.stat().st_size > 0
        restore = subprocess.run([str(ROOT / "scripts/pg-backup"), "restore", str(dump), target], capture_output=True, text=True)
        assert restore.returncode == 0, restore.stderr
        assert _count(target, "SELECT count(*) FROM incidents_incident") == Incident.objects.count() == 5
        assert _count(target, "SELECT count(*) FROM incidents_event") == Event.objects.count() == 50
        assert _count(target, "SELECT count(*) FROM auth_user WHERE username = 'restored-admin'") == 1
        # The restored schema is complete: Django finds no migration to apply there.
        plan = subprocess.run([str(ROOT / "scripts/entrypoint"), "manage", "migrate", "--plan"], cwd=ROOT,
                              env={**os.environ, "DATABASE_URL": target, "PYTHON": sys.executable},
                              capture_output=True, text=True)
        assert plan.returncode == 0, plan.stderr
        assert "No planned migration operations" in plan.stdout
    finally:
        subprocess.run(["psql", "-qc", f'DROP DATABASE IF EXISTS "{target_name}"', _url(connection.settings_dict, "postgres")],
                       capture_output=True)
