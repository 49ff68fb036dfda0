"""`{{ text|shown }}`: upstream error text as the integrations page may show it (secrets masked,
cut to 500 characters). Reasons are masked when stored; this covers rows stored before that."""
from django import template

from integrations.errors import shown as _shown

register = template.Library()


@register.filter
def shown(text) -> str:
    return _shown(text) if text else ""
