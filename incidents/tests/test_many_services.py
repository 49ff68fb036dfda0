"""The console stays usable with thousands of services (issue 12): no page lists them all; a
service is found by typing (server-side search, at most 20 matches, as <datalist> options)."""
from __future__ import annotations

import pytest
from django.urls import reverse

from incidents.models import Service
from incidents.tests.conftest import HTMX, htmx

pytestmark = pytest.mark.django_db
MANY = 5000


def size(response) -> int:
    assert response.status_code == 200, response.status_code
    return len(response.content)


def test_pages_stay_small_with_5000_services(alice, seeded):
    main = seeded.main
    pages = {
        "dashboard": (reverse("incidents:dashboard"), {}),
        "dashboard rows": (reverse("incidents:dashboard"), htmx("dashboard-results")),
        "resolve step": (reverse("incidents:resolve", args=[main.number]), {}),
        "timeline": (reverse("incidents:timeline", args=[main.number]), {}),
    }
    before = {name: size(alice.get(url, **headers)) for name, (url, headers) in pages.items()}
    Service.objects.bulk_create([Service(name=f"svc-{i:04d}-{'x' * 20}") for i in range(MANY)])
    after = {name: size(alice.get(url, **headers)) for name, (url, headers) in pages.items()}
    print("\npage bytes before -> after 5,000 services:", {n: (before[n], after[n]) for n in pages})
    for name in pages:
        # One <option> per service would add >= 5000 * 40 bytes = 200 KB; allow a few hundred bytes.
        assert after[name] - before[name] < 1000, (name, before[name], after[name])
    assert b"svc-0042" not in alice.get(reverse("incidents:dashboard")).content


def test_the_service_search_finds_any_service_and_returns_at_most_20(alice, seeded):
    Service.objects.bulk_create([Service(name=f"svc-{i:04d}") for i in range(MANY)] + [Service(name="legacy-svc-4999-proxy")])
    url = reverse("incidents:service_options")
    html = alice.get(url, {"field": "service", "service": "svc-4999"}, **HTMX).content.decode()
    assert html.count("<option") == 2
    assert html.index('value="svc-4999"') < html.index('value="legacy-svc-4999-proxy"')  # prefix matches first
    assert alice.get(url, {"q": "svc-"}).content.decode().count("<option") == 20
    assert alice.get(url, {"field": "correct_service", "correct_service": "PAYMENTS"}).content.decode().count('value="payments') >= 1
    assert alice.get(url, {"q": "<script>"}).content.decode().count("<option") == 0


def test_the_dashboard_filters_by_a_typed_service_and_names_an_unknown_one(alice, seeded):
    ok = alice.get(reverse("incidents:dashboard"), {"service": "payments-db"}, **htmx("dashboard-results"))
    assert ok.status_code == 200
    unknown = alice.get(reverse("incidents:dashboard"), {"service": "no-such-service"}, **htmx("dashboard-results"))
    assert unknown.status_code == 422 and "There is no service named" in unknown.content.decode()


def test_the_feedback_form_takes_a_typed_service(alice, seeded):
    url = reverse("incidents:feedback", args=[seeded.main.number])
    page = alice.get(reverse("incidents:resolve", args=[seeded.main.number])).content.decode()
    assert 'name="correct_service"' in page and 'list="incident-' in page and 'hx-get="/services/options/"' in page
    wrong = alice.post(url, {"verdict": "no", "correct_service": "nope"}, **HTMX)
    assert wrong.status_code == 422 and "That service does not exist" in wrong.content.decode()
    assert alice.post(url, {"verdict": "no", "correct_service": "payments"}, **HTMX).status_code == 200


def test_the_search_needs_a_login(client):
    response = client.get(reverse("incidents:service_options"), {"q": "a"})
    assert response.status_code == 302 and "/login/" in response["Location"]
