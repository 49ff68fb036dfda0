"""New patterns: clusters of incidents that no library pattern explains become proposals."""
from correlation.discovery import IncidentDoc, patterns_propose
from correlation.patterns import PatternSpec
from incidents.catalogue import BUILTIN_PATTERNS

LIBRARY = [PatternSpec.from_signals(slug=p["slug"], name=p["name"], signals=p["signals"], incident_type=p["incident_type"])
           for p in BUILTIN_PATTERNS]


def docs():
    novel = [IncidentDoc(i, f"license server unreachable: seat checkout refused for build agent {i}\n"
                            f"build queue stalled waiting for license seat (job {i * 7})", ("ci",)) for i in range(1, 6)]
    known = [IncidentDoc(10 + i, f"FATAL: sorry, too many clients already\nHikariPool-1 - Connection is not available, "
                                 f"request timed out after {30000 + i}ms", ("database",)) for i in range(5)]
    other = [IncidentDoc(20, "kernel: eth0 link down"), IncidentDoc(21, "cron job backup finished in 31 s")]
    return novel + known + other


def test_an_unexplained_cluster_becomes_a_proposal_with_signature_examples_and_type():
    proposals = patterns_propose(docs(), LIBRARY)
    assert len(proposals) == 1
    p = proposals[0]
    assert p.size == 5 and set(p.examples) == {1, 2, 3, 4, 5}
    assert any("license" in k for k in p.keywords) and p.slug.startswith("learned-")
    assert p.incident_type == "ci" and p.name


def test_clusters_the_library_explains_and_small_ones_propose_nothing():
    explained_only = [d for d in docs() if d.id >= 10]
    assert patterns_propose(explained_only, LIBRARY) == []
    assert patterns_propose(docs()[:2], LIBRARY) == []
    assert patterns_propose([IncidentDoc(1, ""), IncidentDoc(2, "  ")], LIBRARY) == []
