"""Fixtures of the end-to-end tests: the console served by daphne, and headless Chromium.

The server is the real thing: `daphne cleara.asgi:application` in a subprocess (HTTP and
WebSockets), on a free port, against the test database, with the channel layer the settings
choose (Redis when REDIS_URL is set). Tests write with transactional_db so that the server sees
their data. Django's SQLite test database lives in memory, out of the subprocess's reach, so a
session that runs e2e tests on SQLite puts it in a temporary file instead.

Registered in the root conftest.py (pytest_plugins) because `django_db_modify_db_settings` must
apply to the whole session, whichever test asks for the database first.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
ARTIFACTS = BASE_DIR / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


def _session_runs_e2e(session) -> bool:
    return any(item.get_closest_marker("e2e") for item in session.items)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(request, django_db_modify_db_settings_parallel_suffix) -> None:
    """pytest-django's hook, plus: an SQLite test database in a file when e2e tests run."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.sqlite3" or not _session_runs_e2e(request.session):
        return
    path = Path(tempfile.gettempdir()) / f"cleara-e2e-{os.getpid()}.sqlite3"
    db.setdefault("TEST", {})["NAME"] = str(path)

    def cleanup():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    request.addfinalizer(cleanup)


def _database_url(db: dict) -> str:
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def console_server(django_db_setup, django_db_blocker) -> str:
    """The console on http://127.0.0.1:<port>, served by daphne against the test database."""
    from django.db import connection

    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.fail("the e2e server needs a file database; django_db_modify_db_settings did not run")
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(connection.settings_dict),
        # Tasks run inline in the server, as the test suite runs them: feedback is applied at once.
        "Q_SYNC": "1",
        "DJANGO_DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
    }
    log = open(ARTIFACTS / "e2e-server.log", "w")  # noqa: SIM115 - closed in the teardown
    # The server serves static files as production does: hashed, compressed, from STATIC_ROOT.
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=BASE_DIR, env=env, check=True,
                   stdout=log, stderr=subprocess.STDOUT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "cleara.asgi:application"],
        cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail(f"daphne did not start; see {ARTIFACTS / 'e2e-server.log'}")
        time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    # The server's connections are gone: the test database can be dropped.
    connection.close()


@pytest.fixture(scope="module")
def chromium():
    """Debian's headless Chromium driven by Playwright (its own browser download is not used).

    Module-scoped, not session-scoped: while Playwright's sync API runs it keeps an event loop in
    this thread, and async_to_sync (channel layers, consumers) refuses to run in such a thread.
    Stopping it after the e2e module gives the thread back to the tests that follow.
    """
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait for their condition as long as actions do (15 s, not Playwright's 5): on a
    # loaded machine the first chart waited for plotly.js past 5 s (one e2e run in ten, load 13).
    expect.set_options(timeout=15_000)
    # Playwright's sync API keeps an event loop in this thread; the tests' ORM calls are
    # sequential and never share it, so Django's async-safety check can stand down.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Console:
    """One e2e test's view of the console: its URL, seeded data, logged-in browser pages."""

    def __init__(self, url: str, browser, data):
        self.url = url
        self.browser = browser
        self.data = data
        self.contexts = []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def page(self, username: str = "alice", *, width: int = 1400, height: int = 900, **context_options):
        """A new browser (context) logged in as `username`, with runbook links answered locally."""
        from django.conf import settings
        from django.test import Client

        client = Client()
        client.force_login(self.data.users[username])
        context = self.browser.new_context(viewport={"width": width, "height": height}, base_url=self.url, **context_options)
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": self.url}])
        # The machine may have no internet: runbook links open a local stand-in.
        context.route("https://runbooks.example.com/**", lambda route: route.fulfill(
            status=200, content_type="text/html", body=f"<html><title>Runbook</title><body><h1>Runbook</h1><p>{route.request.url}</p></body></html>"))
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.console_errors = []
        page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
        return page

    def shot(self, page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar belongs at the top
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def console(console_server, chromium, transactional_db):
    from incidents.tests.seed import seed_console

    console = Console(console_server, chromium, seed_console())
    yield console
    console.close()
