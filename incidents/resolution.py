"""How long incidents take to resolve: the estimate the console's recommendations show (plain
functions, no Django)."""
from __future__ import annotations


def time_to_resolve_estimate(minutes: list[float], *, basis: str) -> dict | None:
    """The median time to resolve of similar incidents (negative durations, bad clocks, left out),
    with the interquartile range, what they have in common (`basis`) and how many they are; None
    when there are none."""
    durations = sorted(d for d in minutes if d >= 0)
    if not durations:
        return None
    mid = len(durations) // 2
    median = durations[mid] if len(durations) % 2 else (durations[mid - 1] + durations[mid]) / 2
    return {"minutes": median, "basis": basis, "count": len(durations),
            "p_low": durations[len(durations) // 4], "p_high": durations[(3 * len(durations)) // 4]}
