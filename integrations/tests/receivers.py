"""Local stand-ins for Slack and PagerDuty that check requests the way the real services do.

Each receiver is a real HTTP server on 127.0.0.1 (PagerDuty's over TLS, with a throwaway CA from
`trustme`, because the `pagerduty` package refuses plain http). It validates what it gets
(tokens, required fields, Block Kit limits, routing keys, dedup keys, the From header), answers
with the services' own error shapes (`{"ok": false, "error": ...}`, 400 `invalid event`, 429 with
Retry-After), keeps the state the real service would keep (messages and their threads; alerts
and incidents), and records every request. For outage tests it can be taken down (connection
refused) and brought back, fail the next requests with a status, or act on a request and then
drop the connection (so the client cannot tell whether it landed).

Used by the tests and by bench/notify.py.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    data: Any
    status: int = 0
    client_port: int = 0  # the caller's local port: which process sent it (a test may kill that one)
    at: float = field(default_factory=time.monotonic)
    wall: float = field(default_factory=time.time)  # comparable with other processes' clocks


@dataclass
class Planned:
    """What to do with the next request(s) instead of answering normally."""

    count: int
    status: int = 503
    headers: dict = field(default_factory=dict)
    body: Any = None
    act_then_drop: bool = False  # handle the request, then close the connection without an answer
    path_contains: str = ""
    hang_after_acting: float = 0.0  # handle the request, then wait this long before answering


class Receiver:
    """A threaded HTTP(S) server whose subclasses implement `answer(call) -> (status, headers, body)`."""

    def __init__(self, *, port: int = 0, ssl_context: ssl.SSLContext | None = None):
        self._port = port
        self._ssl_context = ssl_context
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self._plans: list[Planned] = []

    # --- lifecycle ---
    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                receiver._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        server.daemon_threads = True
        if self._ssl_context is not None:
            server.socket = self._ssl_context.wrap_socket(server.socket, server_side=True)
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    down = stop  # connection refused until up()

    def up(self) -> None:
        if self._server is None:
            self.start()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"{'https' if self._ssl_context else 'http'}://127.0.0.1:{self._port}"

    # --- failure plans ---
    def fail_next(self, count: int = 1, *, status: int = 503, headers: dict | None = None, body: Any = None, path_contains: str = "") -> None:
        with self.lock:
            self._plans.append(Planned(count, status, headers or {}, body, path_contains=path_contains))

    def rate_limit_next(self, count: int = 1, *, retry_after: int = 30, path_contains: str = "") -> None:
        self.fail_next(count, status=429, headers={"Retry-After": str(retry_after)}, body=self.rate_limited_body(), path_contains=path_contains)

    def drop_after_acting_next(self, count: int = 1, *, path_contains: str = "") -> None:
        with self.lock:
            self._plans.append(Planned(count, act_then_drop=True, path_contains=path_contains))

    def hang_after_acting_next(self, count: int = 1, *, seconds: float = 60.0, path_contains: str = "") -> None:
        """Act on the next request(s), then hold the answer back (a caller killed meanwhile never gets it)."""
        with self.lock:
            self._plans.append(Planned(count, hang_after_acting=seconds, path_contains=path_contains))

    def rate_limited_body(self) -> Any:
        return {"error": "rate limited"}

    def _plan_for(self, path: str) -> Planned | None:
        with self.lock:
            for plan in self._plans:
                if plan.count > 0 and plan.path_contains in path:
                    plan.count -= 1
                    return plan
        return None

    # --- request handling ---
    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        query = {k: v if len(v) > 1 else v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        call = Call(handler.command, parsed.path, query, headers, body, self.decode(headers, body), client_port=handler.client_address[1])
        plan = self._plan_for(parsed.path)
        if plan is not None and not plan.act_then_drop and not plan.hang_after_acting:
            status, out_headers, out_body = plan.status, plan.headers, plan.body
        else:
            with self.lock:
                status, out_headers, out_body = self.answer(call)
        if plan is not None and plan.hang_after_acting:
            with self.lock:
                self.calls.append(call)
            time.sleep(plan.hang_after_acting)
            handler.close_connection = True
            return
        call.status = 0 if plan is not None and plan.act_then_drop else status
        with self.lock:
            self.calls.append(call)
        if plan is not None and plan.act_then_drop:
            handler.close_connection = True
            return
        payload = out_body if isinstance(out_body, bytes) else (out_body if isinstance(out_body, str) else json.dumps(out_body)).encode()
        handler.send_response(status)
        content_type = "application/json" if not isinstance(out_body, (bytes, str)) else "text/plain"
        handler.send_header("Content-Type", out_headers.pop("Content-Type", content_type) if out_headers else content_type)
        for name, value in (out_headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    @staticmethod
    def decode(headers: dict, body: bytes) -> Any:
        content_type = headers.get("content-type", "")
        if not body:
            return {}
        if "json" in content_type:
            try:
                return json.loads(body)
            except ValueError:
                return None
        if "x-www-form-urlencoded" in content_type:
            return {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        return body

    def answer(self, call: Call) -> tuple[int, dict, Any]:
        raise NotImplementedError

    def calls_to(self, path_suffix: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.path.endswith(path_suffix)]


# --------------------------------------------------------------------------------------------
# Slack
# --------------------------------------------------------------------------------------------

BLOCK_TYPES = {"section", "header", "context", "actions", "divider", "image", "rich_text"}


def block_kit_errors(blocks: Any) -> list[str]:
    """Slack's Block Kit limits, as chat.postMessage enforces them (`invalid_blocks`)."""
    if not isinstance(blocks, list):
        return ["blocks must be an array"]
    problems = []
    if len(blocks) > 50:
        problems.append(f"no more than 50 items allowed [json-pointer:/blocks] ({len(blocks)})")
    block_ids, action_ids = set(), set()
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in BLOCK_TYPES:
            problems.append(f"unsupported type {kind!r} [json-pointer:{where}/type]")
            continue
        if "block_id" in block:
            if len(block["block_id"]) > 255 or block["block_id"] in block_ids:
                problems.append(f"invalid or repeated block_id [json-pointer:{where}/block_id]")
            block_ids.add(block["block_id"])
        if kind == "header":
            text = block.get("text") or {}
            if text.get("type") != "plain_text" or not text.get("text") or len(text["text"]) > 150:
                problems.append(f"header text must be plain_text of 1-150 characters [json-pointer:{where}/text]")
        if kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if not text and not fields:
                problems.append(f"a section needs text or fields [json-pointer:{where}]")
            if text and (not text.get("text") or len(text["text"]) > 3000 or text.get("type") not in ("mrkdwn", "plain_text")):
                problems.append(f"section text must be 1-3000 characters [json-pointer:{where}/text]")
            if fields is not None:
                if len(fields) > 10:
                    problems.append(f"no more than 10 fields [json-pointer:{where}/fields]")
                for j, f in enumerate(fields):
                    if not f.get("text") or len(f["text"]) > 2000:
                        problems.append(f"field text must be 1-2000 characters [json-pointer:{where}/fields/{j}]")
        if kind == "context":
            elements = block.get("elements") or []
            if not elements or len(elements) > 10:
                problems.append(f"context needs 1-10 elements [json-pointer:{where}/elements]")
            for j, el in enumerate(elements):
                if el.get("type") in ("mrkdwn", "plain_text") and (not el.get("text") or len(el["text"]) > 3000):
                    problems.append(f"context text must be 1-3000 characters [json-pointer:{where}/elements/{j}]")
        if kind == "actions":
            elements = block.get("elements") or []
            if not elements or len(elements) > 25:
                problems.append(f"actions needs 1-25 elements [json-pointer:{where}/elements]")
            for j, el in enumerate(elements):
                at = f"{where}/elements/{j}"
                if el.get("type") != "button":
                    continue
                text = (el.get("text") or {})
                if text.get("type") != "plain_text" or not text.get("text") or len(text["text"]) > 75:
                    problems.append(f"button text must be plain_text of 1-75 characters [json-pointer:{at}/text]")
                action_id = el.get("action_id", "")
                if len(action_id) > 255:
                    problems.append(f"action_id longer than 255 [json-pointer:{at}/action_id]")
                if action_id and action_id in action_ids:
                    problems.append(f"action_id {action_id!r} repeated [json-pointer:{at}/action_id]")
                action_ids.add(action_id)
                if len(el.get("value", "")) > 2000:
                    problems.append(f"value longer than 2000 [json-pointer:{at}/value]")
                if len(el.get("url", "")) > 3000:
                    problems.append(f"url longer than 3000 [json-pointer:{at}/url]")
                if el.get("style") not in (None, "primary", "danger"):
                    problems.append(f"style must be primary or danger [json-pointer:{at}/style]")
    return problems


class SlackReceiver(Receiver):
    """Slack's Web API (under /api/), response_urls (/actions/...) and the OAuth token exchange."""

    def __init__(self, *, port: int = 0, tokens: set[str] | None = None, channels: dict[str, str] | None = None,
                 users: dict[str, str] | None = None, team_id: str = "T0FAKE0001"):
        super().__init__(port=port)
        self.tokens = set(tokens or {"xoxb-cleara-test"})
        self.channels = dict(channels or {"C0ALERTS01": "alerts"})
        self.users = dict(users or {})  # user id -> e-mail
        self.team_id = team_id
        self.messages: dict[tuple[str, str], dict] = {}
        self.responses: list[dict] = []
        self.oauth_client: tuple[str, str] | None = None
        self.oauth_codes: dict[str, dict] = {}
        self._ts = itertools.count(1)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str = "abc") -> str:
        return f"{self.url}/actions/{self.team_id}/{secrets.randbelow(10**12)}/{name}"

    def rate_limited_body(self) -> Any:
        return {"ok": False, "error": "ratelimited"}

    # --- what tests look at ---
    def posts(self) -> list[dict]:
        """Messages and thread replies as posted, in order (each with its channel and ts)."""
        return [c.data for c in self.calls_to("/chat.postMessage") if c.status == 200 and c.data.get("_ok")]

    def top_messages(self, channel: str) -> list[dict]:
        return [m for (ch, _), m in self.messages.items() if ch == channel and not m.get("thread_ts")]

    def thread(self, channel: str, ts: str) -> list[dict]:
        return [m for (ch, _), m in sorted(self.messages.items(), key=lambda kv: float(kv[0][1])) if ch == channel and m.get("thread_ts") == ts]

    def message(self, channel: str, ts: str) -> dict:
        return self.messages[(channel, ts)]

    # --- answers ---
    def _params(self, call: Call) -> dict:
        params = dict(call.query)
        if isinstance(call.data, dict):
            params.update(call.data)
        return params

    def answer(self, call: Call) -> tuple[int, dict, Any]:
        if call.path.startswith("/actions/"):
            return self._response_url(call)
        if not call.path.startswith("/api/"):
            return 404, {}, {"ok": False, "error": "unknown_method"}
        method = call.path[len("/api/"):]
        params = self._params(call)
        if method == "oauth.v2.access":
            return 200, {}, self._oauth(call, params)
        token = call.headers.get("authorization", "")
        if not token.startswith("Bearer "):
            return 200, {}, {"ok": False, "error": "not_authed"}
        if token[len("Bearer "):] not in self.tokens:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        handler = {
            "chat.postMessage": self._post, "chat.update": self._update, "conversations.history": self._history,
            "conversations.replies": self._replies, "users.info": self._user, "auth.test": self._auth_test,
        }.get(method)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        return 200, {}, handler(call, params)

    def _channel(self, params: dict) -> str | None:
        channel = params.get("channel") or ""
        if channel in self.channels:
            return channel
        by_name = {f"#{name}": cid for cid, name in self.channels.items()}
        return by_name.get(channel)

    def _content_errors(self, params: dict) -> dict | None:
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        blocks = params.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if blocks is not None:
            problems = block_kit_errors(blocks)
            if problems:
                return {"ok": False, "error": "invalid_blocks", "response_metadata": {"messages": problems}}
        return None

    def _post(self, call: Call, params: dict) -> dict:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        problem = self._content_errors(params)
        if problem:
            return problem
        thread_ts = params.get("thread_ts")
        if thread_ts and (channel, thread_ts) not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = {"type": "message", "ts": ts, "text": params.get("text", ""), "blocks": params.get("blocks"), "bot_id": "B0CLEARA"}
        if thread_ts:
            message["thread_ts"] = thread_ts
        if params.get("metadata"):
            message["metadata"] = params["metadata"]
        self.messages[(channel, ts)] = message
        call.data["_ok"] = True
        call.data["_channel"], call.data["_ts"] = channel, ts
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _update(self, call: Call, params: dict) -> dict:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("ts"):
            return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": ["[ERROR] missing required field: ts"]}}
        if (channel, params["ts"]) not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        problem = self._content_errors(params)
        if problem:
            return problem
        message = self.messages[(channel, params["ts"])]
        message.update({"text": params.get("text", ""), "blocks": params.get("blocks"), "edited": True})
        return {"ok": True, "channel": channel, "ts": params["ts"], "text": message["text"]}

    def _with_metadata(self, message: dict, params: dict) -> dict:
        if str(params.get("include_all_metadata")).lower() in ("1", "true"):
            return message
        return {k: v for k, v in message.items() if k != "metadata"}

    def _history(self, call: Call, params: dict) -> dict:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(params.get("oldest") or 0)
        found = [self._with_metadata(m, params) for m in self.top_messages(channel) if float(m["ts"]) >= oldest]
        return {"ok": True, "messages": sorted(found, key=lambda m: -float(m["ts"])), "has_more": False}

    def _replies(self, call: Call, params: dict) -> dict:
        channel = self._channel(params)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if (channel, params.get("ts")) not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        parent = self.messages[(channel, params["ts"])]
        return {"ok": True, "messages": [self._with_metadata(m, params) for m in [parent, *self.thread(channel, params["ts"])]], "has_more": False}

    def _user(self, call: Call, params: dict) -> dict:
        user = params.get("user")
        if user not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": {"id": user, "team_id": self.team_id, "profile": {"email": self.users[user]}}}

    def _auth_test(self, call: Call, params: dict) -> dict:
        return {"ok": True, "team_id": self.team_id, "user_id": "U0CLEARABOT", "bot_id": "B0CLEARA", "url": "https://cleara-fake.slack.com/"}

    def _oauth(self, call: Call, params: dict) -> dict:
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        auth = call.headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if self.oauth_client is None or client_id != self.oauth_client[0]:
            return {"ok": False, "error": "invalid_client_id"}
        if client_secret != self.oauth_client[1]:
            return {"ok": False, "error": "bad_client_secret"}
        grant = self.oauth_codes.pop(params.get("code") or "", None)
        if grant is None:
            return {"ok": False, "error": "invalid_code"}
        self.tokens.add(grant["bot_token"])
        self.channels.setdefault(grant["channel_id"], "incidents")
        return {
            "ok": True, "app_id": "A0FAKE0001", "access_token": grant["bot_token"], "token_type": "bot",
            "scope": "chat:write,commands,users:read,users:read.email,channels:history,groups:history,incoming-webhook",
            "bot_user_id": "U0CLEARABOT", "team": {"id": grant["team_id"], "name": grant["team_name"]}, "enterprise": None,
            "is_enterprise_install": False, "authed_user": {"id": grant["user_id"]},
            "incoming_webhook": {"channel": "#incidents", "channel_id": grant["channel_id"], "configuration_url": "https://example.invalid", "url": "https://example.invalid/hook"},
        }

    def oauth_grant(self, *, team_id: str, team_name: str, channel_id: str, user_id: str = "U0INSTALL1") -> str:
        """A code Slack would hand the browser after the user approved the install."""
        code = secrets.token_hex(8)
        self.oauth_codes[code] = {"team_id": team_id, "team_name": team_name, "channel_id": channel_id, "user_id": user_id, "bot_token": f"xoxb-{team_id}-{secrets.token_hex(6)}"}
        return code

    def _response_url(self, call: Call) -> tuple[int, dict, Any]:
        if not isinstance(call.data, dict):
            return 400, {}, "invalid_payload"
        if not call.data.get("text") and not call.data.get("blocks"):
            return 400, {}, "no_text"
        if call.data.get("blocks") is not None and block_kit_errors(call.data["blocks"]):
            return 400, {}, "invalid_blocks"
        self.responses.append(call.data)
        return 200, {}, "ok"


# --------------------------------------------------------------------------------------------
# PagerDuty
# --------------------------------------------------------------------------------------------

PD_SEVERITIES = {"critical", "error", "warning", "info"}


class PagerDutyReceiver(Receiver):
    """PagerDuty's Events API v2 (/v2/enqueue, /v2/change/enqueue) and the REST API v2 parts
    Cleara uses (incidents by incident_key, one incident, notes), over TLS; it also plays the
    PagerDuty side of webhooks v3 (a change made there, signed like PagerDuty signs)."""

    def __init__(self, *, ssl_context: ssl.SSLContext, port: int = 0, routing_keys: set[str] | None = None,
                 api_tokens: set[str] | None = None, user_emails: set[str] | None = None):
        super().__init__(port=port, ssl_context=ssl_context)
        self.routing_keys = set(routing_keys or {"R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12"})
        self.api_tokens = set(api_tokens or {"pd-api-token"})
        self.user_emails = set(user_emails or {"cleara@example.com"})
        self.incidents: dict[str, dict] = {}
        self.alerts: dict[str, dict] = {}  # dedup_key -> {"incident_id", "log": [...]}
        self.notes: dict[str, list[dict]] = {}
        self.change_events: list[dict] = []
        self._ids = itertools.count(1)

    def rate_limited_body(self) -> Any:
        return {"status": "throttle event", "message": "Requests for this service are arriving too quickly. Please retry later."}

    # --- what tests look at ---
    def events(self) -> list[dict]:
        """Accepted events (202), in order."""
        return [c.data for c in self.calls_to("/v2/enqueue") if c.status == 202]

    def incident_for(self, dedup_key: str) -> dict | None:
        alert = self.alerts.get(dedup_key)
        return self.incidents.get(alert["incident_id"]) if alert else None

    # --- answers ---
    def answer(self, call: Call) -> tuple[int, dict, Any]:
        if call.path == "/v2/enqueue":
            return self._enqueue(call)
        if call.path == "/v2/change/enqueue":
            return self._change(call)
        return self._rest(call)

    @staticmethod
    def _invalid(*problems: str) -> tuple[int, dict, Any]:
        return 400, {}, {"status": "invalid event", "message": "Event object is invalid", "errors": list(problems)}

    def _enqueue(self, call: Call) -> tuple[int, dict, Any]:
        event = call.data
        if call.method != "POST" or not isinstance(event, dict) or "json" not in call.headers.get("content-type", ""):
            return self._invalid("body must be a JSON object")
        key = event.get("routing_key")
        if not isinstance(key, str) or len(key) != 32:
            return self._invalid("'routing_key' is invalid: it must be 32 characters")
        if key not in self.routing_keys:
            return self._invalid("'routing_key' is not an integration key of this account")
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            return self._invalid("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
        dedup_key = event.get("dedup_key")
        if dedup_key is not None and (not isinstance(dedup_key, str) or not dedup_key or len(dedup_key) > 255):
            return self._invalid("'dedup_key' must be a string of 1 to 255 characters")
        if action == "trigger":
            payload = event.get("payload") or {}
            problems = [f"'payload.{f}' is missing or blank" for f in ("summary", "source", "severity") if not payload.get(f)]
            if payload.get("severity") and payload["severity"] not in PD_SEVERITIES:
                problems.append("'payload.severity' must be one of critical, error, warning, info")
            if len(payload.get("summary") or "") > 1024:
                problems.append("'payload.summary' is longer than 1024 characters")
            if problems:
                return self._invalid(*problems)
            dedup_key = dedup_key or secrets.token_hex(16)
            self._trigger(dedup_key, payload)
        else:
            if not dedup_key:
                return self._invalid("'dedup_key' is required for acknowledge and resolve")
            incident = self.incident_for(dedup_key)
            if incident is not None and incident["status"] != "resolved":
                incident["status"] = "acknowledged" if action == "acknowledge" else "resolved"
        return 202, {}, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}

    def _trigger(self, dedup_key: str, payload: dict) -> None:
        incident = self.incident_for(dedup_key)
        if incident is not None and incident["status"] != "resolved":
            self.alerts[dedup_key]["log"].append(payload)  # deduplicated into the open alert
            return
        incident_id = f"PINC{next(self._ids):04d}"
        self.incidents[incident_id] = {
            "id": incident_id, "type": "incident", "incident_key": dedup_key, "status": "triggered",
            "title": payload["summary"], "urgency": "high" if payload["severity"] in ("critical", "error") else "low",
        }
        self.alerts[dedup_key] = {"incident_id": incident_id, "log": [payload]}

    def _change(self, call: Call) -> tuple[int, dict, Any]:
        event = call.data if isinstance(call.data, dict) else {}
        if event.get("routing_key") not in self.routing_keys:
            return self._invalid("'routing_key' is invalid")
        payload = event.get("payload") or {}
        if not payload.get("summary"):
            return self._invalid("'payload.summary' is missing or blank")
        self.change_events.append(event)
        return 202, {}, {"status": "success", "message": "Change event processed"}

    def _rest(self, call: Call) -> tuple[int, dict, Any]:
        auth = call.headers.get("authorization", "")
        if not auth.startswith("Token token=") or auth[len("Token token="):] not in self.api_tokens:
            return 401, {}, {"error": {"message": "Authentication failed", "code": 2006}}
        parts = [p for p in call.path.split("/") if p]
        if call.method == "GET" and parts == ["incidents"]:
            key = call.query.get("incident_key")
            found = [i for i in self.incidents.values() if key is None or i["incident_key"] == key]
            return 200, {}, {"incidents": found, "limit": 25, "offset": 0, "more": False, "total": None}
        if len(parts) >= 2 and parts[0] == "incidents":
            incident = self.incidents.get(parts[1])
            if incident is None:
                return 404, {}, {"error": {"message": "Not Found", "code": 2100}}
            if call.method == "GET" and len(parts) == 2:
                return 200, {}, {"incident": incident}
            if len(parts) == 3 and parts[2] == "notes":
                if call.method == "GET":
                    return 200, {}, {"notes": self.notes.get(incident["id"], [])}
                if call.method == "POST":
                    return self._note_add(call, incident)
        return 404, {}, {"error": {"message": "Not Found", "code": 2100}}

    def _note_add(self, call: Call, incident: dict) -> tuple[int, dict, Any]:
        sender = call.headers.get("from", "")
        if not sender:
            return 400, {}, {"error": {"message": "Invalid Input Provided", "code": 2001, "errors": ["A From header is required for this request"]}}
        if sender not in self.user_emails:
            return 400, {}, {"error": {"message": "Invalid Input Provided", "code": 2001, "errors": ["Requester User Not Found"]}}
        note = (call.data or {}).get("note") if isinstance(call.data, dict) else None
        if not isinstance(note, dict) or not str(note.get("content") or "").strip():
            return 400, {}, {"error": {"message": "Invalid Input Provided", "code": 2001, "errors": ["Note content is required"]}}
        if len(note["content"]) > 25000:
            return 400, {}, {"error": {"message": "Invalid Input Provided", "code": 2001, "errors": ["Note content is too long"]}}
        created = {"id": f"PNOTE{next(self._ids):04d}", "content": note["content"], "created_at": "2026-11-27T08:00:00Z", "user": {"summary": sender}}
        self.notes.setdefault(incident["id"], []).append(created)
        return 201, {}, {"note": created}

    # --- PagerDuty's side of webhooks v3 ---
    def act(self, incident_id: str, event_type: str, *, secrets_: list[str], agent: str = "Pat Oncall", note: str | None = None) -> tuple[bytes, dict]:
        """Make a change in PagerDuty (as a person there would) and return the webhook PagerDuty
        sends for it: the body and its headers, signed with each secret."""
        with self.lock:
            incident = self.incidents[incident_id]
            status = {"incident.acknowledged": "acknowledged", "incident.resolved": "resolved",
                      "incident.reopened": "triggered", "incident.unacknowledged": "triggered"}.get(event_type)
            if status:
                incident["status"] = status
            data: dict = dict(incident)
            if event_type == "incident.annotated":
                created = {"id": f"PNOTE{next(self._ids):04d}", "content": note or "", "created_at": "2026-11-27T08:00:00Z"}
                self.notes.setdefault(incident_id, []).append(created)
                data = {"type": "incident_note", "id": created["id"], "content": note or "", "trimmed": False,
                        "incident": {"id": incident_id, "type": "incident_reference"}}
        body = json.dumps({"event": {
            "id": f"01EVT{secrets.token_hex(8).upper()}", "event_type": event_type, "resource_type": "incident",
            "occurred_at": "2026-11-27T08:00:00.000Z", "agent": {"id": "PUSER01", "summary": agent, "type": "user_reference"},
            "client": None, "data": data,
        }}).encode()
        signature = ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets_)
        return body, {"Content-Type": "application/json", "X-PagerDuty-Signature": signature}
