"""Roles in a real browser: a viewer sees an incident, live, without the controls a viewer may not
use (also in fragments pushed to the page), and a refused request says why in the alert box."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from access.roles import Role, assign_role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_viewer_sees_no_responder_controls_and_a_forced_change_is_refused_with_the_reason(console):
    data = console.data
    main = data.main
    assign_role(data.users["carol"], Role.VIEWER)
    viewer = console.page("carol")
    viewer.goto(f"/incidents/{main.number}/collaborate/")
    expect(viewer.locator("[data-live-indicator]")).to_have_text("Live")
    expect(viewer.locator("#incident-console")).to_contain_text("Notes")
    for control in ('[data-action="acknowledge"]', '[data-action="assign-me"]', '[data-action="resolve"]',
                    f"#incident-{main.pk}-note-form", f"#incident-{main.pk}-assign-form", f"#incident-{main.pk}-status-controls form"):
        for i in range(viewer.locator(control).count()):  # in the page (a pushed fragment is the same for all), never shown
            expect(viewer.locator(control).nth(i)).to_be_hidden()
    assert viewer.locator(f"#incident-{main.pk}-note-form").count() == 1 and viewer.locator('[data-action="assign-me"]').count() == 1

    responder = console.page("bob")
    responder.goto(f"/incidents/{main.number}/collaborate/")
    expect(responder.locator(f"#incident-{main.pk}-note-form")).to_be_visible()
    expect(responder.locator('[data-action="resolve"]')).to_be_visible()

    # The responder assigns: the pushed header and assign form reach the viewer, still without controls.
    responder.locator("#id_assignee").select_option("bob")
    responder.locator(f"#incident-{main.pk}-assign-form").get_by_role("button", name="Assign").click()
    expect(viewer.locator("[data-incident-assignee]")).to_have_text("bob", timeout=15_000)
    expect(viewer.locator('[data-action="assign-me"]')).to_be_hidden()
    expect(viewer.locator(f"#incident-{main.pk}-assign-form")).to_be_hidden()

    # A change forced from the viewer's page (as a stale tab or a hand-made request would) is refused, with the reason.
    viewer.evaluate("(url) => htmx.ajax('POST', url, {values: {status: 'resolved'}, swap: 'none'})", f"/incidents/{main.number}/status/")
    expect(viewer.locator("#request-error")).to_contain_text("Not allowed: your role (viewer) cannot change an incident's status")
    main.refresh_from_db()
    assert main.status != "resolved"
    assert not viewer.errors
