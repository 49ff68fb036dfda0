"""Writes of the service topology (the dependency graph the correlation engine walks)."""
from __future__ import annotations

from django.db import transaction

from incidents import partitions
from incidents.errors import IngestValidationError
from incidents.ingest import services_ensure
from incidents.links import http_url_problem
from incidents.models import Service


def topology_validate(data) -> list[dict]:
    errors: list[dict] = []
    if not isinstance(data, dict) or not isinstance(data.get("services"), list):
        raise IngestValidationError([{"index": None, "field": "services", "reason": "expected {\"services\": [...]}"}], "invalid topology")
    for i, item in enumerate(data["services"]):
        if not isinstance(item, dict):
            errors.append({"index": i, "field": "", "reason": "expected an object"})
            continue
        if not isinstance(item.get("name"), str) or not item["name"].strip():
            errors.append({"index": i, "field": "name", "reason": "required, a non-empty string"})
        deps = item.get("depends_on", [])
        if not isinstance(deps, list) or not all(isinstance(d, str) and d for d in deps):
            errors.append({"index": i, "field": "depends_on", "reason": "expected a list of service names"})
        elif item.get("name") in deps:
            errors.append({"index": i, "field": "depends_on", "reason": "a service cannot depend on itself"})
        for key in ("tier", "team", "runbook_url", "description"):
            if key in item and not isinstance(item[key], str):
                errors.append({"index": i, "field": key, "reason": "expected a string"})
        if isinstance(item.get("runbook_url"), str) and (problem := http_url_problem(item["runbook_url"])):
            errors.append({"index": i, "field": "runbook_url", "reason": problem})
    if errors:
        raise IngestValidationError(errors, "invalid topology: nothing was changed")
    return data["services"]


@transaction.atomic
def topology_apply(*, services: list[dict]) -> int:
    """Create or update the given services and replace their dependencies. Returns how many."""
    names = {s["name"].strip() for s in services} | {d for s in services for d in s.get("depends_on", [])}
    by_name = services_ensure(names)
    for item in services:
        svc: Service = by_name[item["name"].strip()]
        for key in ("tier", "team", "runbook_url", "description"):
            if key in item:
                setattr(svc, key, item[key])
        svc.save()
        if "depends_on" in item:
            svc.depends_on.set([by_name[d] for d in item["depends_on"]])
    transaction.on_commit(partitions.COMPONENTS.invalidate)  # this process routes by the new components at once
    return len(services)
