"""Real data stays real: no demo in a production configuration; the demo, where loaded, is marked
and comes out with one command, leaving everything else."""
from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from incidents.management.commands.demo_setup import DEMO_MARK
from incidents.models import Event, Incident, Service

pytestmark = pytest.mark.django_db


def test_demo_setup_refuses_when_the_demo_is_off(monkeypatch):
    monkeypatch.setenv("CLEARA_DEMO", "0")
    with pytest.raises(CommandError, match="CLEARA_DEMO=0"):
        call_command("demo_setup", stdout=StringIO())
    assert not get_user_model().objects.exists()
    assert not Service.objects.exists() and not Event.objects.exists() and not Incident.objects.exists()
    assert not apps.get_model("correlation", "SeriesBaseline").objects.exists()  # no warmed baselines either


def test_first_admin_comes_from_the_environment_once_and_never_from_the_demo(monkeypatch):
    from cleara.bootstrap import first_admin

    state, line = first_admin({})
    assert state == "missing" and "createsuperuser" in line
    state, line = first_admin({"DJANGO_SUPERUSER_USERNAME": "ops", "DJANGO_SUPERUSER_PASSWORD": "pw-ops-123456"})
    assert state == "created" and "log in at" in line
    admin = get_user_model().objects.get(username="ops")
    assert admin.is_superuser and admin.check_password("pw-ops-123456")
    # Run again with other values: the existing administrator is left alone.
    state, _ = first_admin({"DJANGO_SUPERUSER_USERNAME": "ops", "DJANGO_SUPERUSER_PASSWORD": "changed-later-999"})
    assert state == "exists"
    admin.refresh_from_db()
    assert admin.check_password("pw-ops-123456")
    assert not get_user_model().objects.filter(username="demo").exists()


@pytest.mark.slow
def test_demo_is_marked_and_removed_with_one_command_leaving_real_data(api, monkeypatch, settings, tmp_path):
    monkeypatch.delenv("CLEARA_DEMO", raising=False)
    settings.VAR_DIR = tmp_path
    call_command("demo_setup", stdout=StringIO())
    demo_services = Service.objects.filter(description=DEMO_MARK)
    assert demo_services.count() >= 21
    assert Event.objects.filter(source=Event.Source.SIMULATOR).exists()
    demo_incidents = Incident.objects.count()
    assert demo_incidents > 0
    # Real traffic next to the demo: a real service, and a real alert on a demo-named service.
    real = [
        {"id": "real-1", "timestamp": "2026-11-30T10:00:00Z", "service": "billing-real", "type": "alert", "severity": "critical",
         "message": "invoice run failed"},
        {"id": "real-2", "timestamp": "2026-11-30T10:00:05Z", "service": "billing-real", "type": "log", "severity": "warning",
         "message": "retrying invoice run"},
    ]
    assert api.post("/api/v1/events", real).status_code == 202
    real_incidents = set(Incident.objects.filter(events__client_id="real-1").values_list("pk", flat=True))
    assert real_incidents
    real_user = get_user_model().objects.create_user(username="oncall-real", password="pw-real-12345")

    out = StringIO()
    call_command("demo_remove", stdout=out)
    assert "Demo removed" in out.getvalue()
    assert not get_user_model().objects.filter(username="demo").exists()
    assert get_user_model().objects.filter(pk=real_user.pk).exists()
    assert not Event.objects.filter(source=Event.Source.SIMULATOR).exists()
    assert not Service.objects.filter(description=DEMO_MARK).exclude(events__isnull=False).exists()
    assert Event.objects.filter(client_id__in=["real-1", "real-2"]).count() == 2
    assert set(Incident.objects.values_list("pk", flat=True)) >= real_incidents
    assert Incident.objects.count() == len(real_incidents)
    assert Service.objects.filter(name="billing-real").exists()
    assert not (tmp_path / "demo_password").exists()
    # Twice is harmless: nothing left to remove.
    again = StringIO()
    call_command("demo_remove", stdout=again)
    assert "0 incidents, 0 events, 0 services, 0 users" in again.getvalue()
