"""Upstream error text made fit to show: secrets masked, length bounded. Pure: no Django.

What another service answers (an error body, an exception's repr with the URL it called) is
stored on the outbox row and shown on /integrations/ to anyone who may read that page. It can
hold what must never be shown there: a Slack token echoed back, a PagerDuty routing key in a
request body, an Authorization header in a proxy's error page, a password in a URL. Masked are:
the secrets Cleara itself holds (given by the caller, matched exactly), Slack tokens (`xox?-…`,
`xapp-…`), the values of Authorization headers and of any key/field named like a secret
(token, secret, password, api key, routing key, signature…) in JSON, forms, query strings and
headers, and the password of a URL's user info.
"""
from __future__ import annotations

import re

MASK = "•••"
MAX_LENGTH = 500

SECRET_NAME = r"[A-Za-z0-9_.-]*(?:token|secret|passw(?:or)?d|pwd|api[_-]?key|apikey|routing[_-]?key|integration[_-]?key|private[_-]?key|signature|credentials?|session|cookie)[A-Za-z0-9_.-]*"
PATTERNS = [
    # Slack tokens of every kind (bot, user, app-level, refresh, config).
    re.compile(r"\bx(?:ox[abposre]|app|oxe\.xox[bp])-[A-Za-z0-9-]{6,}"),
    # Authorization: Bearer abc / Token token=abc / Basic abc (header lines, reprs, JSON).
    re.compile(r"(?i)((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)(?:(?:bearer|basic|token|digest)\s+)?(?:token=)?[^\s,'\"}\]]+"),
    re.compile(r"(?i)(\b(?:bearer|token)\s+)(?:token=)?[A-Za-z0-9._~+/=-]{8,}"),
    # "api_token": "abc" / 'secret': 'abc' (JSON, Python reprs).
    re.compile(r"(?i)(['\"]" + SECRET_NAME + r"['\"]\s*:\s*['\"])[^'\"]*"),
    # api_key=abc&… / password: abc (query strings, forms, headers, log lines).
    re.compile(r"(?i)(\b" + SECRET_NAME + r"\s*[=:]\s*)(?!['\"])[^\s&,;'\"}\]]+"),
    # https://user:password@host
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+(?=@)"),
]


def redact(text: object, *, secrets: list[str] | tuple[str, ...] = (), limit: int = MAX_LENGTH) -> str:
    """`text` with secrets masked, cut to `limit` characters (masking first: a cut must never
    leave half a secret unmasked)."""
    text = str(text)
    for secret in sorted((s for s in secrets if s and len(s) >= 6), key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern in PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
