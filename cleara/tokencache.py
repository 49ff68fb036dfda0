"""API tokens kept in each process, dropped in every process when one changes.

Every API request authenticates a bearer token; reading it from PostgreSQL was a round trip per
request (and, on the light ingest path, the only database work of a request but its batch's
share of a group commit). A process keeps the tokens it has seen, by key hash, and:

* a change to a token (revoked, scopes edited, deleted: `ApiToken` post_save / post_delete,
  connected in incidents.apps) drops it here at once and, after the commit, is published on the
  Redis channel API_TOKEN_CHANNEL; every process listens on that channel from a thread of its own
  and drops it too. So a revocation is honoured at once in the process that made it, and in the
  others as soon as Redis delivers the message (milliseconds);
* the cache is used only while this process's subscription is up: before it is confirmed, after
  an error (until it is confirmed again, when the whole cache is dropped: what was published while
  it was down is lost) and without Redis at all, every request reads its token from the database;
* an entry lives at most API_TOKEN_CACHE_SECONDS (30): the bound on a revocation if a message
  is lost while the subscription still looks up (a connection dropped silently, noticed only at
  its next health check).

Unknown tokens are not cached (a token created after a refusal works at once).
`last_used_at` is written behind: at most once a minute per token and process (`last_used_due`).
"""
from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)

LAST_USED_EVERY = 60.0  # seconds between two writes of a token's last_used_at by one process

_lock = threading.Lock()
_entries: dict[str, tuple[object, float]] = {}  # key hash -> (ApiToken, monotonic time cached)
_live = threading.Event()  # the subscription is confirmed
_listener: threading.Thread | None = None


def enabled() -> bool:
    return bool(settings.REDIS_URL) and settings.API_TOKEN_CACHE_SECONDS > 0


def get(key_hash: str):
    """The cached token for this key hash, or None (not cached, expired, or the cache is off)."""
    if not enabled():
        return None
    _listen()
    if not _live.is_set():
        return None
    entry = _entries.get(key_hash)
    if entry is None or time.monotonic() - entry[1] > settings.API_TOKEN_CACHE_SECONDS:
        return None
    return entry[0]


def put(key_hash: str, token) -> None:
    if enabled() and _live.is_set():
        _entries[key_hash] = (token, time.monotonic())


def drop(key_hash: str) -> None:
    """Drop a token here (at once) and, after the transaction commits, in every process."""
    from django.db import transaction

    _entries.pop(key_hash, None)
    if settings.REDIS_URL:
        transaction.on_commit(lambda: _publish(key_hash))


def clear() -> None:
    _entries.clear()


def last_used_due(token, now: float) -> bool:
    """True when `token.last_used_at` should be written now: never written, or more than
    LAST_USED_EVERY seconds before `now` (Unix time). The token object (the cached one, when it
    came from the cache) takes the new time at once, so the next request of this process does
    not write it again."""
    from datetime import UTC, datetime

    if token.last_used_at is not None and now - token.last_used_at.timestamp() <= LAST_USED_EVERY:
        return False
    token.last_used_at = datetime.fromtimestamp(now, UTC)
    return True


def _publish(key_hash: str) -> None:
    try:
        _redis().publish(settings.API_TOKEN_CHANNEL, key_hash)
    except Exception:
        log.warning("publishing a token change failed; other processes drop it within %ss", settings.API_TOKEN_CACHE_SECONDS,
                    exc_info=True)


def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2, health_check_interval=10)


def _listen() -> None:
    global _listener
    if _listener is not None and _listener.is_alive():
        return
    with _lock:
        if _listener is None or not _listener.is_alive():
            _listener = threading.Thread(target=_run, name="cleara-token-cache", daemon=True)
            _listener.start()


def _run() -> None:
    while True:
        try:
            pubsub = _redis().pubsub(ignore_subscribe_messages=False)
            pubsub.subscribe(settings.API_TOKEN_CHANNEL)
            while True:
                message = pubsub.get_message(timeout=5.0)
                if message is None:
                    pubsub.ping()  # a dead connection raises here instead of looking idle
                    continue
                if message["type"] == "subscribe":
                    _entries.clear()  # what was published before the subscription is unknown
                    _live.set()
                elif message["type"] == "message":
                    data = message["data"]
                    _entries.pop(data.decode() if isinstance(data, bytes) else data, None)
        except Exception:
            _live.clear()
            _entries.clear()
            log.warning("the API token cache lost its Redis subscription; tokens are read from the database until it is back",
                        exc_info=True)
            time.sleep(1.0)
