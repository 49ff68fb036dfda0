"""Project-wide test fixtures. Tests run against the database DATABASE_URL names (PostgreSQL in
CI, through .ci/run), or the embedded SQLite default."""
import pytest

pytest_plugins = ["incidents.tests.fixtures"]


@pytest.fixture(autouse=True)
def _test_settings(settings, monkeypatch):
    # Tasks run in-process so tests can see their effects; nothing reaches an outside service.
    # django-q2 reads Q_CLUSTER once, at import, into Conf: the flag must be set there too.
    from django_q.conf import Conf

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    monkeypatch.setattr(Conf, "SYNC", True)
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
