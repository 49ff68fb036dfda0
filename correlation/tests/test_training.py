"""The model registry: train, activate, roll back; the train / nab_detect / setup_schedules commands."""
from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django_q.models import Schedule

from correlation.models import ModelVersion, SeriesBaseline
from correlation.schedules import SCHEDULES
from correlation.factories import ModelVersionFactory
from correlation.tasks import retrain_models_nightly
from correlation.training import ModelRegistryError, model_activate, model_rollback, model_train
from incidents.models import Event, Service

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def history(db):
    rng = np.random.default_rng(0)
    rows = []
    for name in ("checkout", "payments"):
        service = Service.objects.create(name=name)
        for i in range(300):
            rows.append(Event(timestamp=NOW - timedelta(minutes=5 * (300 - i)), service=service, type=Event.Type.METRIC,
                              metric="cpu", host="h1", value=float(40 + rng.normal())))
    Event.objects.bulk_create(rows)
    return rows


def test_train_registers_numbered_versions_with_metrics_and_artefact(history):
    v1 = model_train(parameters={"detector": "statistical"}, until=NOW)
    v2 = model_train(parameters={"detector": "statistical"}, until=NOW)
    assert (v1.kind, v1.version, v2.version) == ("anomaly", 1, 2)
    assert not v1.active and not v2.active
    assert v1.metrics["series"] == 2 and v1.metrics["points"] == 600
    assert v1.metrics["anomalies"] >= 0 and v1.metrics["points_per_second"] > 0
    assert v1.parameters["detector"] == "statistical" and "threshold" in v1.parameters
    assert v1.data_start == history[0].timestamp and v1.data_end == history[-1].timestamp
    artefact = pickle.loads(bytes(v1.artefact))
    assert len(artefact["states"]) == 2 and all(s["kind"] == "statistical" for s in artefact["states"].values())


def test_activate_seeds_baselines_and_rollback_goes_back(history):
    v1 = model_train(parameters={"detector": "statistical"}, until=NOW, activate=True)
    assert ModelVersion.objects.get(pk=v1.pk).active
    assert SeriesBaseline.objects.filter(model_version=v1).count() == 2
    v2 = model_train(parameters={"detector": "statistical", "seed": 1}, until=NOW)
    model_activate(model_version=v2)
    assert list(ModelVersion.objects.filter(active=True)) == [v2]
    assert SeriesBaseline.objects.filter(model_version=v2).count() == 2
    back = model_rollback(kind="anomaly")
    assert back.pk == v1.pk and list(ModelVersion.objects.filter(active=True)) == [v1]
    with pytest.raises(ModelRegistryError):
        model_rollback(kind="anomaly")


def test_database_allows_one_active_version_per_kind(db):
    ModelVersionFactory(version=1, active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersionFactory(version=2, active=True)


def test_unknown_kind_or_detector_is_refused(db):
    with pytest.raises(ModelRegistryError):
        model_train(kind="bogus")
    with pytest.raises(ModelRegistryError):
        model_train(parameters={"detector": "bogus"})


def test_nightly_retrain_activates_the_new_version(history):
    ModelVersionFactory(version=1, parameters={"detector": "statistical", "seed": 0, "threshold": 0.9}, active=True)
    result = retrain_models_nightly()
    live = ModelVersion.objects.get(active=True)
    assert result["version"] == live.version == 2
    assert live.parameters["detector"] == "statistical"  # keeps the live configuration


def test_train_command(history):
    out = StringIO()
    call_command("train", "--detector", "statistical", "--days", "30", "--activate", "--no-progress", stdout=out)
    assert "trained anomaly v1" in out.getvalue()
    assert ModelVersion.objects.get().active
    with pytest.raises(CommandError):
        call_command("train", "--kind", "bogus", "--no-progress", stdout=StringIO())


def test_nab_detect_command(tmp_path):
    data = tmp_path / "data" / "cat"
    data.mkdir(parents=True)
    lines = ["timestamp,value"] + [f"2014-04-01 00:{i // 60:02d}:{i % 60:02d},{float(i % 7)}" for i in range(120)]
    (data / "s.csv").write_text("\n".join(lines) + "\n")
    out = StringIO()
    call_command("nab_detect", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
                 "--detector", "statistical", "--no-progress", stdout=out)
    rows = (tmp_path / "out" / "cat" / "s.csv").read_text().splitlines()
    assert rows[0] == "timestamp,value,anomaly_score" and len(rows) == 121
    assert "1 series, 120 points" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("nab_detect", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), stdout=StringIO())


def test_setup_schedules_upserts(db):
    call_command("setup_schedules", stdout=StringIO())
    call_command("setup_schedules", stdout=StringIO())
    assert Schedule.objects.count() == len(SCHEDULES)
    nightly = Schedule.objects.get(name=SCHEDULES[0]["name"])
    assert nightly.func == "correlation.tasks.retrain_models_nightly"
    assert nightly.schedule_type == Schedule.DAILY and nightly.repeats == -1
