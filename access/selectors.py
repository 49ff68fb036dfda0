"""Reads of the audit log."""
from __future__ import annotations

from django.db.models import Q, QuerySet

from access.models import AuditEntry


def audit_entries_for_console(*, q: str = "", via: str = "", refused_only: bool = False) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.all()
    if q:
        entries = entries.filter(Q(actor_label__icontains=q) | Q(action__icontains=q) | Q(target__icontains=q))
    if via:
        entries = entries.filter(via=via)
    if refused_only:
        entries = entries.filter(allowed=False)
    return entries
