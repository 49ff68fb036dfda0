"""The service dependency graph as plain data (no Django): who depends on whom, and how far.

The correlation engine ranks root causes on it (correlation.rca), and the console's service map
follows a cascade on it (incidents.screens). `deps[a]` are the services `a` calls ("a depends on
b": a failure of b spreads to a). Nodes are any hashable names (service names, or ids).
"""
from __future__ import annotations

from collections import deque


class Topology:
    """The dependency graph by service name: `deps[a]` are the services `a` calls ("a depends on b")."""

    def __init__(self, deps: dict[str, set[str] | list[str]], tiers: dict[str, str] | None = None):
        self.deps: dict[str, frozenset[str]] = {a: frozenset(b) for a, b in deps.items()}
        dependants: dict[str, set[str]] = {}
        for a, bs in self.deps.items():
            for b in bs:
                dependants.setdefault(b, set()).add(a)
        self.dependants: dict[str, frozenset[str]] = {b: frozenset(a) for b, a in dependants.items()}
        self.tiers = dict(tiers or {})
        self._down: dict[str, dict[str, int]] = {}
        self._up: dict[str, dict[str, int]] = {}

    @staticmethod
    def _walk(start: str, edges: dict[str, frozenset[str]]) -> dict[str, int]:
        seen = {start: 0}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for nxt in edges.get(node, ()):
                if nxt not in seen:
                    seen[nxt] = seen[node] + 1
                    queue.append(nxt)
        return seen

    def downstream(self, name: str) -> dict[str, int]:
        """Everything `name` depends on, directly or not, with the number of hops (itself at 0)."""
        if name not in self._down:
            self._down[name] = self._walk(name, self.deps)
        return self._down[name]

    def upstream(self, name: str) -> dict[str, int]:
        """Everything that depends on `name`, directly or not, with the number of hops (itself at 0)."""
        if name not in self._up:
            self._up[name] = self._walk(name, self.dependants)
        return self._up[name]

    def distance(self, a: str, b: str) -> int | None:
        """Hops along a dependency path between a and b in either direction; None when neither reaches the other."""
        hops = [d for d in (self.downstream(a).get(b), self.upstream(a).get(b)) if d is not None]
        return min(hops) if hops else None

    def tier(self, name: str) -> str:
        return self.tiers.get(name, "")


def cascade(topology: Topology, root) -> set:
    """The services a failure at `root` spreads to: `root` and everything that depends on it,
    directly or through each other."""
    return set(topology.upstream(root))
