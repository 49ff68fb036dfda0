"""Stored links are http(s) only: refused where they are stored (topology API, admin forms), and
never rendered as a link when an older row holds something else."""
from __future__ import annotations

import json

import pytest

from incidents.models import Pattern, Service

pytestmark = pytest.mark.django_db

HOSTILE = ["javascript:alert(document.cookie)", "JavaScript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:x", "ftp://files.example.com/runbook", "//evil.example.com/x", "not a url"]


@pytest.mark.parametrize("url", HOSTILE)
def test_the_topology_api_refuses_a_runbook_url_that_is_not_http_naming_the_field(admin_client, url):
    body = {"services": [{"name": "checkout", "runbook_url": "https://runbooks.example.com/checkout"}, {"name": "payments", "runbook_url": url}]}
    response = admin_client.post("/api/v1/services", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"index": 1, "field": "runbook_url", "reason": "must be an http:// or https:// link"}]
    assert not Service.objects.exists()  # refused whole


def test_http_and_https_runbooks_are_kept(admin_client):
    body = {"services": [{"name": "checkout", "runbook_url": "https://runbooks.example.com/checkout"}, {"name": "payments", "runbook_url": "http://wiki.local/payments"}, {"name": "web", "runbook_url": ""}]}
    assert admin_client.post("/api/v1/services", json.dumps(body), content_type="application/json").status_code == 200
    assert dict(Service.objects.values_list("name", "runbook_url")) == {"checkout": "https://runbooks.example.com/checkout", "payments": "http://wiki.local/payments", "web": ""}


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "ftp://files.example.com/runbook"])
def test_the_admin_refuses_a_service_runbook_that_is_not_http(admin_client, url):
    response = admin_client.post("/admin/incidents/service/add/", {"name": "checkout", "tier": "", "team": "", "runbook_url": url, "description": "",
                                                                        "created_at_0": "2026-11-30", "created_at_1": "10:00:00"})
    errors = response.context["adminform"].form.errors
    assert response.status_code == 200 and list(errors) == ["runbook_url"], errors
    assert not Service.objects.exists()


def test_a_stored_hostile_link_is_not_rendered_as_one(seeded, alice):
    """Rows stored before the check: the service map, the recommendations and the pattern library
    show no link for them."""
    main = seeded.main
    service = main.root_cause_service
    Service.objects.filter(pk=service.pk).update(runbook_url="javascript:alert(document.cookie)")
    Pattern.objects.filter(pk=main.pattern_id).update(runbook_url="javascript:alert(2)")
    pages = [alice.get(f"/incidents/{main.number}/map/"), alice.get(f"/incidents/{main.number}/recommendations/"), alice.get("/patterns/")]
    for page in pages:
        assert page.status_code == 200
        assert "javascript:" not in page.content.decode().lower()
