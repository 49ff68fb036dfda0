"""Stored links (runbooks of services and patterns) are http(s) only: a `javascript:` or `data:`
URL stored through the topology API or the admin would run in the console when clicked. Checked
where they are stored (the model field's validator, so every ModelForm; the topology API) and
again where they are rendered (the `http_only` filter), for rows stored before the check."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.deconstruct import deconstructible

SCHEMES = ("http", "https")


@deconstructible
class HttpUrlValidator(URLValidator):
    message = "Enter an http:// or https:// link."

    def __init__(self, **kwargs):
        super().__init__(schemes=list(SCHEMES), **kwargs)


validate_http_url = HttpUrlValidator()


def http_url_problem(value: str) -> str | None:
    """Why `value` is not an acceptable stored link, or None ('' is fine: no link)."""
    if not value:
        return None
    try:
        validate_http_url(value)
    except ValidationError:
        return "must be an http:// or https:// link"
    return None


def http_url_or_empty(value) -> str:
    """The link to render, or '' when it is not an http(s) link (so no href is written)."""
    return value if isinstance(value, str) and value and http_url_problem(value) is None else ""
