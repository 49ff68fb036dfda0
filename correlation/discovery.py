"""New patterns from incident history: cluster incidents by what they said, propose what no pattern explains.

Each incident is one document: the templates of its alerts and error logs (values masked by
correlation.logtemplates), lower-cased. Documents are embedded with TF-IDF (word 1-2-grams) and
clustered by agglomerative clustering on cosine distance with average linkage, cut at
`DISTANCE` (no fixed number of clusters: history decides). A cluster of at least `MIN_SIZE`
incidents is *explained* when most of its incidents match a pattern of the library
(correlation.patterns.pattern_best on their text); the others become proposals: a signature
(the terms that weigh most in the cluster and occur in at least half of its incidents), a
suggested name from the first terms, the incidents as examples, and the most common type or tag
among them. Proposals are stored as patterns of origin "learned" in state "proposed" and curated
in the admin. Plain module without Django.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from correlation.classifier import normalise
from correlation.patterns import PatternSpec, pattern_best

DISTANCE = 0.7  # cosine distance at which clusters stop merging
MIN_SIZE = 3
MAX_KEYWORDS = 6
MAX_INCIDENTS = 2000  # agglomerative clustering is quadratic in memory: the most recent ones
STOPWORDS = frozenset("a an the of to in on for from at by with and or is are was were be been it this that as after "
                      "than above below not no into out over".split())


@dataclass(frozen=True)
class IncidentDoc:
    id: int
    text: str  # its alerts' and error logs' messages, one per line
    types: tuple[str, ...] = ()  # pattern slug, incident type, tags


@dataclass(frozen=True)
class ProposedPattern:
    slug: str
    name: str
    keywords: tuple[str, ...]
    examples: tuple[int, ...]  # incident ids
    size: int
    incident_type: str


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "pattern"


def patterns_propose(incidents: Sequence[IncidentDoc], library: Sequence[PatternSpec], *, distance: float = DISTANCE,
                     min_size: int = MIN_SIZE) -> list[ProposedPattern]:
    """Clusters of incidents that no pattern of `library` explains, as proposed patterns (largest first)."""
    docs = [d for d in incidents[-MAX_INCIDENTS:] if d.text.strip()]
    if len(docs) < max(2, min_size):
        return []
    texts = [normalise(d.text) for d in docs]
    # scikit-learn is imported here, when patterns are discovered (weekly or on demand): every
    # web and worker process imports this module, and would otherwise pay scikit-learn's start-up.
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer
    from threadpoolctl import threadpool_limits

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), stop_words=list(STOPWORDS), token_pattern=r"(?u)\b[a-z][a-z0-9_.-]+\b")
    try:
        X = vectorizer.fit_transform(texts)
    except ValueError:  # nothing but stop words and values
        return []
    with threadpool_limits(limits=1):
        labels = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                         distance_threshold=distance).fit_predict(X.toarray())
    terms = np.array(vectorizer.get_feature_names_out())
    proposals = []
    taken: set[str] = set()
    for cluster in sorted(set(labels), key=lambda c: -int((labels == c).sum())):
        members = [i for i in range(len(docs)) if labels[i] == cluster]
        if len(members) < min_size:
            continue
        explained = sum(1 for i in members if pattern_best(list(library), text=texts[i]) is not None)
        if explained * 2 > len(members):
            continue
        weight = np.asarray(X[members].mean(axis=0)).ravel()
        present = np.asarray((X[members] > 0).sum(axis=0)).ravel()
        keywords = []
        for j in np.argsort(-weight):
            if weight[j] <= 0 or len(keywords) >= MAX_KEYWORDS:
                break
            term = str(terms[j])
            if present[j] * 2 >= len(members) and not any(term in k or k in term for k in keywords):
                keywords.append(term)
        if not keywords:
            continue
        name = " / ".join(keywords[:3]).capitalize()
        slug = "learned-" + _slugify(" ".join(keywords[:3]))
        while slug in taken:
            slug += "-x"
        taken.add(slug)
        types = Counter(t for i in members for t in docs[i].types)
        proposals.append(ProposedPattern(
            slug=slug, name=name, keywords=tuple(keywords), examples=tuple(docs[i].id for i in members[:10]),
            size=len(members), incident_type=types.most_common(1)[0][0] if types else "learned",
        ))
    return proposals
