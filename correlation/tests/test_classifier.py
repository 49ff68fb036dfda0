"""Incident types from text: trained from the library and simulated faults, retrained with user tags."""
import pytest

from correlation.classifier import NONE, Example, TypeClassifier, builtin_examples, normalise, simulated_examples


@pytest.fixture(scope="module")
def trained() -> TypeClassifier:
    return TypeClassifier().fit(builtin_examples() + simulated_examples(seed=1, faults=15, benign=80))


def test_the_text_is_reduced_to_its_template():
    a = normalise("OOMKilled on checkout-2 at 10.0.0.7 (exit code 137)")
    assert a == normalise("OOMKilled on users-1 at 10.0.3.9 (exit code 137)") == "oomkilled on at (exit code"


@pytest.mark.parametrize("text, kind", [
    ("FATAL: sorry, too many clients already", "database"),
    ("x509: certificate has expired or is not yet valid", "security"),
    ("ENOSPC: no space left on device, write", "resource"),
    ("GET /api/v1/items/77 200 in 31ms", NONE),
])
def test_texts_of_unseen_faults_get_their_type(trained, text, kind):
    assert trained.predict([text]) == [kind]
    best, proba = trained.classify(text)[0]
    assert best == kind and 0.0 < proba <= 1.0


def test_a_tag_users_give_becomes_a_type_after_retraining(trained):
    tagged = [Example(f"feature flag {name} turned on for all users, checkout errors rising", "feature-flag", "incident:9")
              for name in ("new-cart", "fast-pay", "one-click")]
    retrained = TypeClassifier().fit(builtin_examples() + simulated_examples(seed=1, faults=15, benign=80) + tagged)
    assert "feature-flag" in retrained.labels and "feature-flag" not in trained.labels
    assert retrained.predict(["feature flag express-ship turned on for all users"]) == ["feature-flag"]


def test_a_stored_model_predicts_the_same(trained):
    texts = ["consumer group orders-group is 91213 messages behind", "dial tcp: lookup api.example.com: no such host"]
    again = TypeClassifier.from_bytes(trained.to_bytes())
    assert again.predict(texts) == trained.predict(texts) == ["capacity", "network"]


def test_training_needs_two_types_and_predicting_needs_training():
    with pytest.raises(ValueError):
        TypeClassifier().fit([Example("disk full", "resource")])
    with pytest.raises(RuntimeError):
        TypeClassifier().classify("disk full")
