"""API authentication: bearer tokens (hashed at rest) for machines, the session for people; and
authorisation, in the same step: `allowed(action)` is the `auth=` of every API operation, so an
operation names what it does once and access.roles decides who may (a token by its scopes, a
person by their role). Refusals are 403 JSON (cleara.api), a missing login or token 401."""
from __future__ import annotations

from django.utils import timezone
from ninja.security import HttpBearer
from ninja.security.session import SessionAuth

from access.roles import Action, check
from incidents.models import ApiToken


class ApiAuthError(Exception):
    """401 with a reason the client can act on."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def token_check(raw: str) -> ApiToken:
    token = ApiToken.objects.filter(key_hash=ApiToken.hash(raw)).first()
    if token is None:
        raise ApiAuthError("unknown API token")
    if token.revoked_at is not None:
        raise ApiAuthError(f"API token {token.name!r} was revoked on {token.revoked_at:%Y-%m-%d}")
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


class TokenAuth(HttpBearer):
    """Required bearer token: a missing or malformed Authorization header is a 401 that says so."""

    required = True

    def __call__(self, request):
        header = request.headers.get("Authorization", "")
        if not header:
            if self.required:
                raise ApiAuthError("missing Authorization header: send 'Authorization: Bearer <token>' (create one with manage.py create_api_token NAME)")
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise ApiAuthError("Authorization header must be 'Bearer <token>'")
        return self.authenticate(request, raw.strip())

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
