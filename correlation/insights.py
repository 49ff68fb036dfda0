"""What the history says: proposed patterns from incident clusters, and each service's risk for the next hours.

- `patterns_discover`: the recent incidents as documents (what they said, their types) are
  clustered by correlation.discovery; each cluster the enabled library does not explain is stored
  as a pattern of origin "learned" in state "proposed" (disabled until a curator accepts it in the
  admin), unless a pattern with its slug exists already (proposed, accepted or rejected before).
  Run weekly by schedule and on demand; `patterns_discovered_count` is the weekly report's figure.
- `risk_forecast`: hourly counts per service over the last `HISTORY_DAYS` (firing alerts, error
  logs, anomalies, deploy events, incidents that touched it) train correlation.forecast's model
  on the past and rank the services for the next `HORIZON_HOURS`; cached for a few minutes.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, Max, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from correlation import discovery, forecast
from correlation.loading import patterns_load
from correlation.text_training import incident_text
from incidents.models import Event, EventRollup, Incident, Pattern, Service

DISCOVERY_INCIDENTS = 500
HISTORY_DAYS = 8
CACHE_SECONDS = 300


def patterns_discover(*, now: datetime | None = None) -> list[Pattern]:
    """Store the new proposals from the last DISCOVERY_INCIDENTS incidents; returns them."""
    incidents = list(Incident.objects.select_related("pattern").order_by("-started_at")[:DISCOVERY_INCIDENTS])
    docs = []
    for incident in reversed(incidents):
        types = tuple(t for t in (incident.pattern.slug if incident.pattern else "", incident.incident_type,
                                  *[str(x) for x in incident.tags]) if t)
        docs.append(discovery.IncidentDoc(incident.pk, incident_text(incident), types))
    proposals = discovery.patterns_propose(docs, patterns_load())
    existing = set(Pattern.objects.values_list("slug", flat=True))
    created = []
    numbers = dict(Incident.objects.filter(pk__in=[i for p in proposals for i in p.examples]).values_list("pk", "number"))
    for p in proposals:
        if p.slug in existing:
            continue
        examples = [f"#{numbers[i]}" for i in p.examples if i in numbers]
        pattern = Pattern(
            slug=p.slug[:100], name=p.name[:200], incident_type=p.incident_type[:100],
            description=f"Proposed from {p.size} similar incidents that no pattern explained ({', '.join(examples)}).",
            signals={"keywords": list(p.keywords), "examples": list(p.examples)},
            origin=Pattern.Origin.LEARNED, state=Pattern.State.PROPOSED, enabled=False,
            created_at=now or timezone.now(),
        )
        pattern.full_clean()
        pattern.save()
        created.append(pattern)
    return created


def patterns_discovered_count(*, days: int = 7, now: datetime | None = None) -> int:
    since = (now or timezone.now()) - timedelta(days=days)
    return Pattern.objects.filter(origin=Pattern.Origin.LEARNED, created_at__gte=since).count()


def service_histories(*, now: datetime, days: int = HISTORY_DAYS) -> dict[str, forecast.ServiceHistory]:
    """Hourly counts per service over the last `days` (hour 0 = the oldest)."""
    start = (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    hours = int((now - start).total_seconds() // 3600) + 1
    names = dict(Service.objects.values_list("pk", "name"))
    hist = {name: forecast.ServiceHistory(*([0] * hours for _ in range(5))) for name in names.values()}

    def slot(ts: datetime) -> int:
        return int((ts - start).total_seconds() // 3600)

    # The hourly rollups written at ingest (incidents.rollups): a row per hour and key, whatever
    # the number of events; only deploys need the events' text.
    rows = (EventRollup.objects.filter(hour__gte=start, hour__lte=now, type__in=[Event.Type.ALERT, Event.Type.LOG, Event.Type.ANOMALY])
            .exclude(severity="info").values_list("service_id", "type", "hour").annotate(n=Sum("count")).order_by())
    for service_id, type_, hour, n in rows:
        h = slot(hour)
        if service_id in names and 0 <= h < hours:
            series = {Event.Type.ALERT: "alerts", Event.Type.LOG: "errors", Event.Type.ANOMALY: "anomalies"}[type_]
            getattr(hist[names[service_id]], series)[h] += n
    deploys = (Event.objects.filter(timestamp__gte=start, timestamp__lte=now, message__icontains="deploy")
               .annotate(hour=TruncHour("timestamp")).values_list("service_id", "hour").annotate(n=Count("id")).order_by())
    for service_id, hour, n in deploys:
        h = slot(hour)
        if service_id in names and 0 <= h < hours:
            hist[names[service_id]].deploys[h] += n
    for started, service_id in Incident.objects.filter(started_at__gte=start, started_at__lte=now).values_list("started_at", "services"):
        h = slot(started)
        if service_id in names and 0 <= h < hours:
            hist[names[service_id]].incidents[h] += 1
    return hist


def risk_forecast(*, now: datetime | None = None, horizon: int = forecast.HORIZON_HOURS) -> dict:
    """Risk per service for the next `horizon` hours, highest first, with the baseline's view and
    what the model weighs; `trained` is False (and the baseline ranks) while history is too thin."""
    now = now or timezone.now()
    # One entry per ten minutes and state of the estate (a new service or incident shows at once).
    latest = Incident.objects.aggregate(n=Max("pk"))["n"] or 0
    key = f"cleara:risk:{horizon}:{now:%Y%m%d%H}{now.minute // 10}:{Service.objects.count()}:{latest}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    hist = service_histories(now=now)
    t = max(h.hours() for h in hist.values()) if hist else 0
    naive = forecast.naive_scores(hist, t)
    out = {"horizon_hours": horizon, "generated_at": now.isoformat(), "trained": False, "weights": {}, "services": []}
    try:
        model = forecast.RiskForecaster(horizon=horizon).fit(hist, range(24, max(24, t - horizon)))
        risk = model.predict(hist, t)
        out["trained"], out["weights"] = True, {k: round(v, 3) for k, v in model.explain().items()}
    except ValueError:
        total = sum(naive.values()) or 1.0
        risk = {n: v / total for n, v in naive.items()}
    out["services"] = [{"service": n, "risk": round(r, 4), "incidents_so_far": int(naive.get(n, 0))}
                       for n, r in sorted(risk.items(), key=lambda kv: (-kv[1], kv[0]))]
    cache.set(key, out, CACHE_SECONDS)
    return out
