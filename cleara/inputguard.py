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


def _clean(data, max_depth: int) -> bool:
    """True when `problems` would find nothing: the same conditions, without building paths.

    Most bodies are clean; this pass is ~3x cheaper than the naming walk, which runs only when it
    says no. Strings and keys are joined and searched once (a surrogate code point in the join
    is one in some string: Python never stores a valid pair as surrogates)."""
    strings: list[str] = []
    stack: list[tuple[object, int]] = [(data, 0)]
    pop, add = stack.pop, strings.append
    while stack:
        value, depth = pop()
        kind = type(value)
        if kind is str:
            add(value)
        elif kind is dict:
            if depth >= max_depth:
                return False
            strings.extend(value)
            stack.extend((item, depth + 1) for item in value.values())
        elif kind is list:
            if depth >= max_depth:
                return False
            stack.extend((item, depth + 1) for item in value)
        elif kind is int:
            if value > MAX_INT or value < -MAX_INT:
                return False
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif kind is not bool and value is not None:
            return False  # _TooBig, or anything else: let the walk name it
    text = "".join(strings)
    return "\x00" not in text and (text.isascii() or not LONE_SURROGATE.search(text))


def problems(data, *, limits: Limits = Limits(), index_offset: int | None = None) -> list[dict]:
    """Every problem in a parsed document (iterative: depth costs no recursion)."""
    if _clean(data, limits.max_depth):
        return []
    return _named(data, limits=limits, index_offset=index_offset)


def _named(data, *, limits: Limits, index_offset: int | None) -> list[dict]:
    """The walk that names each problem's index, field and reason."""
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


# Where str.splitlines breaks a line and bytes.splitlines does not (the view splits the text).
_STR_ONLY_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_UNPARSED = object()


@dataclass(frozen=True)
class Parsed:
    """A body the guard parsed and found clean, handed to the view so it is not parsed twice.

    Only given when it is exactly what the view's own parse would give: the body is UTF-8
    (json.loads of bytes also reads UTF-16/32 and a BOM, the view refuses them), and for JSON
    Lines the body splits into the same lines as text as it does as bytes. `value` is the
    document, or the documents of the non-blank lines in order."""

    lines: bool
    value: object


def check_json(body: bytes, *, lines: bool = False, limits: Limits = Limits()) -> Parsed | None:
    """Raise Refused(400) naming every hostile value; a body that is not JSON is left to the view.
    A clean body comes back parsed when the view may use it as its own parse (see Parsed)."""
    if lines:
        errors: list[dict] = []
        values: list = []
        reusable = _utf8_without_str_only_breaks(body)
        for number, line in enumerate(body.splitlines()):
            if line.strip():
                found, value, encoding = _check_one(line, limits, index=number)
                errors += found
                if value is _UNPARSED or encoding != "utf-8":
                    reusable = False
                elif reusable:
                    values.append(value)
        if errors:
            raise Refused(400, "invalid events", errors[:MAX_ERRORS])
        return Parsed(lines=True, value=values) if reusable else None
    errors, value, encoding = _check_one(body, limits, index=None)
    if errors:
        raise Refused(400, "invalid request body", errors)
    return Parsed(lines=False, value=value) if value is not _UNPARSED and encoding == "utf-8" and _utf8(body) else None


def _utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _utf8_without_str_only_breaks(body: bytes) -> bool:
    try:
        return not _STR_ONLY_BREAKS.search(body.decode("utf-8"))
    except UnicodeDecodeError:
        return False


def _check_one(text: bytes, limits: Limits, *, index: int | None) -> tuple[list[dict], object, str | None]:
    """(problems, the parsed value or _UNPARSED, the encoding json.loads would read it in)."""
    encoding = None
    try:
        encoding = json.detect_encoding(text)  # what json.loads(bytes) does, kept to know it
        data = loads(text.decode(encoding, "surrogatepass"))
    except RecursionError:
        return [{"index": index, "field": "", "reason": f"nested deeper than {limits.max_depth} levels"}], _UNPARSED, encoding
    except ValueError as exc:
        if "not a JSON number" in str(exc):
            return [{"index": index, "field": "", "reason": str(exc)}], _UNPARSED, encoding
        return [], _UNPARSED, encoding  # not JSON: the view says so in its own words
    return problems(data, limits=limits, index_offset=index), data, encoding


def query_problems(params: dict[str, list[str]]) -> list[dict]:
    errors = []
    for name, values in params.items():
        for value in [name, *values]:
            problem = string_problem(value)
            if problem:
                errors.append({"index": None, "field": name.replace("\x00", "\\u0000"), "reason": problem})
                break
    return errors
