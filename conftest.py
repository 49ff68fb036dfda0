"""Project-wide test fixtures. Tests run against the database DATABASE_URL names (PostgreSQL in
CI, through .ci/run), or the embedded SQLite default."""
import pytest

pytest_plugins = ["incidents.tests.fixtures", "incidents.tests.browser"]


@pytest.fixture(autouse=True)
def _test_settings(settings, monkeypatch):
    # Tasks run in-process so tests can see their effects; nothing reaches an outside service.
    # django-q2 reads Q_CLUSTER once, at import, into Conf: the flag must be set there too.
    from django_q.conf import Conf

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    monkeypatch.setattr(Conf, "SYNC", True)
    # Ingest processes inline, as in the embedded default, even where REDIS_URL is set (CI): the
    # queue and its workers have their own tests (incidents/tests/test_ingest_queue.py), which
    # switch INGEST_ASYNC on with a real worker process.
    settings.INGEST_ASYNC = False
    # API tokens a test cached must not outlive its rolled-back rows (cleara.tokencache).
    from cleara import tokencache

    tokencache.clear()
    # No test reaches Slack or PagerDuty because a developer's shell has credentials set:
    # integration tests switch them on, pointed at local receivers.
    for name in ("SLACK_ENABLED", "SLACK_OAUTH_ENABLED", "PAGERDUTY_ENABLED", "PAGERDUTY_API_ENABLED"):
        setattr(settings, name, False)
    for name in ("SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "PAGERDUTY_ROUTING_KEY", "PAGERDUTY_API_TOKEN"):
        setattr(settings, name, "")
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
