"""Random estates for the scenario fuzzer: who calls whom, what runs where, what never reports.

Four families of shape, each drawn at random in size and depth:

- `layered`: edge proxies, one or two backends-for-frontends or public APIs, two to four layers of
  services, datastores and caches at the bottom; everyone resolves names through one DNS.
- `mesh`: a service mesh: services call each other in a random acyclic graph (any layer to any
  deeper one), and every service's traffic goes through the mesh's sidecar plane and DNS.
- `pools`: layered, but every workload runs on one of a few node pools and depends on it: a pool
  that fails takes down everything scheduled on it, services that do not call each other at all.
- `queues`: producers publish to brokers, workers consume from them and write to datastores;
  a stalled worker shows first as backlog on its broker (a dependency that alerts for its dependant).

Every family may add third-party APIs (called by a few services, never sending any telemetry of
their own: silent roots) and shared infrastructure. Names come from a vocabulary of their own, so
that no estate looks like the demo estate of `correlation.simulation`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

FAMILIES = ("layered", "mesh", "pools", "queues")

DOMAINS = [
    "ledger", "quotes", "invoicing", "shipping", "pricing", "identity", "sessions", "profile", "inventory",
    "fulfilment", "loyalty", "notify", "reviews", "media", "thumbnails", "billing", "tax", "fraud", "ratings",
    "geo", "routing", "orders", "returns", "wishlist", "coupons", "audit", "reporting", "exports", "webhooks",
    "scheduler", "offers", "booking", "payouts", "kyc", "onboarding", "feeds", "chat", "presence", "tickets",
    "warehouse", "dispatch", "tracking", "refunds", "subscriptions", "metering", "quota", "consent", "ads",
]
SUFFIXES = ["", "-svc", "-api", "-core", "-v2", "-engine", "-backend"]
EDGES = ["edge-proxy", "ingress-nginx", "cdn-origin", "envoy-edge"]
FRONTS = ["bff-web", "bff-mobile", "public-api", "graphql-gw", "partner-api"]
STORES = ["pg-main", "pg-ledger", "mysql-legacy", "mongo-docs", "cassandra-events", "es-search", "clickhouse", "s3-blobs"]
CACHES = ["redis-sessions", "redis-cache", "memcached", "keydb"]
BROKERS = ["kafka-main", "rabbitmq", "nats", "pulsar", "sqs-bridge"]
THIRD_PARTY = ["stripe-api", "twilio-api", "sendgrid-api", "maps-api", "auth0-tenant", "adyen-api", "shipengine-api"]
DNS = ["coredns", "kube-dns", "unbound"]
MESH = ["istio-proxy", "linkerd-proxy", "consul-connect"]


@dataclass
class Node:
    name: str
    role: str  # edge, front, app, worker, store, cache, broker, thirdparty, dns, mesh, pool
    hosts: list[str]
    deps: set[str] = field(default_factory=set)
    tier: str = ""

    @property
    def silent(self) -> bool:
        """Sends no telemetry of its own (somebody else's API)."""
        return self.role == "thirdparty"


@dataclass
class Estate:
    family: str
    nodes: dict[str, Node]

    def dependants(self, name: str) -> set[str]:
        return {n for n, node in self.nodes.items() if name in node.deps}

    def by_role(self, *roles: str) -> list[str]:
        return sorted(n for n, node in self.nodes.items() if node.role in roles)

    def to_topology(self) -> dict:
        """What `manage.py replay --topology` reads (the shape of GET /api/v1/services)."""
        return {"services": [
            {"name": n.name, "tier": n.tier or n.role, "team": f"team-{n.role}", "depends_on": sorted(n.deps)}
            for n in sorted(self.nodes.values(), key=lambda n: n.name)
        ]}


def _names(rng: random.Random, pool: list[str], k: int, taken: set[str]) -> list[str]:
    out = []
    candidates = list(pool)
    rng.shuffle(candidates)
    for base in candidates:
        if len(out) == k:
            break
        name = base + rng.choice(SUFFIXES) if pool is DOMAINS else base
        if name in taken or base in taken:
            continue
        taken.update((name, base))
        out.append(name)
    return out


def _hosts(rng: random.Random, name: str, lo: int, hi: int) -> list[str]:
    n = rng.randint(lo, hi)
    tag = "".join(rng.choice("abcdefghjkmnpqrstuvwxyz0123456789") for _ in range(5))
    return [f"{name}-{tag}-{i}" for i in range(n)]


def estate_random(rng: random.Random, family: str) -> Estate:
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; one of {', '.join(FAMILIES)}")
    taken: set[str] = set()
    nodes: dict[str, Node] = {}

    def add(name: str, role: str, lo: int = 1, hi: int = 3, tier: str = "") -> Node:
        nodes[name] = Node(name, role, _hosts(rng, name, lo, hi), tier=tier or role)
        return nodes[name]

    stores = [add(n, "store", 1, 3, "database").name for n in _names(rng, STORES, rng.randint(1, 4), taken)]
    caches = [add(n, "cache", 1, 2, "cache").name for n in _names(rng, CACHES, rng.randint(0, 2), taken)]
    dns = add(rng.choice(DNS), "dns", 2, 2, "infrastructure").name if rng.random() < 0.85 else None
    third = [add(n, "thirdparty", 1, 1, "external").name for n in _names(rng, THIRD_PARTY, rng.randint(1, 3), taken)]
    bottom = stores + caches

    if family in ("layered", "pools"):
        layers: list[list[str]] = []
        for _ in range(rng.randint(2, 4)):
            layers.append([add(n, "app", 1, 4, "backend").name for n in _names(rng, DOMAINS, rng.randint(2, 7), taken)])
        fronts = [add(n, "front", 2, 3, "gateway").name for n in _names(rng, FRONTS, rng.randint(1, 2), taken)]
        edges = [add(n, "edge", 2, 3, "edge").name for n in _names(rng, EDGES, rng.randint(0, 1), taken)]
        for e in edges:
            nodes[e].deps |= set(fronts)
        for f in fronts:
            nodes[f].deps |= set(rng.sample(layers[0], k=rng.randint(1, len(layers[0]))))
        for depth, layer in enumerate(layers):
            below = [s for lower in layers[depth + 1:] for s in lower]
            for s in layer:
                if below:
                    nodes[s].deps |= set(rng.sample(below, k=min(len(below), rng.randint(0, 3))))
                nodes[s].deps |= set(rng.sample(bottom, k=min(len(bottom), rng.randint(1, 2)))) if bottom else set()
        apps = [s for layer in layers for s in layer]
    elif family == "mesh":
        apps = [add(n, "app", 1, 4, "backend").name for n in _names(rng, DOMAINS, rng.randint(10, 28), taken)]
        fronts = [add(n, "front", 2, 3, "gateway").name for n in _names(rng, FRONTS, rng.randint(1, 2), taken)]
        for f in fronts:
            nodes[f].deps |= set(rng.sample(apps[: max(3, len(apps) // 3)], k=rng.randint(2, max(2, len(apps) // 3))))
        for i, s in enumerate(apps):
            later = apps[i + 1:]
            if later:
                nodes[s].deps |= set(rng.sample(later, k=min(len(later), rng.randint(0, 4))))
            if bottom and rng.random() < 0.7:
                nodes[s].deps.add(rng.choice(bottom))
        mesh = add(rng.choice(MESH), "mesh", 3, 3, "infrastructure").name
        for s in apps + fronts:
            nodes[s].deps.add(mesh)
        edges = []
    else:  # queues
        brokers = [add(n, "broker", 1, 3, "queue").name for n in _names(rng, BROKERS, rng.randint(1, 2), taken)]
        apps = [add(n, "app", 1, 3, "backend").name for n in _names(rng, DOMAINS, rng.randint(4, 10), taken)]
        workers = [add(n + "-worker", "worker", 1, 4, "worker").name for n in _names(rng, DOMAINS, rng.randint(3, 8), taken)]
        fronts = [add(n, "front", 2, 3, "gateway").name for n in _names(rng, FRONTS, 1, taken)]
        nodes[fronts[0]].deps |= set(rng.sample(apps, k=rng.randint(2, len(apps))))
        for i, s in enumerate(apps):
            later = apps[i + 1:]
            if later and rng.random() < 0.5:
                nodes[s].deps |= set(rng.sample(later, k=min(len(later), rng.randint(1, 2))))
            if rng.random() < 0.7:
                nodes[s].deps.add(rng.choice(brokers))
            if bottom:
                nodes[s].deps.add(rng.choice(bottom))
        for w in workers:
            nodes[w].deps.add(rng.choice(brokers))
            if bottom:
                nodes[w].deps |= set(rng.sample(bottom, k=min(len(bottom), rng.randint(1, 2))))
            if rng.random() < 0.3:
                nodes[w].deps.add(rng.choice(apps))
        apps = apps + workers
        edges = []

    for t in third:
        for s in rng.sample(apps, k=min(len(apps), rng.randint(1, 3))):
            nodes[s].deps.add(t)
    if dns:
        for n in nodes.values():
            if n.role not in ("thirdparty", "dns") and rng.random() < 0.9:
                n.deps.add(dns)
    if family == "pools":
        pools = [add(f"nodepool-{c}", "pool", 3, 6, "infrastructure").name for c in rng.sample("abcdefgh", rng.randint(2, 4))]
        for n in nodes.values():
            if n.role in ("app", "front", "store", "cache", "edge", "worker"):
                n.deps.add(rng.choice(pools))
    # Drop datastores and caches nobody ended up calling.
    used = {d for n in nodes.values() for d in n.deps}
    for name in [n for n, node in nodes.items() if node.role in ("store", "cache", "thirdparty") and n not in used]:
        del nodes[name]
    return Estate(family, nodes)
