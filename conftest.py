"""Project-wide test fixtures. Tests run against the database DATABASE_URL names (PostgreSQL in
CI, through .ci/run), or the embedded SQLite default."""
import pytest

pytest_plugins = ["incidents.tests.fixtures"]


@pytest.fixture(autouse=True)
def _test_settings(settings):
    # Tasks run in-process so tests can see their effects; nothing reaches an outside service.
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
