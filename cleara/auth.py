"""API authentication: bearer tokens (hashed at rest) for machines, the session for people."""
from __future__ import annotations

from django.utils import timezone
from ninja.security import HttpBearer

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
