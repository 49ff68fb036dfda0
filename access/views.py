"""The audit log in the console (/audit/): admins only, read-only, newest first.

The Django admin shows the same rows, but only to staff accounts; an admin by role need not be staff."""
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from access import selectors
from access.models import AuditEntry
from access.roles import Action, requires

PAGE_SIZE = 100


@require_GET
@requires(Action.VIEW_AUDIT)
def audit_list(request):
    q = request.GET.get("q", "").strip()[:200]
    via = request.GET.get("via", "")
    via = via if via in AuditEntry.Via.values else ""
    refused = request.GET.get("refused") == "1"
    page = Paginator(selectors.audit_entries_for_console(q=q, via=via, refused_only=refused), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "access/audit_list.html", {"page": page, "q": q, "via": via, "refused": refused, "vias": AuditEntry.Via.choices})
