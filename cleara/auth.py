"""API authentication: bearer tokens (hashed at rest) for machines, the session for people; and
authorisation, in the same step: `allowed(action)` is the `auth=` of every API operation, so an
operation names what it does once and access.roles decides who may (a token by its scopes, a
person by their role). Refusals are 403 JSON (cleara.api), a missing login or token 401."""
from __future__ import annotations

from django.utils import timezone
from ninja.security import HttpBearer
from ninja.security.session import SessionAuth

from access.roles import Action, check
from cleara import tokencache
from incidents.models import ApiToken


class ApiAuthError(Exception):
    """401 with a reason the client can act on."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def token_check(raw: str) -> ApiToken:
    """The token a request sent, refused (401) when unknown or revoked; its last_used_at written
    when due (at most once a minute per token and process, cleara.tokencache)."""
    token = token_lookup(raw)
    now = timezone.now()
    if tokencache.last_used_due(token, now.timestamp()):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def token_lookup(raw: str, *, cached_only: bool = False) -> ApiToken | None:
    """The valid token `raw` names (this process's cache, else the database); ApiAuthError when
    it is unknown or revoked. `cached_only`: None instead of reading the database (the light
    ingest path reads it from a thread)."""
    key = ApiToken.hash(raw)
    token = tokencache.get(key)
    if token is None:
        if cached_only:
            return None
        token = ApiToken.objects.filter(key_hash=key).first()
        if token is None:
            raise ApiAuthError("unknown API token")
        tokencache.put(key, token)
    if token.revoked_at is not None:
        raise ApiAuthError(f"API token {token.name!r} was revoked on {token.revoked_at:%Y-%m-%d}")
    return token


MISSING = "missing Authorization header: send 'Authorization: Bearer <token>' (create one with manage.py create_api_token NAME)"


def bearer(header: str, *, required: bool) -> str | None:
    """The raw token of an Authorization header; ApiAuthError when it is missing (and required)
    or not 'Bearer <token>'."""
    if not header:
        if required:
            raise ApiAuthError(MISSING)
        return None
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiAuthError("Authorization header must be 'Bearer <token>'")
    return raw.strip()


class TokenAuth(HttpBearer):
    """Required bearer token: a missing or malformed Authorization header is a 401 that says so."""

    required = True

    def __call__(self, request):
        raw = bearer(request.headers.get("Authorization", ""), required=self.required)
        return None if raw is None else self.authenticate(request, raw)

    def authenticate(self, request, token: str):
        request.api_token = token_check(token)
        return request.api_token


class OptionalTokenAuth(TokenAuth):
    """A token if one is sent, otherwise let the next method (the session) decide."""

    required = False


class ScopedTokenAuth(TokenAuth):
    """A token that must carry the scope `action` needs (403 otherwise). Optional when people may
    also do the action (the session is tried next), required when only machines may."""

    def __init__(self, action: Action):
        super().__init__()
        self.action = action
        self.required = action.permission is None

    def authenticate(self, request, token: str):
        found = super().authenticate(request, token)
        check(self.action, token=found)
        return found


class RoleSessionAuth(SessionAuth):
    """The logged-in user (CSRF checked, as ninja's django_auth does), whose role must allow `action`."""

    def __init__(self, action: Action):
        super().__init__()
        self.action = action

    def authenticate(self, request, key):
        user = super().authenticate(request, key)
        if user is not None:
            check(self.action, user=user)
        return user


def allowed(action: Action) -> list:
    """`auth=` for an API operation doing `action`: a token with its scope, or a person with its role."""
    methods: list = []
    if action.scope is not None:
        methods.append(ScopedTokenAuth(action))
    if action.permission is not None:
        methods.append(RoleSessionAuth(action))
    return methods
