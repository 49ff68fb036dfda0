"""The Models page: the registry in the console, with activate and roll back for administrators."""
import pytest

from correlation.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(db):
    old = ModelVersion.objects.create(kind="anomaly", version=1, parameters={"detector": "ensemble"},
                                      metrics={"series": 3, "points": 900, "anomalies": 4, "anomaly_rate": 4 / 900})
    new = ModelVersion.objects.create(kind="anomaly", version=2, parameters={"detector": "ensemble"}, active=True,
                                      metrics={"series": 3, "points": 1200, "anomalies": 5, "anomaly_rate": 5 / 1200,
                                               "nab": {"standard": 61.2}})
    return old, new


@pytest.fixture
def admin_client(client, django_user_model):
    from access.roles import Role, assign_role

    admin = django_user_model.objects.create_user(username="admin", password="pw-admin-123", is_staff=True)
    assign_role(admin, Role.ADMIN)
    client.force_login(admin)
    return client


def test_logged_out_gets_the_login_page(client):
    r = client.get("/models/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_lists_versions_with_metrics_and_chart(logged_in_client, versions):
    html = logged_in_client.get("/models/").content.decode()
    assert "anomaly v2" in html and "anomaly v1" in html
    assert "NAB 61.2" in html and "1200 points" in html
    assert 'id="model-metrics"' in html  # the chart
    assert "Activate" not in html  # a responder sees, an administrator changes


def test_empty_state_says_what_to_do(logged_in_client):
    html = logged_in_client.get("/models/").content.decode()
    assert "No model version yet" in html and "manage.py train" in html


def test_only_administrators_change_the_live_model(logged_in_client, versions):
    old, _ = versions
    assert logged_in_client.post(f"/models/{old.pk}/activate/").status_code == 403
    assert ModelVersion.objects.get(active=True).version == 2


def test_activate_and_roll_back(admin_client, versions):
    old, new = versions
    r = admin_client.post(f"/models/{old.pk}/activate/", follow=True)
    assert "anomaly v1 is now live" in r.content.decode()
    assert ModelVersion.objects.get(active=True).pk == old.pk
    admin_client.post(f"/models/{new.pk}/activate/")
    r = admin_client.post("/models/anomaly/rollback/", follow=True)
    assert "v1 is live again" in r.content.decode()
    r = admin_client.post("/models/anomaly/rollback/", follow=True)
    assert "nothing to roll back to" in r.content.decode()
    assert ModelVersion.objects.get(active=True).pk == old.pk


def test_train_queues_a_version(admin_client, db, api):
    # Tasks run inline in tests: the queued training really runs (on an empty history).
    r = admin_client.post("/models/train/", follow=True)
    assert r.status_code == 200 and "Training queued" in r.content.decode()
    assert ModelVersion.objects.filter(kind="anomaly").count() == 1
