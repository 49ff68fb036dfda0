"""The audit log records every change by whom, masks secrets, and only admins read it."""
from __future__ import annotations

import pytest
from django.urls import reverse

from access import roles
from access.models import AuditEntry
from access.roles import Role

pytestmark = pytest.mark.django_db


def test_a_note_from_the_console_is_recorded_with_its_author_and_target(alice, seeded):
    url = reverse("incidents:note_add", args=[seeded.main.number])
    response = alice.post(url, {"body": "checked the pool", "api_token": "clr_secret"})
    assert response.status_code < 400
    entry = AuditEntry.objects.get(action="incidents:note_add")
    assert (entry.actor, entry.actor_label, entry.via, entry.target, entry.method) == (seeded.users["alice"], "alice", "console", f"incident {seeded.main.number}", "POST")
    assert entry.details["form"]["body"] == "checked the pool"
    assert entry.details["form"]["api_token"] == "********"
    assert "csrfmiddlewaretoken" not in str(entry.details) or entry.details["form"].get("csrfmiddlewaretoken") == "********"


def test_reads_and_anonymous_posts_are_not_changes(client, alice, seeded):
    alice.get(reverse("incidents:detail", args=[seeded.main.number]))
    client.post(reverse("incidents:note_add", args=[seeded.main.number]), {"body": "hello"})  # -> login
    assert not AuditEntry.objects.exists()


def test_only_admins_read_the_audit_log_in_the_admin(client, seeded, django_user_model):
    AuditEntry.objects.create(actor_label="alice", via="console", action="incidents:status", target="incident 1")
    staff_responder = django_user_model.objects.create_user("resp", password="x-long-password-1", is_staff=True)
    roles.assign_role(staff_responder, Role.RESPONDER)
    client.force_login(staff_responder)
    assert client.get("/admin/access/auditentry/").status_code == 403
    staff_admin = django_user_model.objects.create_user("adm", password="x-long-password-1", is_staff=True)
    roles.assign_role(staff_admin, Role.ADMIN)
    client.force_login(staff_admin)
    page = client.get("/admin/access/auditentry/")
    assert page.status_code == 200 and "incident 1" in page.content.decode()
    assert client.post("/admin/access/auditentry/add/", {}).status_code == 403  # read-only


def test_the_console_audit_page_is_for_admins_and_filters(client, alice, seeded, django_user_model):
    AuditEntry.objects.create(actor_label="bob", via="console", action="incidents:status", target="incident 1")
    AuditEntry.objects.create(actor_label="token:exporter", via="api", action="api:services_post", target="", allowed=False, status_code=403)
    page = alice.get("/audit/")  # alice is a superuser: an admin
    html = page.content.decode()
    assert page.status_code == 200 and "incidents:status" in html and "api:services_post" in html
    assert 'href="/audit/"' in alice.get("/").content.decode()  # in the admin's navigation
    refused = alice.get("/audit/", {"refused": "1"}).content.decode()
    assert "api:services_post" in refused and "incidents:status" not in refused
    assert "api:services_post" not in alice.get("/audit/", {"q": "bob"}).content.decode()
    responder = django_user_model.objects.create_user("resp2", password=None)
    roles.assign_role(responder, Role.RESPONDER)
    client.force_login(responder)
    assert client.get("/audit/").status_code == 403
    assert 'href="/audit/"' not in client.get("/").content.decode()
