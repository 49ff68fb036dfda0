"""Incident types from text: a scikit-learn classifier over log lines, alert messages and incidents.

A text is first reduced to its template (correlation.logtemplates masks the values: ids,
numbers, hosts, paths...), lower-cased, so "OOMKilled on checkout-2 (exit code 137)" and the same
alert on another host are one text. Features: TF-IDF of word unigrams and bigrams plus character
3-5-grams inside words (so "throttled" and "throttling" share evidence); model: multinomial
logistic regression with balanced class weights, which gives a probability per type.

Labels are incident types: the pattern library's (`incident_type` of BUILTIN_PATTERNS) plus any
tag users give resolved incidents; `NONE` marks everyday text that is no incident. The starting
examples come from the pattern library (names, descriptions, keywords) and from the simulator's
labelled faults (their alert and log texts, with the benign logs as `NONE`); retraining adds
resolved incidents and their tags (correlation.training). Plain module without Django: the
benchmark (bench/classify.py) and the tests train and score it directly. A model is stored as
the pickled pipeline (only Cleara writes it, so unpickling is safe).
"""
from __future__ import annotations

import functools
import pickle
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np

from evaluation import simulation
from correlation.logtemplates import WILDCARD, tokenize
from incidents.catalogue import BUILTIN_PATTERNS

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

NONE = "none"
MAX_TEXT_CHARS = 20_000
C = 10.0


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    group: str = ""  # what must not straddle a train/test split (a seed, an incident, a template)


@functools.lru_cache(maxsize=50_000)
def normalise(text: str) -> str:
    """The text as the classifier sees it: its template, values dropped, lower-cased."""
    lines = (text or "")[:MAX_TEXT_CHARS].splitlines() or [""]
    return "\n".join(" ".join(t for t in tokenize(line) if t != WILDCARD).lower() for line in lines)


class TypeClassifier:
    """Text -> incident type, with a probability per type."""

    def __init__(self, *, c: float = C):
        self.c = c
        self.pipeline: Pipeline | None = None

    @property
    def labels(self) -> list[str]:
        return [] if self.pipeline is None else [str(x) for x in self.pipeline.classes_]

    def fit(self, examples: Sequence[Example]) -> TypeClassifier:
        labels = {e.label for e in examples}
        if len(labels) < 2:
            raise ValueError("training needs examples of at least two types")
        # scikit-learn is imported when a classifier is trained or loaded (a pickle imports it),
        # not by every process that imports this module (web, workers: start-up and exit time).
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, Pipeline
        from threadpoolctl import threadpool_limits

        features = FeatureUnion([
            ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=1, sublinear_tf=True)),
        ])
        model = LogisticRegression(C=self.c, class_weight="balanced", max_iter=3000)
        self.pipeline = Pipeline([("features", features), ("model", model)])
        # Repeats of one text add nothing but time (classes are weighted by their size anyway).
        pairs = sorted({(normalise(e.text), e.label) for e in examples})
        # One BLAS thread: the problem is small, and on a busy machine threads fight (7 s -> 1 s).
        with threadpool_limits(limits=1):
            self.pipeline.fit([t for t, _ in pairs], [label for _, label in pairs])
        return self

    def predict(self, texts: Iterable[str]) -> list[str]:
        self._check()
        return [str(x) for x in self.pipeline.predict([normalise(t) for t in texts])]

    def classify(self, text: str, *, top: int = 3) -> list[tuple[str, float]]:
        """The `top` most likely types of one text, with their probabilities, best first."""
        self._check()
        proba = self.pipeline.predict_proba([normalise(text)])[0]
        order = np.argsort(-proba)[:top]
        return [(self.labels[i], float(proba[i])) for i in order]

    def _check(self) -> None:
        if self.pipeline is None:
            raise RuntimeError("the classifier is not trained")

    def to_bytes(self) -> bytes:
        self._check()
        return pickle.dumps({"c": self.c, "pipeline": self.pipeline}, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes) -> TypeClassifier:
        state = pickle.loads(data)  # noqa: S301 - written by Cleara only (ModelVersion.artefact)
        clf = cls(c=state["c"])
        clf.pipeline = state["pipeline"]
        return clf


# -- where the starting examples come from ---------------------------------------------------------

def pattern_types() -> dict[str, str]:
    """Pattern slug -> incident type, for the built-in library."""
    return {p["slug"]: p["incident_type"] for p in BUILTIN_PATTERNS}


def builtin_examples() -> list[Example]:
    """The pattern library's own words: name, description and each keyword, labelled with its type."""
    out = []
    for p in BUILTIN_PATTERNS:
        group = f"pattern:{p['slug']}"
        out.append(Example(p["name"], p["incident_type"], group))
        out.append(Example(p["description"], p["incident_type"], group))
        out.extend(Example(k, p["incident_type"], group) for k in p["signals"]["keywords"])
    return out


def simulated_examples(*, seed: int, faults: int = 40, benign: int = 200, level: str = "line",
                       unique: bool = False) -> list[Example]:
    """Labelled texts from simulated faults of one seed (group = the seed).

    level "line": every alert and error log at a fault's root and its direct callers (the texts
    that say what kind of failure it is), plus `benign` everyday logs as NONE. level "incident":
    one text per fault, all its alerts and logs (every hop) joined, labelled with its type.
    `unique` keeps one example per distinct (text, type): what training needs, much faster.
    """
    types = pattern_types()
    sim = simulation.Simulator(simulation.SimConfig(start=simulation.datetime(2026, 11, 2, tzinfo=simulation.UTC), seed=seed))
    t0 = sim.cursor
    made = [sim.inject(t0 + n * 7200) for n in range(faults)]
    events = {e["id"]: e for _, _, e in sim.planned}
    group = f"seed:{seed}"
    out = []
    for fault in made:
        near = {fault.root_service} | {s for s in fault.affected if fault.root_service in sim.services[s]["depends_on"]}
        texts = [events[i] for i in fault.event_ids if i in events]
        texts = [e for e in texts if e["type"] in ("alert", "log") and not e.get("message", "").startswith("RESOLVED: ")]
        label = types[fault.kind]
        if level == "incident":
            out.append(Example("\n".join(dict.fromkeys(e["message"] for e in texts)), label, group))
        else:
            out.extend(Example(e["message"], label, group) for e in texts if e["service"] in near)
    if level == "line":
        rng = random.Random(seed)
        everyday = simulation.BENIGN_LOGS + simulation.BACKGROUND_WARNINGS + simulation.BACKGROUND_ERRORS
        names = [s["name"] for s in simulation.SERVICES]
        for _ in range(benign):
            out.append(Example(sim._fill(rng.choice(everyday), rng.choice(names)), NONE, group))
    return list(dict.fromkeys(out)) if unique else out


def starting_examples(*, seeds: tuple[int, ...] = (101, 102, 103)) -> list[Example]:
    """What a fresh installation trains on: the library's words and the simulator's faults."""
    return list(_starting_examples(seeds))


@functools.cache
def _starting_examples(seeds: tuple[int, ...]) -> tuple[Example, ...]:
    # The same every time (fixed seeds): made once per process (a few seconds of simulation).
    out = builtin_examples()
    for seed in seeds:
        out.extend(simulated_examples(seed=seed, level="line", unique=True))
        out.extend(simulated_examples(seed=seed, level="incident"))
    return tuple(out)
