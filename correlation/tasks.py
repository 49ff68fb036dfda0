"""django-q2 entry points of the correlation app: take ids, load, call a domain function."""
from correlation import training
from incidents import pipeline
from incidents.models import Event


def correlate_events(event_ids: list[int]) -> int:
    """Correlate stored events (this app's pipeline stage only). Failed inline processing is
    retried by incidents.tasks.process_events; this entry point stays for tasks queued before."""
    events = list(Event.objects.filter(pk__in=event_ids).select_related("service"))
    pipeline.events_process(events=events)
    return len(events)


def apply_feedback(feedback_id: int) -> dict:
    """Take an engineer's root-cause feedback into the model (queued by feedback_record)."""
    from correlation.feedback import feedback_apply

    feedback = feedback_apply(feedback_id=feedback_id)
    return {"feedback": feedback_id, "applied_at": feedback.applied_at.isoformat() if feedback and feedback.applied_at else None}


def _version_out(version) -> dict:
    return {"id": version.pk, "kind": version.kind, "version": version.version, "metrics": version.metrics}


def train_model(kind: str = training.ANOMALY_KIND, parameters: dict | None = None, days: int = training.TRAIN_DAYS,
                activate: bool = False) -> dict:
    """Train (and optionally activate) a model version: the console's and the API's "train"."""
    return _version_out(training.model_train(kind=kind, parameters=parameters, days=days, activate=activate))


def training_run_execute(run_id: int) -> dict | None:
    """One stored training run (correlation.runs): leased, trained, its version registered once."""
    from correlation.runs import training_run_execute as execute

    version = execute(run_id)
    return _version_out(version) if version else None


def training_runs_sweep() -> list[int]:
    """Every minute: queue again the training runs whose worker died or whose task was lost."""
    from correlation.runs import training_runs_sweep as sweep

    return sweep()


def retrain_models_nightly() -> dict:
    """The nightly schedule (correlation.schedules): retrain the live configuration and activate it."""
    return _version_out(training.models_retrain_nightly())


def retrain_rca_priors() -> dict:
    """Nightly (and after each verdict, correlation.feedback): the root-cause priors and corrections
    from all feedback, a new version with the hit rate before and after."""
    from correlation.learning import rca_priors_train

    return _version_out(rca_priors_train())


def retrain_type_classifier(reason: str = "on demand") -> dict:
    """A new version of the incident-type classifier (on demand, after typed feedback, nightly)."""
    from correlation.text_training import type_classifier_train

    return _version_out(type_classifier_train(reason=reason))


def discover_patterns() -> dict:
    """Cluster recent incidents; store what no pattern explains as proposed patterns (weekly, on demand)."""
    from correlation.insights import patterns_discover, patterns_discovered_count

    created = patterns_discover()
    return {"proposed": [p.slug for p in created], "discovered_last_7_days": patterns_discovered_count()}
