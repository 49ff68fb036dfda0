"""Test data of the correlation app (factory_boy): model versions of the registry."""
from __future__ import annotations

import factory

from correlation.models import ModelVersion


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    kind = "anomaly"
    version = factory.Sequence(lambda n: n + 1)
    parameters = factory.LazyFunction(lambda: {"detector": "statistical", "seed": 0, "threshold": 0.9})
    active = False
