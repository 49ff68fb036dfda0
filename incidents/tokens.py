"""API token lifecycle: create (the raw token is returned once, with its scopes), revoke."""
from django.utils import timezone

from incidents.errors import IncidentError
from incidents.models import ApiToken

SCOPES = ("ingest", "read", "admin")  # access.roles.Scope; repeated for argparse's choices


def api_token_create(*, name: str, scopes: list[str] | tuple[str, ...] = ("ingest",)) -> tuple[ApiToken, str]:
    if ApiToken.objects.filter(name=name).exists():
        raise IncidentError(f"a token named {name!r} exists already; revoke it or pick another name")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise IncidentError(f"unknown scope {', '.join(map(repr, unknown))}: choose from {', '.join(SCOPES)}" if unknown else "a token needs at least one scope")
    raw = ApiToken.generate_raw()
    token = ApiToken(name=name, key_hash=ApiToken.hash(raw), hint=raw[:8], scopes=sorted(set(scopes), key=SCOPES.index))
    token.full_clean()
    token.save()
    return token, raw


def api_token_revoke(*, name: str) -> ApiToken:
    token = ApiToken.objects.filter(name=name).first()
    if token is None:
        raise IncidentError(f"no token named {name!r}")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
