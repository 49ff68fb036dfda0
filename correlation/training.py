"""The model registry: train, activate and roll back versions of the live anomaly detector.

The detectors learn online, one series at a time, so "training" a version means: take a
detector configuration (which detector, its threshold and seed), replay the stored metric history
of every series through a fresh detector of that configuration, and keep (a) the warm per-series
states as the artefact and (b) what the replay measured (points, anomalies raised, anomaly rate,
throughput, optionally the NAB score) as its metrics. Activating a version makes it the one the
ingest pipeline uses (``correlation.anomaly``) and seeds every series it was trained on with the
trained state; rolling back re-activates the previous version the same way.

Versions are numbered per kind; one version per kind is active (a database constraint).
"""
from __future__ import annotations

from collections.abc import Callable

import pickle
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from correlation.detectors import DETECTORS, THRESHOLD, make_detector
from correlation.models import ModelVersion, SeriesBaseline
from incidents.models import Event

ANOMALY_KIND = "anomaly"
DEFAULT_PARAMETERS = {"detector": "ensemble", "threshold": THRESHOLD, "seed": 0}
TRAIN_DAYS = 14
MAX_POINTS_PER_SERIES = 20_000
ARTEFACT_FORMAT = 1

SeriesKey = tuple[int, str, str]  # (service id, metric, host)


class ModelRegistryError(ValueError):
    """A registry operation that cannot be done (unknown kind, nothing to roll back to ...)."""


def detector_parameters(parameters: dict | None) -> tuple[str, dict]:
    """(detector name, constructor keyword arguments) for a version's parameters."""
    params = {**DEFAULT_PARAMETERS, **(parameters or {})}
    name = params["detector"]
    if name not in DETECTORS:
        raise ModelRegistryError(f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}")
    kwargs = {} if name == "statistical" else {"seed": int(params["seed"])}  # the statistical one is deterministic
    if name == "ensemble":
        kwargs["threshold"] = float(params["threshold"])
    return name, kwargs


def detector_for(parameters: dict | None):
    name, kwargs = detector_parameters(parameters)
    return make_detector(name, **kwargs)


def state_dumps(state: dict) -> bytes:
    return pickle.dumps(state, protocol=5)


def state_loads(blob: bytes) -> dict:
    # Only Cleara writes these blobs (SeriesBaseline.state, ModelVersion.artefact).
    return pickle.loads(bytes(blob))


def model_active(*, kind: str = ANOMALY_KIND) -> ModelVersion | None:
    return ModelVersion.objects.filter(kind=kind, active=True).first()


# --- training ---------------------------------------------------------------------------------


@dataclass
class _Replay:
    states: dict[str, dict]
    last_seen: dict[str, str]
    points: int
    anomalies: int
    seconds: float


def series_key_str(key: SeriesKey) -> str:
    return f"{key[0]}|{key[1]}|{key[2]}"


def _series_history(since: datetime, until: datetime) -> dict[SeriesKey, list[tuple[float, float, datetime]]]:
    rows = (
        Event.objects.filter(type=Event.Type.METRIC, timestamp__gte=since, timestamp__lte=until, value__isnull=False)
        .order_by("service_id", "metric", "host", "timestamp", "pk")
        .values_list("service_id", "metric", "host", "timestamp", "value")
    )
    series: dict[SeriesKey, list] = defaultdict(list)
    for service_id, metric, host, ts, value in rows.iterator(chunk_size=5000):
        points = series[(service_id, metric, host)]
        if points and ts <= points[-1][2]:
            continue  # the live path skips repeated and late points too
        points.append((ts.timestamp(), value, ts))
    return {k: v[-MAX_POINTS_PER_SERIES:] for k, v in series.items()}


def _replay(history: dict, parameters: dict, progress: bool) -> _Replay:
    from tqdm import tqdm

    total = sum(len(p) for p in history.values())
    states: dict[str, dict] = {}
    last_seen: dict[str, str] = {}
    anomalies = 0
    seconds = 0.0
    with tqdm(total=total, unit="pt", desc="train", disable=not progress) as bar:
        for key, points in history.items():
            detector = detector_for(parameters)
            start = time.perf_counter()
            for t, v, _ in points:
                anomalies += detector.update(t, v).is_anomaly
            seconds += time.perf_counter() - start
            states[series_key_str(key)] = detector.get_state()
            last_seen[series_key_str(key)] = points[-1][2].isoformat()
            bar.update(len(points))
    return _Replay(states=states, last_seen=last_seen, points=total, anomalies=anomalies, seconds=seconds)


def model_train(
    *,
    kind: str = ANOMALY_KIND,
    parameters: dict | None = None,
    days: int = TRAIN_DAYS,
    until: datetime | None = None,
    nab_dir: str | None = None,
    activate: bool = False,
    progress: bool = False,
    registering: Callable[[ModelVersion], None] | None = None,
) -> ModelVersion:
    """Train a new version of ``kind`` on the last ``days`` of stored metrics and register it;
    ``registering(version)`` runs inside the transaction that stores the version (and may raise to
    store nothing: correlation.runs uses it so that a training's effect happens once)."""
    if kind != ANOMALY_KIND:
        raise ModelRegistryError(f"unknown model kind {kind!r}; this registry trains {ANOMALY_KIND!r}")
    if days < 1:
        raise ModelRegistryError("days must be 1 or more")
    params = {**DEFAULT_PARAMETERS, **(parameters or {})}
    detector_parameters(params)  # validates
    until = until or timezone.now()
    since = until - timedelta(days=days)
    history = _series_history(since, until)
    replay = _replay(history, params, progress)
    metrics = {
        "series": len(history),
        "points": replay.points,
        "anomalies": replay.anomalies,
        "anomaly_rate": replay.anomalies / replay.points if replay.points else 0.0,
        "points_per_second": replay.points / replay.seconds if replay.seconds else None,
    }
    if nab_dir:
        metrics["nab"] = nab_evaluate(detector=params["detector"], data_dir=nab_dir, progress=progress)
    artefact = state_dumps({"format": ARTEFACT_FORMAT, "parameters": params, "states": replay.states,
                            "last_seen": replay.last_seen})
    first = min((p[0][2] for p in history.values()), default=None)
    last = max((p[-1][2] for p in history.values()), default=None)
    with transaction.atomic():
        latest = ModelVersion.objects.select_for_update().filter(kind=kind).aggregate(v=Max("version"))["v"] or 0
        version = ModelVersion(
            kind=kind,
            version=latest + 1,
            parameters=params,
            data_start=first,
            data_end=last,
            metrics=metrics,
            artefact=artefact,
            notes=f"replay of {len(history)} series, {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC",
        )
        version.full_clean(exclude=["artefact"])
        version.save()
        if registering is not None:
            registering(version)
    if activate:
        model_activate(model_version=version)
    return version


def nab_evaluate(*, detector: str, data_dir: str, progress: bool = False) -> dict:
    """NAB score of ``detector`` on a NAB corpus (data_dir/../labels/combined_windows.json)."""
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from correlation.detectors.nab import run_nab

    data = Path(data_dir)
    scorer = data.parent.parent.parent / "tools" / "nab_score.py"
    labels = data.parent / "labels" / "combined_windows.json"
    if not scorer.is_file() or not labels.is_file():
        raise ModelRegistryError(f"no NAB scorer at {scorer} or labels at {labels}")
    with tempfile.TemporaryDirectory() as tmp:
        run_nab(data, tmp, detector, progress=progress)
        report_path = Path(tmp) / "report.json"
        subprocess.run([sys.executable, str(scorer), tmp, str(labels), "--json", str(report_path)],
                       check=True, stdout=subprocess.DEVNULL)
        report = json.loads(report_path.read_text())
    return {name: round(p["score"], 2) for name, p in report["profiles"].items()}


# --- activation -------------------------------------------------------------------------------


@transaction.atomic
def model_activate(*, model_version: ModelVersion) -> ModelVersion:
    """Make ``model_version`` the live one of its kind and seed its series' baselines."""
    ModelVersion.objects.select_for_update().filter(kind=model_version.kind).exclude(pk=model_version.pk).update(active=False)
    model_version.active = True
    model_version.full_clean(exclude=["artefact"])
    model_version.save(update_fields=["active"])
    if model_version.artefact:
        _baselines_seed(model_version)
    return model_version


def _baselines_seed(model_version: ModelVersion) -> None:
    artefact = state_loads(model_version.artefact)
    name = artefact["parameters"]["detector"]
    for key, state in artefact["states"].items():
        service_id, metric, host = key.split("|", 2)
        SeriesBaseline.objects.update_or_create(
            service_id=int(service_id), metric=metric, host=host,
            defaults={
                "detector": name,
                "model_version": model_version,
                "state": state_dumps(state),
                "points": int(state.get("n", 0) or state.get("statistical", {}).get("n", 0)),
                "last_timestamp": datetime.fromisoformat(artefact["last_seen"][key]),
            },
        )


def model_rollback(*, kind: str = ANOMALY_KIND) -> ModelVersion:
    """Re-activate the version before the active one."""
    active = model_active(kind=kind)
    if active is None:
        raise ModelRegistryError(f"no active {kind!r} model to roll back from")
    previous = ModelVersion.objects.filter(kind=kind, version__lt=active.version).order_by("-version").first()
    if previous is None:
        raise ModelRegistryError(f"{active} is the oldest {kind!r} version: nothing to roll back to")
    return model_activate(model_version=previous)


# --- queued entry points (django-q2 calls these by dotted path) -------------------------------


def models_retrain_nightly() -> ModelVersion:
    """Nightly: retrain the live configuration on the last two weeks and activate it."""
    active = model_active(kind=ANOMALY_KIND)
    parameters = active.parameters if active else None
    return model_train(kind=ANOMALY_KIND, parameters=parameters, days=TRAIN_DAYS, activate=True)
