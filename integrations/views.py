"""The integrations page: each integration's state, the last deliveries and failures, and a test button."""
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from access.roles import Action, requires
from integrations import selectors, services


def _context() -> dict:
    return {
        "states": selectors.integration_states(),
        "deliveries": selectors.outbox_recent(),
        "failures": selectors.outbox_failures(),
        "inbound": selectors.inbound_recent(),
    }


@require_GET
@requires(Action.VIEW)
def integration_list(request) -> HttpResponse:
    template = "integrations/integration_list.html" + ("#deliveries" if request.htmx else "")
    return render(request, template, _context())


@require_POST
@requires(Action.MANAGE_INTEGRATIONS)
def integration_test(request) -> HttpResponse:
    sent = services.integration_test_notify()
    queued = [f"{n} to {name}" for name, n in sent.items() if n]
    notice = ("Test notification queued: " + ", ".join(queued) + ".") if queued else "No integration is configured: nothing to send."
    if request.htmx:
        return render(request, "integrations/integration_list.html#deliveries", {**_context(), "notice": notice})
    messages.info(request, notice)
    return redirect("integrations:list")
