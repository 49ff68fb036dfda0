"""Template filters of the console: safe Markdown, search highlighting, durations."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import markdown as md
import nh3
from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def http_only(url) -> str:
    """A stored link, or '' unless it is http(s) (incidents.links): `{% if x|http_only %}`."""
    from incidents.links import http_url_or_empty

    return http_url_or_empty(url)


@register.filter
def markdown_safe(text: str) -> SafeString:
    """Markdown to HTML, then sanitised by nh3: no script, no event handlers, links get rel=noopener."""
    html = md.markdown(text or "", extensions=["fenced_code", "tables", "sane_lists"], output_format="html")
    return mark_safe(nh3.clean(html))  # noqa: S308 - nh3 has just removed anything unsafe


@register.filter
def highlight(text: str, query: str) -> SafeString:
    """Escape `text` and wrap each case-insensitive occurrence of `query` in <mark>."""
    text = text or ""
    query = (query or "").strip()
    if not query:
        return escape(text)
    parts = re.split(f"({re.escape(query)})", text, flags=re.IGNORECASE)
    out = [f"<mark>{escape(p)}</mark>" if i % 2 else escape(p) for i, p in enumerate(parts)]
    return mark_safe("".join(out))  # noqa: S308 - every part is escaped


@register.filter
def minutes(value: float | None) -> str:
    """A duration in minutes as "45 min", "2 h 5 min" or "3 d 4 h"."""
    if value is None:
        return "—"
    total = int(round(value))
    if total < 60:
        return f"{total} min"
    hours, mins = divmod(total, 60)
    if hours < 48:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@register.filter
def duration_between(start: datetime | None, end: datetime | None) -> str:
    if not start or not end:
        return "—"
    return minutes(max(timedelta(0), end - start).total_seconds() / 60)


@register.filter
def percent(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.{int(digits)}f}%"


@register.filter
def get_item(mapping: dict, key):
    return (mapping or {}).get(key)


@register.filter
def pending_feedback(feedback) -> bool:
    """Whether any feedback row still waits for its model update."""
    return any(f.applied_at is None for f in feedback or [])


@register.simple_tag
def live_layer() -> str:
    """"redis" when the channel layer reaches across processes, else "memory".

    With the in-memory layer only changes made inside the web server are pushed, so pages keep
    polling; with Redis they poll only while their socket is down.
    """
    from django.conf import settings

    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    return "memory" if backend.endswith("InMemoryChannelLayer") else "redis"


@register.filter
def split(value: str) -> list[str]:
    """Words of a string: {% for part in "a b c"|split %}."""
    return value.split()


@register.filter
def active_filter_count(form) -> int:
    """How many of the dashboard's filters narrow the list (the folded filter panel shows it)."""
    from incidents.forms import DEFAULT_RANGE

    data = getattr(form, "data", None)
    if not hasattr(data, "getlist"):
        return 0
    count = len(data.getlist("severity")) + len(data.getlist("status"))
    count += sum(1 for name in ("service", "q") if data.get(name))
    range_ = data.get("range") or ("custom" if data.get("since") or data.get("until") else DEFAULT_RANGE)
    return count + (range_ != DEFAULT_RANGE)


@register.simple_tag
def plotly_js() -> str:
    """The URL of plotly.js: the basic bundle when `make install` fetched it (settings.PLOTLY_JS)."""
    from django.conf import settings
    from django.templatetags.static import static

    return static(settings.PLOTLY_JS)


@register.simple_tag
def poll_seconds() -> int:
    """How often a page polls when it has to (see live_layer)."""
    from django.conf import settings

    return int(getattr(settings, "CONSOLE_POLL_SECONDS", 10))


@register.filter
def status_label(value: str) -> str:
    """An incident status value as people say it: false_positive -> false positive."""
    from incidents.models import Incident

    if value in Incident.Status.values:
        return Incident.Status(value).label.lower()
    return value
