"""Test data of the incident domain (factory_boy).

`IncidentFactory` builds a plain incident row with a one-shape analysis (incidents.analysis) and
its services, for tests that need an incident to exist; `incident_opened` opens one the way the
correlation engine does, through incidents.services.incident_open (numbered, audited, told to the
hooks). Not used by the product: tests and benchmarks only.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import factory

from incidents import services as incidents_services
from incidents.analysis import Hypothesis, IncidentAnalysis, analysis_to_json
from incidents.models import Event, Incident, Service

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"service-{n}")


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    timestamp = T0
    service = factory.SubFactory(ServiceFactory)
    type = Event.Type.ALERT
    severity = "critical"
    message = factory.Sequence(lambda n: f"alert {n}")
    fingerprint = factory.LazyAttribute(lambda e: f"{e.service.name}:{e.message}")


def hypotheses_for(names: list[str], confidence: float = 0.9) -> list[Hypothesis]:
    """One hypothesis per service, the first the most likely."""
    return [Hypothesis(service=name, score=round(confidence - i * 0.3, 4)) for i, name in enumerate(names)]


class IncidentFactory(factory.django.DjangoModelFactory):
    """An incident row. `services` (names) become its services, its root cause (the first) and
    its hypotheses unless given."""

    class Meta:
        model = Incident
        exclude = ("service_names",)
        skip_postgeneration_save = True  # `services` only sets the many-to-many

    class Params:
        service_names = ("checkout",)

    number = factory.Sequence(lambda n: 1001 + n)
    title = factory.LazyAttribute(lambda o: f"Incident {o.number}")
    grouping_key = factory.LazyAttribute(lambda o: f"test:{o.number}")
    started_at = T0
    last_event_at = T0 + timedelta(minutes=5)
    severity = "critical"
    confidence = 0.9
    root_cause_service = factory.LazyAttribute(lambda o: ServiceFactory(name=o.service_names[0]) if o.service_names else None)
    hypotheses = factory.LazyAttribute(lambda o: analysis_to_json(hypotheses_for(list(o.service_names), o.confidence)))

    @factory.post_generation
    def services(self, create, extracted, **kwargs):
        names = extracted if extracted is not None else [self.root_cause_service.name] if self.root_cause_service_id else []
        if create and names:
            self.services.set([ServiceFactory(name=n) for n in names])


def incident_analysis(*, services: list[str], title: str = "", severity: str = "critical",
                      confidence: float = 0.9, started_at: datetime = T0, **fields) -> IncidentAnalysis:
    """An analysis as the engine writes one: root cause the first of `services`."""
    ids = [ServiceFactory(name=n).pk for n in services]
    return IncidentAnalysis(
        title=title or f"{services[0] if services else 'estate'} degraded", severity=severity, started_at=started_at, last_event_at=fields.pop("last_event_at", started_at + timedelta(minutes=5)),
        hypotheses=fields.pop("hypotheses", None) or hypotheses_for(services, confidence), confidence=confidence,
        root_cause_service_id=ids[0] if ids else None, **fields,
    )


def incident_opened(*, services: list[str] = ("checkout",), **fields) -> Incident:
    """Open an incident through incidents.services.incident_open, as the engine does (call inside
    the transaction whose hooks you want to see run)."""
    services = list(services)
    analysis = incident_analysis(services=services, **fields)
    return incidents_services.incident_open(
        grouping_key=f"test:{uuid.uuid4().hex}", analysis=analysis, service_ids=[ServiceFactory(name=n).pk for n in services],
    )
