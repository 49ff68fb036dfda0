"""Hostile JSON, refused before any view sees it. Pure: no Django.

What the views' own validation cannot see because it breaks Python or the database first:
NUL characters (PostgreSQL text cannot hold them), lone UTF-16 surrogates (not encodable as
UTF-8), integers beyond 64 bits (and the 4,300-digit limit of int()), non-finite numbers
(1e999, NaN, Infinity) and nesting deeper than `max_depth` (json's recursion). Each problem is
named the way ingest names a bad event: the index of the item in the batch (the first list on
the way), the field below it, and the reason.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

MAX_INT = 2**63 - 1
LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
MAX_ERRORS = 20


class Refused(ValueError):
    """A body or parameter that must not go further: status, sentence, and per-field errors."""

    def __init__(self, status: int, detail: str, errors: list[dict] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors or []

    def as_dict(self) -> dict:
        return {"detail": self.detail, "errors": self.errors} if self.errors else {"detail": self.detail}


@dataclass(frozen=True)
class Limits:
    max_depth: int = 32


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _big_int(text: str) -> int:
    if len(text.lstrip("-")) > 19:  # beyond any 64-bit integer, and int() of 4,300+ digits raises
        return _TooBig(text)
    return int(text)


class _TooBig(int):
    """An integer literal too long to be one: kept as a marker so the walk can name where it was."""

    def __new__(cls, text: str):
        obj = super().__new__(cls, 0)
        obj.digits = len(text.lstrip("-"))
        return obj


def string_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character (\\u0000)"
    if LONE_SURROGATE.search(value):
        return "contains a lone UTF-16 surrogate (not valid Unicode)"
    return None


def _where(path: list) -> tuple[int | None, str]:
    for i, part in enumerate(path):
        if isinstance(part, int):
            # "labels.service" of alert 3 ({"alerts": [...]}); "values" of a list of numbers.
            return part, ".".join(str(p) for p in path[i + 1:]) or ".".join(str(p) for p in path[:i])
    return None, ".".join(str(p) for p in path)


def problems(data, *, limits: Limits = Limits(), index_offset: int | None = None) -> list[dict]:
    """Every problem in a parsed document (iterative: depth costs no recursion)."""
    found: list[dict] = []

    def add(path: list, reason: str) -> None:
        index, field = _where(path)
        if index_offset is not None:
            index, field = index_offset, ".".join(str(p) for p in path)
        found.append({"index": index, "field": field, "reason": reason})

    stack: list[tuple[object, list]] = [(data, [])]
    while stack and len(found) < MAX_ERRORS:
        value, path = stack.pop()
        if isinstance(value, dict):
            if len(path) >= limits.max_depth:
                add(path, f"nested deeper than {limits.max_depth} levels")
                continue
            for key, item in value.items():
                problem = string_problem(key)
                if problem:
                    add(path + [key.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")], f"key {problem}")
                    continue
                stack.append((item, path + [key]))
        elif isinstance(value, list):
            if len(path) >= limits.max_depth:
                add(path, f"nested deeper than {limits.max_depth} levels")
                continue
            stack.extend((item, path + [i]) for i, item in reversed(list(enumerate(value))))
        elif isinstance(value, str):
            problem = string_problem(value)
            if problem:
                add(path, problem)
        elif isinstance(value, _TooBig):
            add(path, f"integer of {value.digits} digits: at most 64-bit integers (±9223372036854775807)")
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            add(path, "integer beyond 64 bits (±9223372036854775807)")
        elif isinstance(value, float) and not math.isfinite(value):
            add(path, "number out of range (not finite)")
    found.sort(key=lambda e: (e["index"] is None, e["index"] or 0, e["field"]))
    return found


def loads(text: str | bytes):
    """json.loads that keeps over-long integers as markers and refuses NaN/Infinity."""
    return json.loads(text, parse_int=_big_int, parse_constant=_reject_constant)


def check_json(body: bytes, *, lines: bool = False, limits: Limits = Limits()) -> None:
    """Raise Refused(400) naming every hostile value; a body that is not JSON is left to the view."""
    if lines:
        errors: list[dict] = []
        for number, line in enumerate(body.splitlines()):
            if line.strip():
                errors += _check_one(line, limits, index=number)
        if errors:
            raise Refused(400, "invalid events", errors[:MAX_ERRORS])
        return
    errors = _check_one(body, limits, index=None)
    if errors:
        raise Refused(400, "invalid request body", errors)


def _check_one(text: bytes, limits: Limits, *, index: int | None) -> list[dict]:
    try:
        data = loads(text)
    except RecursionError:
        return [{"index": index, "field": "", "reason": f"nested deeper than {limits.max_depth} levels"}]
    except ValueError as exc:
        if "not a JSON number" in str(exc):
            return [{"index": index, "field": "", "reason": str(exc)}]
        return []  # not JSON: the view says so in its own words
    return problems(data, limits=limits, index_offset=index)


def query_problems(params: dict[str, list[str]]) -> list[dict]:
    errors = []
    for name, values in params.items():
        for value in [name, *values]:
            problem = string_problem(value)
            if problem:
                errors.append({"index": None, "field": name.replace("\x00", "\\u0000"), "reason": problem})
                break
    return errors
