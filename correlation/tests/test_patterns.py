"""The pattern library: built-ins loaded by migration, matching, and curated patterns taking part."""
import pytest

from correlation.loading import patterns_load
from correlation.patterns import PatternSpec, pattern_best
from incidents.catalogue import BUILTIN_PATTERNS, builtin_patterns_install
from incidents.models import Pattern

KINDS = {
    "db-connection-pool-exhaustion", "memory-leak-oom", "bad-deploy", "disk-full", "certificate-expiry", "dns-failure",
    "network-partition", "cache-eviction-storm", "queue-backlog", "cpu-throttling", "slow-third-party",
}


def specs() -> list[PatternSpec]:
    return [PatternSpec.from_signals(slug=p["slug"], name=p["name"], signals=p["signals"]) for p in BUILTIN_PATTERNS]


def test_every_builtin_has_signals_remediation_and_a_runbook():
    assert {p["slug"] for p in BUILTIN_PATTERNS} == KINDS
    for p in BUILTIN_PATTERNS:
        assert p["signals"]["keywords"] and p["signals"]["metrics"], p["slug"]
        assert len(p["remediation"]) >= 3 and p["runbook_url"].startswith("https://"), p["slug"]


@pytest.mark.django_db
def test_the_migration_loaded_the_builtins_and_reinstalling_keeps_admin_edits():
    assert set(Pattern.objects.filter(origin="builtin").values_list("slug", flat=True)) == KINDS
    Pattern.objects.filter(slug="disk-full").update(name="Disk full (edited)")
    assert builtin_patterns_install() == 0
    assert Pattern.objects.get(slug="disk-full").name == "Disk full (edited)"
    Pattern.objects.filter(slug="dns-failure").delete()
    assert builtin_patterns_install() == 1


@pytest.mark.parametrize(
    "text, metrics, slug",
    [
        ("fatal: remaining connection slots are reserved for superuser", set(), "db-connection-pool-exhaustion"),
        ("container checkout was oomkilled (exit code 137)", {"memory_pct"}, "memory-leak-oom"),
        ("write failed: no space left on device", set(), "disk-full"),
        ("x509: certificate has expired or is not yet valid", set(), "certificate-expiry"),
        ("dial tcp: lookup payments.svc: no such host", set(), "dns-failure"),
        ("redis evicted_keys climbing: maxmemory reached", {"cache_hit_ratio"}, "cache-eviction-storm"),
        ("consumer lag above 50000 messages on orders topic", set(), "queue-backlog"),
        ("cpu throttled 85% of periods", {"cpu_throttled_pct"}, "cpu-throttling"),
        ("timed out calling payment provider after 10s", set(), "slow-third-party"),
        ("error rate jumped after rollout of v2.4.1", set(), "bad-deploy"),
        ("kafka-2: no route to host, lost quorum", set(), "network-partition"),
    ],
)
def test_matching_recognises_each_failure_mode(text, metrics, slug):
    match = pattern_best(specs(), text=text, metrics=metrics)
    assert match is not None and match.pattern.slug == slug


def test_keywords_match_at_word_starts_only_and_weak_evidence_matches_nothing():
    oom = next(s for s in specs() if s.slug == "memory-leak-oom")
    assert oom.score(text="the meeting room is booked") == 0.0
    assert oom.score(text="oom") > 0.5
    assert pattern_best(specs(), text="get /cart 200 in 12ms") is None
    # A metric name alone is not enough to name a pattern.
    assert pattern_best(specs(), text="", metrics={"cpu_pct"}) is None


def test_tier_weighs_where_a_failure_usually_starts():
    pool = next(s for s in specs() if s.slug == "db-connection-pool-exhaustion")
    text = "could not obtain connection from pool"
    assert pattern_best([pool], text=text, tier="database").score > pattern_best([pool], text=text, tier="backend").score


@pytest.mark.django_db
def test_curated_patterns_in_the_database_take_part_and_disabled_ones_do_not():
    Pattern.objects.create(
        slug="license-expired", name="Licence expired", incident_type="vendor", origin="curated",
        signals={"keywords": ["license expired", "licence expired"]},
    )
    Pattern.objects.filter(slug="disk-full").update(enabled=False)
    loaded = patterns_load()
    assert "license-expired" in {p.slug for p in loaded} and "disk-full" not in {p.slug for p in loaded}
    assert pattern_best(loaded, text="vendor sdk: license expired yesterday").pattern.slug == "license-expired"
