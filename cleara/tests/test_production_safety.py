"""Production safety: the development key is refused without DEBUG, `check --deploy` passes with
production settings, every page carries a Content-Security-Policy without inline scripts and
refuses framing, and logins are throttled (console and admin alike)."""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

BASE_DIR = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    environ.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environ, capture_output=True, text=True, timeout=120)


def test_the_development_key_is_refused_when_debug_is_off():
    result = manage("check", DJANGO_DEBUG="0", DJANGO_SECRET_KEY="cleara-dev-insecure-key-change-me")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "published development key" in result.stderr


def test_the_development_key_still_runs_with_debug_on():
    result = manage("check", DJANGO_DEBUG="1", DJANGO_SECRET_KEY="cleara-dev-insecure-key-change-me")
    assert result.returncode == 0, result.stderr


def test_check_deploy_passes_with_production_settings():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_DEBUG="0", DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DJANGO_HTTPS="1",
        DJANGO_SECURE_PROXY_SSL_HEADER="1", DJANGO_ALLOWED_HOSTS="cleara.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_names_what_is_missing_without_https():
    result = manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_DEBUG="0", DJANGO_SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode != 0
    for code in ("security.W004", "security.W008", "security.W012", "security.W016"):  # HSTS, redirect, cookies
        assert code in result.stdout + result.stderr


def test_production_settings_come_from_the_environment():
    code = (
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, s.X_FRAME_OPTIONS)"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environ.update(DJANGO_SETTINGS_MODULE="cleara.settings", DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DJANGO_HTTPS="1", DJANGO_SECURE_PROXY_SSL_HEADER="1", DJANGO_SECURE_HSTS_SECONDS="600")
    out = subprocess.run([sys.executable, "-c", "import django; django.setup();" + code], cwd=BASE_DIR, env=environ, capture_output=True, text=True, timeout=120)
    assert out.stdout.split()[-7:] == ["True", "True", "True", "600", "('HTTP_X_FORWARDED_PROTO',", "'https')", "DENY"], out.stderr


@pytest.mark.django_db
def test_pages_carry_a_csp_without_inline_scripts_and_refuse_framing(alice, seeded):
    urls = [
        "/", reverse("incidents:detail", args=[seeded.main.number]), reverse("incidents:timeline", args=[seeded.main.number]),
        reverse("incidents:rca", args=[seeded.main.number]), reverse("incidents:map", args=[seeded.main.number]),
        reverse("incidents:investigate", args=[seeded.main.number]), reverse("incidents:collaborate", args=[seeded.main.number]),
        reverse("incidents:patterns"), reverse("correlation:models"), reverse("integrations:list"), "/api/v1/docs",
    ]
    for url in urls:
        response = alice.get(url)
        assert response.status_code == 200, url
        policy = response["Content-Security-Policy"]
        script_src = re.search(r"script-src ([^;]*)", policy).group(1)
        assert script_src == "'self'", (url, policy)
        assert "frame-ancestors 'none'" in policy and response["X-Frame-Options"] == "DENY"
        html = response.content.decode()
        # Every <script> loads a file (or is a JSON data block): nothing inline runs.
        for tag, content in re.findall(r"(<script\b[^>]*>)(.*?)</script>", html, flags=re.S):
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag, content[:200])
        assert not re.search(r"\son[a-z]+\s*=", html), url  # no inline event handlers
        assert "javascript:" not in html, url
        # Nothing from a CDN or any other host: every URL the page names (not its random tokens,
        # a CSRF token may hold the letters "cdn") has no CDN in it, and what it loads is its own (or inline data).
        urls_named = re.findall(r"""\b(?:src|href|action)\s*=\s*["']([^"']*)["']""", html)
        assert urls_named and not [u for u in urls_named if "cdn" in u.lower()], url
        loads = re.findall(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*["']([^"']*)["']""", html)
        assert all(u.startswith("data:") or (u.startswith("/") and not u.startswith("//")) for u in loads), (url, loads)


@pytest.mark.django_db
@pytest.mark.parametrize("login_url", ["/login/", "/admin/login/"])
def test_wrong_passwords_lock_the_login_out_even_for_the_right_one(client, django_user_model, settings, login_url):
    django_user_model.objects.create_user("oncall", password="the-right-password-1", is_staff=True)
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(login_url, {"username": "oncall", "password": f"wrong-{attempt}"})
        assert response.status_code in (200, 429)
    response = client.post(login_url, {"username": "oncall", "password": "the-right-password-1"})
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_few_typos_then_the_right_password_logs_in_and_resets_the_count(client, django_user_model, settings):
    django_user_model.objects.create_user("oncall", password="the-right-password-1")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/login/", {"username": "oncall", "password": "typo"}).status_code == 200
    assert client.post("/login/", {"username": "oncall", "password": "the-right-password-1"}).status_code == 302
    client.logout()
    assert client.post("/login/", {"username": "oncall", "password": "typo"}).status_code == 200  # counted from zero again
