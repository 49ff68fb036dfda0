"""In headless Chromium: under the Content-Security-Policy every page works (charts drawn, live
socket open, API docs) and the browser reports no violation."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "") + ":" + e.lineNumber);
});
"""


def test_every_page_works_under_the_csp_without_a_violation(console):
    main = console.data.main
    page = console.page("alice")
    page.add_init_script(RECORD_VIOLATIONS)
    messages = []
    page.on("console", lambda msg: messages.append(msg.text) if "Content Security Policy" in msg.text else None)

    response = page.goto("/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("[data-live-indicator]")).to_have_text("Live")
    expect(page.locator("#stats-trend-chart .main-svg").first).to_be_visible()  # drawn by charts.js
    assert page.evaluate("window.cspViolations") == []

    page.goto(f"/incidents/{main.number}/timeline/")
    chart = f"#incident-{main.pk}-timeline-chart .js-plotly-plot"
    expect(page.locator(chart)).to_be_visible()
    # (clicking a point into #event-detail through charts.js: incidents/tests/e2e/test_console.py)
    assert page.evaluate("window.cspViolations") == []

    for path in (f"/incidents/{main.number}/rca/", f"/incidents/{main.number}/map/", "/models/", "/integrations/", "/patterns/"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.cspViolations") == [], path
        assert page.errors == [], (path, page.errors)
    page.goto(f"/incidents/{main.number}/map/")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    page.goto("/api/v1/docs")
    expect(page.locator("#incidents_api_events_post")).to_be_visible()
    page.get_by_role("link", name="Try it out (Swagger UI)").click()
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert page.evaluate("window.cspViolations") == []
    assert messages == []
