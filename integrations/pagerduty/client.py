"""PagerDuty behind one door: the only module that imports the `pagerduty` package.

`pagerduty` (the maintained successor of pdpyras) retries by itself: without limit on 429, a few
times on 5xx and on network errors, sleeping in between. Cleara's outbox does the retrying (with
backoff, honouring Retry-After, without holding a worker in a sleep), so the clients here raise at
the first 429/5xx (through the package's `postprocess` hook, called once per response) and at the
first network error. Errors leave as `integrations.errors`.

The package refuses base URLs that are not https://. Certificates are checked against the system
store, or the bundle named by SSL_CERT_FILE (httpx2 reads it), which is how tests trust their
local receivers.
"""
from __future__ import annotations

import httpx2
import pagerduty

from integrations import errors
from integrations.pagerduty.events import PagerDutyEvent

TIMEOUT = 10


def _raise_for_retryable(response) -> None:
    if response.status_code == 429 or response.status_code >= 500:
        raise pagerduty.HttpError(f"PagerDuty answered {response.status_code}", response)


class _EventsClient(pagerduty.EventsApiV2Client):
    max_network_attempts = 0
    timeout = TIMEOUT

    def postprocess(self, response):
        super().postprocess(response)
        _raise_for_retryable(response)


class _RestClient(pagerduty.RestApiV2Client):
    max_network_attempts = 0
    timeout = TIMEOUT

    def postprocess(self, response, suffix=None):
        super().postprocess(response, suffix)
        _raise_for_retryable(response)


def _reason(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or "")[:300]
    if isinstance(body, dict):
        if body.get("errors"):
            return f"{body.get('message') or body.get('status') or 'invalid'}: " + "; ".join(map(str, body["errors"]))
        error = body.get("error")
        if isinstance(error, dict):
            return "; ".join([str(error.get("message", "")), *map(str, error.get("errors") or [])]).strip("; ")
        return str(body.get("message") or body)[:300]
    return str(body)[:300]


def _translate(exc: pagerduty.Error) -> errors.IntegrationError:
    response = exc.response
    if response is None:
        cause = exc.__cause__
        never_arrived = isinstance(cause, (httpx2.ConnectError, httpx2.ConnectTimeout))
        return errors.IntegrationUnavailable(f"PagerDuty unreachable: {cause!r}" if cause else str(exc), maybe_sent=not never_arrived)
    status = response.status_code
    reason = f"PagerDuty answered {status}: {_reason(response)}"
    if status == 429:
        return errors.IntegrationRateLimited(reason, retry_after=errors.retry_after_parse(response.headers.get("Retry-After")))
    if status >= 500:
        return errors.IntegrationUnavailable(reason, status=status, maybe_sent=True)
    if status in (401, 403):
        return errors.IntegrationAuthError(reason, status=status)
    return errors.IntegrationRejected(reason, status=status)


class _Translated:
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            return False
        if isinstance(exc, pagerduty.Error):
            raise _translate(exc) from exc
        if isinstance(exc, httpx2.TransportError):
            never_arrived = isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout))
            raise errors.IntegrationUnavailable(f"PagerDuty unreachable: {exc!r}", maybe_sent=not never_arrived) from exc
        return False


class PagerDutyEventsClient:
    """Events API v2: trigger, acknowledge, resolve; and change events (which page nobody)."""

    def __init__(self, *, routing_key: str, base_url: str):
        self._client = _EventsClient(routing_key, base_url=base_url.rstrip("/"))

    def send(self, event: PagerDutyEvent) -> str:
        properties = {k: v for k, v in event.to_json().items() if k not in ("event_action", "dedup_key")}
        with _Translated():
            return self._client.send_event(event.action, dedup_key=event.dedup_key, **properties)

    def change(self, *, summary: str, source: str, links: list[dict] | None = None) -> None:
        with _Translated():
            self._client.send_change_event(payload={"summary": summary, "source": source}, links=links or [])

    def close(self) -> None:
        self._client.close()


class PagerDutyRestClient:
    """REST API v2: find an incident by its dedup key, read and add notes."""

    def __init__(self, *, token: str, from_email: str, base_url: str):
        self._client = _RestClient(token, default_from=from_email, base_url=base_url.rstrip("/"))

    def incident_id_for_key(self, dedup_key: str) -> str | None:
        """PagerDuty's incident id for an Events API dedup key (its `incident_key`), if it exists yet.
        A key can have several incidents (one per trigger after a resolve): the open one wins."""
        with _Translated():
            found = self._client.rget("/incidents", params={"incident_key": dedup_key, "statuses[]": ["triggered", "acknowledged", "resolved"]})
        found = sorted(found, key=lambda i: i.get("status") == "resolved")
        return found[0]["id"] if found else None

    def incident(self, incident_id: str) -> dict:
        with _Translated():
            return self._client.rget(f"/incidents/{incident_id}")

    def notes(self, incident_id: str) -> list[dict]:
        with _Translated():
            return self._client.rget(f"/incidents/{incident_id}/notes")

    def note_add(self, incident_id: str, content: str) -> str:
        with _Translated():
            return self._client.rpost(f"/incidents/{incident_id}/notes", json={"content": content})["id"]

    def close(self) -> None:
        self._client.close()
