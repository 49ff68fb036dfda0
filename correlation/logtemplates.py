"""Log templates: every log message reduced online to a template and its parameters.

Our own Drain-style parse tree rather than the `drain3` package: drain3 with its defaults groups
the shared loghub samples at 0.75 (bench/README.md), and its similarity threshold merges two
events that differ in one constant word ("stored as bytes" / "stored as values") as readily as
two values of one parameter. The rules here, the same for every source:

1. **Masking** by shape: URLs, UUIDs, e-mail addresses, IPv4/IPv6 (with a port), MAC addresses,
   dates and times (also "Sun Jul 17 23:21:54 2005"), hex numbers, paths, quantities with a unit
   ("16.0 KB", "3000ms", "<1 sec") become `<*>`; inside a token every run of word characters
   that holds a digit is a value ("uid=0" -> "uid=<*>", "blk_-695..." -> "<*>"). A token left
   with nothing but wildcards and punctuation ("(<*>)", "<*>,") is a wildcard; consecutive
   wildcards collapse into one, so a value is one wildcard however many tokens it took.
2. **Exact shapes**: messages with the same masked token sequence are one template at once.
3. **Generalising a position**: words are constants until proven otherwise. Templates of the
   same length that agree everywhere but at one position merge, that position becoming `<*>`,
   once `MIN_VALUES` distinct words have been seen there ("session opened for user cyrus / news
   / test / root ..."); two or three words at a place ("force=false" / "force=true") stay
   distinct events. Merges cascade (a merged template may then agree with others elsewhere).
4. **Same constants**: a message whose constant tokens (those that are not `<*>`), in order,
   are a template's joins it although its token count differs (an empty or longer value).

A template keeps its id while it generalises; one that merges into another keeps answering to
its old id (`resolve`). State is plain data (`to_dict` / `from_dict`). Plain module without
Django: the benchmark (bench/templates.py) and the tests drive it directly.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

WILDCARD = "<*>"
# Distinct words seen at one position before it becomes a parameter. Chosen leave-one-system-out
# on the loghub samples (bench/templates.py); the same for every source.
MIN_VALUES = 5
# The first tokens name the event ("cupsd startup succeeded" and "portmap startup succeeded" are
# two events): positions before this one never become parameters by generalising.
KEEP_FIRST = 1
MAX_MESSAGE_CHARS = 4000
MAX_TOKEN_CHARS = 256  # a longer token holding a value is one value (and keeps the regexes linear)
MAX_SLOT_TOKENS = 100  # longer templates are not generalised position by position
# Lines masked and split once per miner: a line seen again (a health check, the same error from
# the same host) costs a dictionary lookup. Cleared whole when full; longer lines are not kept.
TOKEN_CACHE_LINES = 20_000
TOKEN_CACHE_CHARS = 512

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
_TLDS = ("com", "net", "org", "edu", "gov", "mil", "io", "info", "biz", "local", "lan", "internal", "co", "ac")
_UNIT = r"(?:[KMGTP]i?B|[KMGTP]?bytes?|B|ms|us|ns|s|secs?|seconds?|mins?|minutes?|h|hours?|days?|%)"

# Value shapes, tried left to right at each place (earlier alternatives win).
MASKS: tuple[tuple[str, str], ...] = (
    ("url", r"(?<![\w+.-])(?>[a-zA-Z][a-zA-Z0-9+.-]*)://[^\s\"'<>]+"),
    ("uuid", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    ("email", r"(?<![\w.+-])(?>[\w.+-]+)@[\w-]+(?:\.[\w-]+)+\b"),
    ("datetime", rf"\b(?:{_DAY},?\s+)?{_MONTH}\s+\d{{1,2}},?\s+(?:\d{{4}}\s+)?\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?:[.,]\d+)?(?:\s+\d{{4}})?\b"),
    ("isodate", r"\b\d{4}[-/]\d{1,2}[-/]\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"),
    ("ipv4", r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\d.])"),
    ("ipv6", r"(?<![\w:])(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{1,4}(?![\w:])"),
    ("mac", r"\b(?:[0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}\b"),
    ("hex", r"\b0[xX][0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"),
    ("quantity", rf"(?<![\w.])[<>~]?\d+(?:[.,]\d+)?\s?{_UNIT}(?![\w])"),
    # A dotted name taken whole (atomic: no backtracking through long dotted words), then kept
    # only if it ends in a common top-level domain.
    ("host", r"(?<![\w.-])(?>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?:"
             + "|".join(rf"(?<=\.{tld})|(?<=\.{tld}\.[a-z][a-z])" for tld in _TLDS) + ")"),
    ("path", r"(?<![\w.~])(?:/[\w.@~+%=&,-]+){2,}/?(?:\?[^\s\"']*)?"),
    ("empty", r"\(\)|\[\]|\{\}|\"\"|''"),
)

# A value inside a token: digit-bearing chunks of word characters, joined by . : / when every
# chunk holds a digit ("10.0.0.1:80", "v6.1.7601"); a word before a dot stays ("core.<*>").
_CHUNK = r"[\w@#+-]*\d[\w@#+-]*"
_VALUE_RUN = re.compile(rf"{_CHUNK}(?:[.:/]{_CHUNK})*")
# A value grows over the name-like characters around it: "rhost=<*>.dsl.example.nl" -> "rhost=<*>",
# "host.cn:<*>" -> "<*>", "blk_-<*>" -> "<*>"; brackets, quotes and "=" stop it ("(uid=<*>)").
_ABSORB = re.compile(r"(?:[\w-]*[.:](?=[\w<-]))*[\w-]*<\*>(?:[\w-]*(?:[.:][\w-]+)*)")
_ALNUM = re.compile(r"[A-Za-z0-9]")


def compile_masks(masks: tuple[tuple[str, str], ...] = MASKS) -> re.Pattern:
    return re.compile("|".join(f"(?:{rx})" for _, rx in masks))


_DEFAULT_MASK_RX = compile_masks()


def tokenize(message: str, mask_rx: re.Pattern = _DEFAULT_MASK_RX) -> list[str]:
    """The message's tokens with its values masked; consecutive wildcards collapse into one."""
    text = mask_rx.sub(WILDCARD, message.strip()[:MAX_MESSAGE_CHARS])
    out: list[str] = []
    for word in text.split():
        if len(word) > MAX_TOKEN_CHARS and (WILDCARD in word or any(c.isdigit() for c in word)):
            word = WILDCARD
        elif any(c.isdigit() for c in word):
            word = _VALUE_RUN.sub(WILDCARD, word)
        if WILDCARD in word:
            word = _ABSORB.sub(WILDCARD, word)
        if WILDCARD in word and not _ALNUM.search(word.replace(WILDCARD, "")):
            word = WILDCARD
        if word == WILDCARD and out and out[-1] == WILDCARD:
            continue
        out.append(word)
    return out


@dataclass
class Template:
    id: int
    tokens: list[str]
    size: int = 0
    # Positions that became parameters by generalising: any word fits there. A wildcard that
    # masking put in place takes only a token holding a masked value ("<*>", "host.cn:<*>").
    general: set[int] = field(default_factory=set)

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    def constants(self) -> tuple[str, ...]:
        return tuple(t for t in self.tokens if t != WILDCARD)

    def fits(self, tokens: Sequence[str]) -> bool:
        return len(tokens) == len(self.tokens) and all(
            a == b or (a == WILDCARD and (WILDCARD in b or i in self.general)) for i, (a, b) in enumerate(zip(self.tokens, tokens))
        )


@dataclass(frozen=True)
class Match:
    template_id: int
    template: str
    parameters: list[str]
    created: bool = False  # a new template
    changed: bool = False  # the template generalised (or merged with others) on this message


class TemplateMiner:
    """Online template miner. `add` learns from a message; `match` only looks."""

    def __init__(self, *, min_values: int = MIN_VALUES, keep_first: int = KEEP_FIRST, masks: tuple[tuple[str, str], ...] = MASKS):
        if min_values < 2:
            raise ValueError("min_values must be at least 2")
        self.min_values = min_values
        self.keep_first = keep_first
        self.masks = masks
        self._mask_rx = _DEFAULT_MASK_RX if masks is MASKS else compile_masks(masks)
        self.templates: dict[int, Template] = {}  # live templates
        self._merged: dict[int, int] = {}  # old id -> the id it merged into
        self._exact: dict[tuple[str, ...], int] = {}  # masked token sequence -> template id (maybe merged)
        self._by_constants: dict[tuple[str, ...], int] = {}
        self._buckets: dict[tuple[int, str], set[int]] = {}  # (length, first token) -> live templates
        # (length, tokens with one position blanked, position) -> {word at that position: template ids}
        self._slots: dict[tuple[int, tuple[str, ...], int], dict[str, set[int]]] = {}
        self._next_id = 1
        self._regex_cache: dict[str, re.Pattern] = {}
        self._tokens: dict[str, tuple[str, ...]] = {}  # line -> its tokens (TOKEN_CACHE_LINES)

    # -- lookups -------------------------------------------------------------------------------

    @property
    def merged(self) -> dict[int, int]:
        """Every merge so far, oldest first: old id -> the id it merged into (read-only use)."""
        return self._merged

    def resolve(self, template_id: int) -> int:
        """The live template an id answers to now (itself, or the one it merged into)."""
        while template_id in self._merged:
            template_id = self._merged[template_id]
        return template_id

    def _find(self, tokens: Sequence[str]) -> Template | None:
        tid = self._exact.get(tuple(tokens))
        if tid is not None:
            return self.templates[self.resolve(tid)]
        first = tokens[0] if tokens else ""
        for key in ((len(tokens), first), (len(tokens), WILDCARD)):
            for tid in self._buckets.get(key, ()):
                if self.templates[tid].fits(tokens):
                    return self.templates[tid]
        constants = tuple(t for t in tokens if t != WILDCARD)
        tid = self._by_constants.get(constants) if constants else None
        return self.templates[self.resolve(tid)] if tid is not None else None

    # -- index upkeep --------------------------------------------------------------------------

    def _index(self, template: Template) -> list[tuple]:
        """File a live template; return the slots that may now hold enough words to merge."""
        tokens = template.tokens
        self._buckets.setdefault((len(tokens), tokens[0] if tokens else ""), set()).add(template.id)
        self._by_constants.setdefault(template.constants(), template.id)
        ready = []
        if len(tokens) > MAX_SLOT_TOKENS:
            return ready
        for i, word in enumerate(tokens):
            if word == WILDCARD or i < self.keep_first:
                continue
            key = (len(tokens), tuple(tokens[:i]) + tuple(tokens[i + 1:]), i)
            words = self._slots.setdefault(key, {})
            words.setdefault(word, set()).add(template.id)
            if len(words) >= self.min_values:
                ready.append(key)
        return ready

    def _unindex(self, template: Template) -> None:
        tokens = template.tokens
        self._buckets.get((len(tokens), tokens[0] if tokens else ""), set()).discard(template.id)
        if len(tokens) > MAX_SLOT_TOKENS:
            return
        for i, word in enumerate(tokens):
            if word == WILDCARD or i < self.keep_first:
                continue
            key = (len(tokens), tuple(tokens[:i]) + tuple(tokens[i + 1:]), i)
            words = self._slots.get(key)
            if words and word in words:
                words[word].discard(template.id)
                if not words[word]:
                    del words[word]
                if not words:
                    del self._slots[key]

    def _generalise(self, ready: list[tuple]) -> int | None:
        """Merge the templates of every slot that has enough distinct words; returns the id the
        last merge kept (the caller's template may have been merged into it)."""
        kept = None
        while ready:
            key = ready.pop()
            words = self._slots.get(key)
            if not words or len(words) < self.min_values:
                continue
            ids = sorted({tid for tids in words.values() for tid in tids})
            keep = self.templates[ids[0]]
            for tid in ids:
                self._unindex(self.templates[tid])
            position = key[2]
            keep.tokens = list(keep.tokens)
            keep.tokens[position] = WILDCARD
            keep.general.add(position)
            for tid in ids[1:]:
                keep.general |= self.templates[tid].general
            for tid in ids[1:]:
                keep.size += self.templates.pop(tid).size
                self._merged[tid] = keep.id
            ready.extend(self._index(keep))
            kept = keep.id
        return kept

    # -- public --------------------------------------------------------------------------------

    def tokens(self, message: str) -> tuple[str, ...]:
        """`tokenize(message)` with this miner's masks, from the cache when the line was seen."""
        found = self._tokens.get(message)
        if found is None:
            found = tuple(tokenize(message, self._mask_rx))
            if len(message) <= TOKEN_CACHE_CHARS:
                if len(self._tokens) >= TOKEN_CACHE_LINES:
                    self._tokens.clear()
                self._tokens[message] = found
        return found

    def add(self, message: str) -> Match:
        """Learn from one message and return its template and parameters."""
        tokens = self.tokens(message)
        template = self._find(tokens)
        if template is not None:
            template.size += 1
            self._exact.setdefault(tuple(tokens), template.id)
            return Match(template.id, template.text, self.parameters(template, message))
        template = Template(self._next_id, list(tokens), size=1)
        self._next_id += 1
        self.templates[template.id] = template
        self._exact[tuple(tokens)] = template.id
        kept = self._generalise(self._index(template))
        if kept is None:
            return Match(template.id, template.text, self.parameters(template, message), created=True)
        live = self.templates[self.resolve(template.id)]
        return Match(live.id, live.text, self.parameters(live, message), created=live.id == template.id, changed=True)

    def match(self, message: str) -> Match | None:
        """The template a message belongs to, without learning anything (None if none fits)."""
        template = self._find(self.tokens(message))
        if template is None:
            return None
        return Match(template.id, template.text, self.parameters(template, message))

    def parameters(self, template: Template, message: str) -> list[str]:
        """The message's values at the template's wildcards ([] if the message does not spell it out)."""
        rx = self._regex_cache.get(template.text)
        if rx is None:
            parts = [r"(.*?)".join(re.escape(p) for p in token.split(WILDCARD)) for token in template.tokens]
            rx = re.compile(r"\s*" + r"\s+".join(parts) + r"\s*", re.DOTALL)
            if len(self._regex_cache) > 10000:
                self._regex_cache.clear()
            self._regex_cache[template.text] = rx
        found = rx.fullmatch(message[:MAX_MESSAGE_CHARS])
        return list(found.groups()) if found else []

    # -- state ---------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "min_values": self.min_values,
            "keep_first": self.keep_first,
            "next_id": self._next_id,
            "templates": [[t.id, t.tokens, t.size, sorted(t.general)] for t in self.templates.values()],
            "merged": [[a, b] for a, b in self._merged.items()],
            "exact": [[list(k), v] for k, v in self._exact.items()],
        }

    @classmethod
    def from_dict(cls, state: dict) -> TemplateMiner:
        miner = cls(min_values=int(state.get("min_values", MIN_VALUES)), keep_first=int(state.get("keep_first", KEEP_FIRST)))
        miner._next_id = int(state["next_id"])
        for tid, tokens, size, general in state["templates"]:
            template = Template(int(tid), list(tokens), int(size), set(general))
            miner.templates[template.id] = template
            miner._index(template)
        miner._merged = {int(a): int(b) for a, b in state["merged"]}
        miner._exact = {tuple(k): int(v) for k, v in state["exact"]}
        return miner
