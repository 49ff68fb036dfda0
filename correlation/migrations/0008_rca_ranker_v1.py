"""The first learned root-cause ranker (correlation.ranker), registered and made live.

Trained by bench/rca_ranker.py on the engine's labelled incidents of the scenario fuzzer's four
families (seeds 1-4: fuzz-layered, fuzz-mesh, fuzz-pools, fuzz-queues), with Platt scaling fitted on its out-of-family
confidences. It orders an incident's candidates only where correlation.rca.ranker_decides (the
rules' first choice blames a dependency in its own errors); out of family (each fuzz family scored
by a ranker trained on the other three, the chaos lab by this one) that gate kept every gain of the
ranker over the rules: bench/README.md. A later version (manage.py rca_ranker) replaces it.
"""
from django.db import migrations

PARAMETERS = {"features": ["onset", "healthy", "coverage", "pattern", "severity", "volume", "named", "blames", "silent", "anomalous", "error_logs", "callers", "deps", "prior"], "mean": [0.417, 0.614629, 0.442519, 0.300676, 0.679171, 0.6995, 0.327623, 0.482007, 0.1494, 0.254089, 0.577705, 0.418977, 0.40642, 0.0], "scale": [0.409588, 0.396031, 0.288037, 0.281013, 0.401377, 0.429783, 0.439419, 0.499676, 0.356483, 0.435348, 0.391448, 0.361439, 0.362925, 1.0], "coef": [0.549904, 0.366867, 0.620903, 0.450284, 0.210325, -0.294921, 0.89301, -1.048098, 0.538548, 0.107573, 0.502557, -0.764842, -0.111875, 0.0], "intercept": -2.24891, "calibration": [0.641698, -0.75929]}


def register(apps, schema_editor):
    ModelVersion = apps.get_model("correlation", "ModelVersion")
    if ModelVersion.objects.filter(kind="rca_ranker").exists():
        return
    ModelVersion.objects.create(
        kind="rca_ranker", version=1, parameters=PARAMETERS, active=True,
        metrics={"trained_on": ["fuzz-layered", "fuzz-mesh", "fuzz-pools", "fuzz-queues"]},
        notes="trained on the fuzzer's four families (bench/rca_ranker.py); out-of-family figures in bench/README.md",
    )


def unregister(apps, schema_editor):
    apps.get_model("correlation", "ModelVersion").objects.filter(kind="rca_ranker", version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("correlation", "0007_templateminerstate")]
    operations = [migrations.RunPython(register, unregister)]
