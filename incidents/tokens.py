"""API token lifecycle: create (the raw token is returned once), revoke."""
from django.utils import timezone

from incidents.errors import IncidentError
from incidents.models import ApiToken


def api_token_create(*, name: str) -> tuple[ApiToken, str]:
    if ApiToken.objects.filter(name=name).exists():
        raise IncidentError(f"a token named {name!r} exists already; revoke it or pick another name")
    raw = ApiToken.generate_raw()
    token = ApiToken.objects.create(name=name, key_hash=ApiToken.hash(raw), hint=raw[:8])
    return token, raw


def api_token_revoke(*, name: str) -> ApiToken:
    token = ApiToken.objects.filter(name=name).first()
    if token is None:
        raise IncidentError(f"no token named {name!r}")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
