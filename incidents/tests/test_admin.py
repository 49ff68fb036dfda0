"""The pattern editor in the admin: signals, steps and the runbook link as fields with rules,
stored in the shape correlation.patterns reads."""
from __future__ import annotations

import pytest
from django.urls import reverse

from incidents.models import Pattern

pytestmark = pytest.mark.django_db

VALID = {
    "name": "Kafka consumer lag", "slug": "kafka-consumer-lag", "incident_type": "queue", "description": "Consumers fall behind.",
    "keywords": "Consumer lag\n\n  rebalancing   group \n", "metrics": "kafka_consumergroup_lag\nconsumer:lag_seconds",
    "tiers": "Queue", "min_score": "0.4", "steps": "Check the consumers' health.\nScale the consumer group out — one consumer per partition at most.\n",
    "runbook_url": "https://runbooks.example.com/kafka-lag", "origin": "curated", "state": "accepted", "enabled": "on",
}


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("curator", "c@example.com", "pw-curator-12345"))
    return client


def test_the_editor_has_fields_for_signals_steps_and_runbook_not_json_boxes(staff):
    page = staff.get(reverse("admin:incidents_pattern_add")).content.decode()
    for name in ("keywords", "metrics", "tiers", "min_score", "steps", "runbook_url"):
        assert f'name="{name}"' in page
    assert 'name="signals"' not in page and 'name="remediation"' not in page
    assert "cleara/css/admin" in page  # the console's look


def test_a_valid_pattern_is_stored_as_the_matcher_reads_it(staff):
    response = staff.post(reverse("admin:incidents_pattern_add"), VALID)
    assert response.status_code == 302, response.content.decode()[:2000]
    pattern = Pattern.objects.get(slug="kafka-consumer-lag")
    assert pattern.signals == {"keywords": ["consumer lag", "rebalancing group"], "metrics": ["kafka_consumergroup_lag", "consumer:lag_seconds"],
                               "tiers": ["queue"], "min_score": 0.4}
    assert pattern.remediation == ["Check the consumers' health.",
                                   {"action": "Scale the consumer group out", "detail": "one consumer per partition at most."}]
    # Editing shows the lists one per line and keeps signal keys the form does not know.
    Pattern.objects.filter(pk=pattern.pk).update(signals={**pattern.signals, "extra": {"kept": True}})
    page = staff.get(reverse("admin:incidents_pattern_change", args=[pattern.pk])).content.decode()
    assert "consumer lag\nrebalancing group</textarea>" in page
    assert "Scale the consumer group out — one consumer per partition at most.</textarea>" in page
    staff.post(reverse("admin:incidents_pattern_change", args=[pattern.pk]), {**VALID, "keywords": "lag"})
    pattern.refresh_from_db()
    assert pattern.signals["keywords"] == ["lag"] and pattern.signals["extra"] == {"kept": True}


@pytest.mark.parametrize("change, field, message", [
    ({"metrics": "kafka lag"}, "metrics", "'kafka lag' is not a valid metric name"),
    ({"keywords": "lag\nLAG"}, "keywords", "'lag' is listed twice"),
    ({"keywords": "", "metrics": ""}, None, "give at least one of either"),
    ({"steps": "\n\n"}, "steps", "give at least one remediation step"),
    ({"runbook_url": "ftp://example.com/x"}, "runbook_url", "starts with http:// or https://"),
    ({"min_score": "3"}, "min_score", "less than or equal to 1"),
    ({"tiers": "data base"}, "tiers", "'data base' is not a valid tier"),
])
def test_bad_input_is_refused_with_the_reason_and_nothing_is_stored(staff, change, field, message):
    response = staff.post(reverse("admin:incidents_pattern_add"), {**VALID, **change})
    assert response.status_code == 200
    form = response.context["adminform"].form
    errors = form.errors.get(field or "__all__", [])
    assert any(message in e for e in errors), form.errors
    assert not Pattern.objects.filter(slug="kafka-consumer-lag").exists()
