"""The whole stack through nginx (scripts/stack.py): a private PostgreSQL cluster, Redis, two daphne
processes, the ingest tier (uvicorn), the worker, nginx and Prometheus, with the repository's own configuration files, on
loopback ports chosen at run time, under a temporary directory, stopped at the end.

Driven as a user and an operator would: log in in Chromium through nginx, send events to the API,
see the incident arrive over the WebSocket through the proxy, load static files from nginx, have
the worker finish a task (a model training asked through the API), and read everything back from
Prometheus, including every query of the Grafana dashboard. The dashboard's answers are written to
test-artifacts/stack-dashboard.txt.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cleara.tests.test_deploy import dashboard_queries
from scripts import stack as stack_module

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def stack():
    for tool in ("nginx", "prometheus", "redis-server", "runuser"):
        if not stack_module.shutil.which(tool):
            pytest.skip(f"{tool} is missing (.ci/run installs nginx-light and prometheus)")
    # Not pytest's tmp_path: its parent is private to this user, and PostgreSQL runs as `postgres` under root.
    workdir = Path(tempfile.mkdtemp(prefix="cleara-stack-test-"))
    running = stack_module.Stack(workdir=workdir, web=2, scrape_interval="1s")
    try:
        with running:
            yield running
        assert all(proc.poll() is not None for proc in running.procs.values()), "a stack process outlived the stack"
    finally:
        # The processes' logs outlive the stack (test-artifacts/stack-logs/): a failure once lost
        # daphne's traceback of a 500 with the temporary directory.
        if (workdir / "logs").is_dir():
            shutil.rmtree(ARTIFACTS / "stack-logs", ignore_errors=True)
            shutil.copytree(workdir / "logs", ARTIFACTS / "stack-logs")
        shutil.rmtree(workdir, ignore_errors=True)


def request(stack, method: str, path: str, *, token: str | None = None, body: bytes | None = None,
            content_type: str = "application/json", headers: dict | None = None):
    req = urllib.request.Request(stack.url + path, data=body, method=method, headers=dict(headers or {}))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def events(n: int, *, t0: datetime, prefix: str) -> list[dict]:
    out = []
    for i in range(n):
        ts = (t0 + timedelta(seconds=i)).isoformat()
        out.append({"id": f"{prefix}-m{i}", "timestamp": ts, "service": "payments", "type": "metric", "severity": "info",
                    "metric": "latency_p99_ms", "value": 120.0 + (i % 7), "host": "payments-1", "message": ""})
    return out


def wait_for(predicate, what: str, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.5)


def test_cleara_through_nginx_login_ingest_live_update_static_worker_and_prometheus(stack, chromium):
    from playwright.sync_api import expect

    assert "test is successful" in stack.nginx_test_output
    token = stack.manage("create_api_token", "stack-test", "--scope", "ingest", "--scope", "read", "--scope", "admin").strip()

    # --- a person logs in through nginx; the dashboard's WebSocket goes through the proxy --------
    context = chromium.new_context(base_url=stack.url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto("/login/")
    page.fill("#id_username", stack.admin[0])
    page.fill("#id_password", stack.admin[1])
    page.locator("form").get_by_role("button").click()
    page.wait_for_url(stack.url + "/")
    expect(page.locator("[data-live-indicator]")).to_have_text("Live")

    # --- ingest through nginx; an ingest worker opens the incident; the open page shows it, pushed over the socket ---
    now = datetime.now(UTC).replace(microsecond=0)
    alert = [{"id": "stack-alert-1", "timestamp": now.isoformat(), "service": "checkout", "type": "alert", "severity": "critical",
              "message": "Checkout error rate above 5%", "attributes": {"alertname": "CheckoutErrors"}}]
    status, headers, body = request(stack, "POST", "/api/v1/events", token=token, body=json.dumps(alert).encode())
    assert status == 202, body
    answer = json.loads(body)
    # Stored and queued: the stack's ingest workers (Redis streams) correlate it after the 202.
    assert answer["accepted"] == 1 and answer["incidents"] == [], answer
    before = time.monotonic()
    row = page.locator("[id^='incident-'][id$='-row']", has_text="checkout")
    expect(row).to_have_count(1, timeout=8_000)
    live_seconds = time.monotonic() - before
    incident_id = int(row.get_attribute("id").split("-")[1])
    assert incident_id > 0
    assert page.evaluate("window.cleara.wsMessages") > 0, "the row came by polling, not over the WebSocket"
    assert live_seconds < 8  # the polling fallback runs every 10 s
    # One request id ties nginx's access line to the application's.
    request_id = headers["X-Request-ID"]
    assert len(request_id) == 32
    nginx_lines = [json.loads(line) for line in stack.log("nginx").read_text().splitlines() if line.startswith("{")]
    line = next(line for line in nginx_lines if line["request_id"] == request_id)
    assert line["uri"] == "/api/v1/events" and line["status"] == 202
    # nginx sent the POST to the ingest tier (uvicorn), which logged it; daphne did not see it.
    assert line["upstream"] == f"127.0.0.1:{stack.ports['ingest-web'][0]}", line
    assert f'"request_id": "{request_id}"' in stack.log("ingest-web1").read_text()
    assert f'"request_id": "{request_id}"' not in "".join(stack.log(f"web{i}").read_text() for i in (1, 2))
    # So does the Alertmanager webhook (a bad one here: Cleara's refusal names what is wrong); the
    # rest of the API goes to daphne.
    status, headers, body = request(stack, "POST", "/api/v1/integrations/alertmanager", token=token, body=b"{}")
    assert status == 400 and json.loads(body)["detail"], body
    assert f'"request_id": "{headers["X-Request-ID"]}"' in stack.log("ingest-web1").read_text()
    status, headers, _ = request(stack, "GET", "/api/v1/incidents", token=token)
    assert status == 200 and f'"request_id": "{headers["X-Request-ID"]}"' not in stack.log("ingest-web1").read_text()

    # --- static files come from nginx, not from daphne ---------------------------------------------
    href = page.locator("link[rel=stylesheet]").first.get_attribute("href")
    assert href.startswith("/static/")
    status, headers, body = request(stack, "GET", href)
    assert status == 200 and headers["Cache-Control"] == "max-age=3600" and headers["X-Content-Type-Options"] == "nosniff"
    assert body == (ROOT / "static_root" / href.removeprefix("/static/")).read_bytes()
    assert f'"path": "{href}"' not in "".join(stack.log(f"web{i}").read_text() for i in (1, 2))
    page.screenshot(path=str(ARTIFACTS / "stack-dashboard-through-nginx.png"))
    context.close()

    # --- the proxy's limits and rules ---------------------------------------------------------------
    assert request(stack, "GET", "/metrics")[0] == 404
    too_big = b"[" + b" " * (12 * 1024 * 1024) + b"]"
    status, _, body = request(stack, "POST", "/api/v1/events", token=token, body=too_big)
    assert status == 413 and b"nginx" in body  # refused by nginx, before the ingest tier reads it
    just_under = b"[" + b" " * (10 * 1024 * 1024 + 512 * 1024) + b"]"
    status, _, body = request(stack, "POST", "/api/v1/events", token=token, body=just_under)
    assert 400 <= status < 500 and json.loads(body)["detail"]  # Cleara's own clear refusal

    # --- a worker task: train a model version, asked through the API -------------------------------
    for round_ in range(6):  # some metric history to train on, and traffic for the rates below
        batch = events(200, t0=now - timedelta(minutes=30) + timedelta(seconds=200 * round_), prefix=f"stack-r{round_}")
        status, _, body = request(stack, "POST", "/api/v1/events", token=token, body=json.dumps(batch).encode())
        assert status == 202, body
        time.sleep(1.0)
    status, _, body = request(stack, "POST", "/api/v1/ml/models/train", token=token,
                              body=json.dumps({"days": 1, "activate": True}).encode())
    assert status == 202, body

    def trained():
        _, _, body = request(stack, "GET", "/api/v1/ml/models", token=token)
        return [m for m in json.loads(body)["models"] if m["active"]]

    model = wait_for(trained, "the worker trained and activated a model", 180)[0]
    assert model["metrics"]["points"] >= 1200
    status, _, body = request(stack, "GET", "/readyz")
    assert status == 200, body
    assert json.loads(body)["checks"]["redis"] == "ok"
    alive = subprocess.run([stack_module.sys.executable, "-m", "cleara.health", "worker-alive"], cwd=ROOT, env=stack.env,
                           capture_output=True, text=True, timeout=60)
    assert alive.returncode == 0, alive.stdout + alive.stderr

    # --- Prometheus scrapes both web processes and the ingest tier and has loaded Cleara's rules ------------
    wait_for(lambda: len([r for r in stack.prometheus_query('up{job="cleara"}') if r["value"][1] == "1"]) == 3,
             "both web processes and the ingest tier scraped", 30)
    rules = json.loads(stack_module.http_get(stack.ports["prometheus"], "/api/v1/rules")[1])["data"]["groups"]
    assert [g["name"] for g in rules] == ["cleara"] and all(r["health"] == "ok" for r in rules[0]["rules"])

    # --- every query of the Grafana dashboard returns data from this Prometheus -------------------------
    answers = {}

    def all_answered():
        for title, expr in dashboard_queries():
            result = stack.prometheus_query(expr.replace("$__rate_interval", "30s"))
            answers[(title, expr)] = result
        return all(answers.values())

    try:
        wait_for(all_answered, "every dashboard query answered", 60)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        with open(ARTIFACTS / "stack-dashboard.txt", "w") as out:
            for (title, expr), result in answers.items():
                values = ", ".join(
                    f"{json.dumps(r['metric'], sort_keys=True) if r['metric'] else '{}'}={float(r['value'][1]):.4g}" for r in result
                )
                out.write(f"{title}\n  {expr}\n  -> {values or 'NO DATA'}\n")
    for (title, expr), result in answers.items():
        assert result, f"{title}: {expr} returned nothing"
