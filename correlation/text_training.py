"""The incident-type classifier as versioned models: trained from the library, the simulator and
resolved incidents, used to classify a posted text or an incident.

A version (kind `incident_types` in the model registry) is trained from the starting examples
(correlation.classifier: pattern library + simulated faults) plus every resolved incident that an
engineer typed in step 9 (its `incident_type`, or else its first tag), one text per incident
(its alerts' and error logs' messages). Metrics, before and after: the most recent quarter of
the typed incidents (at least one) and a simulated seed no version trains on are held out; the
previous active version and the new one are both scored on them (macro-F1), then the new one is
refitted on everything and activated. Retraining runs on demand (API, feedback) and nightly.
"""
from __future__ import annotations

import threading
from datetime import timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from correlation.classifier import Example, TypeClassifier, simulated_examples, starting_examples
from correlation.models import ModelVersion
from incidents.models import Event, Incident

KIND = "incident_types"
HELD_OUT_SEED = 999  # simulated faults no version trains on
MAX_TEXT_LINES = 200
MAX_INCIDENTS = 5000

_cache = threading.local()


def incident_text(incident: Incident) -> str:
    """What an incident said: its alerts' and error logs' messages, distinct, oldest first."""
    rows = (
        Event.objects.filter(incident=incident, type__in=[Event.Type.ALERT, Event.Type.LOG])
        .exclude(severity="info").exclude(message="")
        .order_by("timestamp").values_list("message", flat=True)[: MAX_TEXT_LINES * 5]
    )
    seen: list[str] = []
    for message in rows:
        if message not in seen:
            seen.append(message)
        if len(seen) >= MAX_TEXT_LINES:
            break
    return "\n".join(seen)


def incident_examples() -> list[Example]:
    """Resolved incidents engineers typed, newest last, one example each."""
    qs = (Incident.objects.filter(status=Incident.Status.RESOLVED)
          .exclude(incident_type="", tags=[]).order_by("-resolved_at")[:MAX_INCIDENTS])
    out = []
    for incident in reversed(list(qs)):
        label = incident.incident_type or (str(incident.tags[0]) if incident.tags else "")
        text = incident_text(incident) if label else ""
        if label and text:
            out.append(Example(text, label.strip().lower()[:100], f"incident:{incident.pk}"))
    return out


def _macro_f1(clf: TypeClassifier | None, examples: list[Example]) -> float | None:
    if clf is None or not examples:
        return None
    from sklearn.metrics import f1_score  # with the classifier's own scikit-learn, when one is scored

    truth = [e.label for e in examples]
    return round(float(f1_score(truth, clf.predict([e.text for e in examples]), average="macro",
                                labels=sorted(set(truth)), zero_division=0)), 4)


def type_classifier_active() -> TypeClassifier | None:
    """The active version's classifier (cached per process until another version is activated)."""
    version = ModelVersion.objects.filter(kind=KIND, active=True).only("pk").first()
    if version is None:
        return None
    if getattr(_cache, "pk", None) != version.pk:
        blob = ModelVersion.objects.filter(pk=version.pk).values_list("artefact", flat=True).first()
        _cache.clf, _cache.pk = TypeClassifier.from_bytes(bytes(blob)), version.pk
    return _cache.clf


def type_classifier_train(*, activate: bool = True, reason: str = "on demand") -> ModelVersion:
    """Train, measure against the active version, store and (by default) activate a new version."""
    typed = incident_examples()
    hold = max(1, len(typed) // 4) if typed else 0
    held_incidents, train_incidents = typed[len(typed) - hold:], typed[: len(typed) - hold]
    held_sim = simulated_examples(seed=HELD_OUT_SEED, faults=20, level="incident")
    base = starting_examples()
    candidate = TypeClassifier().fit(base + train_incidents)
    before = type_classifier_active()
    metrics = {
        "typed_incidents": len(typed),
        "held_out_incidents": len(held_incidents),
        "before": {"incidents_macro_f1": _macro_f1(before, held_incidents), "simulated_macro_f1": _macro_f1(before, held_sim)},
        "after": {"incidents_macro_f1": _macro_f1(candidate, held_incidents), "simulated_macro_f1": _macro_f1(candidate, held_sim)},
    }
    final = TypeClassifier().fit(base + typed) if held_incidents else candidate
    metrics["labels"] = final.labels
    now = timezone.now()
    with transaction.atomic():
        latest = ModelVersion.objects.select_for_update().filter(kind=KIND).aggregate(v=Max("version"))["v"] or 0
        version = ModelVersion.objects.create(
            kind=KIND, version=latest + 1, parameters={"c": final.c, "held_out_seed": HELD_OUT_SEED}, metrics=metrics,
            artefact=final.to_bytes(), data_end=now, data_start=now - timedelta(days=3650),
            notes=f"{reason}: library + simulator + {len(typed)} typed incident(s)",
        )
        if activate:
            ModelVersion.objects.filter(kind=KIND, active=True).update(active=False)
            version.active = True
            version.save(update_fields=["active"])
    return version


def text_classify(text: str, *, top: int = 3) -> tuple[list[tuple[str, float]], ModelVersion | None]:
    """The most likely incident types of a text, and the version that said so (training one if none)."""
    clf = type_classifier_active()
    if clf is None:
        type_classifier_train(reason="first use")
        clf = type_classifier_active()
    version = ModelVersion.objects.filter(kind=KIND, active=True).first()
    return clf.classify(text, top=top), version
