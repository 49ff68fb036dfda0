"""Slack messages as Block Kit, from plain data: no database, no HTTP, unit-tested on their own.

Every string is cut to Block Kit's limits here (a message Slack refuses is a notification lost
until someone fixes the code), and user text is escaped for mrkdwn.
"""
from __future__ import annotations

from integrations.facts import IncidentFacts

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_ACTION_ID = 255
MAX_BUTTON_VALUE = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK_TEXT = 3000

ACTION_ACKNOWLEDGE = "incident_acknowledge"
ACTION_INVESTIGATE = "incident_investigate"
ACTION_RESOLVE = "incident_resolve"
ACTION_OPEN = "incident_open"
ACTIONS_BLOCK_ID = "incident_actions"

SEVERITY_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
STATUS_EMOJI = {"open": ":rotating_light:", "investigating": ":mag:", "resolved": ":white_check_mark:", "false_positive": ":heavy_minus_sign:"}
CLOSED_STATUSES = {"resolved", "false_positive"}


def incident_ref(number: int) -> str:
    """What a button carries: the incident's number as people say it."""
    return f"INC-{number}"


def incident_ref_parse(value: str) -> int | None:
    value = (value or "").strip().upper().removeprefix("INC-").removeprefix("#")
    return int(value) if value.isdigit() else None


def escape(text: str) -> str:
    """mrkdwn control characters (Slack's own rule: only &, < and > need it)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def percent(confidence: float) -> str:
    return f"{round(confidence * 100)}%"


def root_cause_text(card: IncidentFacts) -> str:
    if not card.root_cause:
        return "not known yet"
    return f"{escape(card.root_cause)} ({percent(card.confidence)} confidence)"


def fallback_text(card: IncidentFacts) -> str:
    """The notification text (and what screen readers and old clients show). Slack parses it as
    mrkdwn like a section's text, so the title is escaped the same way: a title holding
    `<!channel>` or `<https://evil|bank>` must not ping a channel or hide a link."""
    return cut(f"[{card.severity.upper()}] #{card.number} {escape(card.title)} — {escape(card.status_label)}", MAX_FALLBACK_TEXT)


def button(text: str, action_id: str, value: str, style: str | None = None, url: str | None = None) -> dict:
    element = {
        "type": "button",
        "action_id": cut(action_id, MAX_ACTION_ID),
        "text": {"type": "plain_text", "text": cut(text, MAX_BUTTON_TEXT), "emoji": True},
        "value": cut(value, MAX_BUTTON_VALUE),
    }
    if style:
        element["style"] = style
    if url:
        element["url"] = url
    return element


def incident_blocks(card: IncidentFacts) -> list[dict]:
    """Title, severity, status, root cause with confidence, affected services, summary, evidence, link, buttons."""
    title = f"#{card.number} {card.title}" + (f" ({card.status_label})" if card.status in CLOSED_STATUSES else "")
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(title, MAX_HEADER_TEXT), "emoji": True}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": cut(f"*Severity*\n{SEVERITY_EMOJI.get(card.severity, '')} {card.severity.capitalize()}", MAX_FIELD_TEXT)},
                {"type": "mrkdwn", "text": cut(f"*Status*\n{STATUS_EMOJI.get(card.status, '')} {card.status_label}", MAX_FIELD_TEXT)},
                {"type": "mrkdwn", "text": cut(f"*Root cause*\n{root_cause_text(card)}", MAX_FIELD_TEXT)},
                {"type": "mrkdwn", "text": cut(f"*Affected services*\n{escape(', '.join(card.services)) or '—'}", MAX_FIELD_TEXT)},
            ],
        },
    ]
    if card.summary:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": cut(escape(card.summary), MAX_SECTION_TEXT)}})
    if card.evidence:
        # The root cause's strongest evidence, as the console's root-cause step lists it.
        lines = "\n".join(f"• {escape(e)}" for e in card.evidence)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": cut(f"*Evidence*\n{lines}", MAX_SECTION_TEXT)}})
    context = [f"<{card.url}|Open incident #{card.number} in Cleara>"]
    if card.alternatives:
        context.append("Other candidates: " + ", ".join(f"{escape(s)} ({percent(c)})" for s, c in card.alternatives[:3]))
    if card.assignee:
        context.append(f"Assignee: {escape(card.assignee)}")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(t, MAX_SECTION_TEXT)} for t in context[:MAX_CONTEXT_ELEMENTS]]})
    ref = incident_ref(card.number)
    if card.status in CLOSED_STATUSES:
        elements = [button("Open in Cleara", ACTION_OPEN, ref, url=card.url)]
    else:
        elements = [
            button("Acknowledge", ACTION_ACKNOWLEDGE, ref, style="primary"),
            button("Investigate", ACTION_INVESTIGATE, ref),
            button("Resolve", ACTION_RESOLVE, ref, style="danger"),
            button("Open in Cleara", ACTION_OPEN, ref, url=card.url),
        ]
    blocks.append({"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": elements})
    return blocks[:MAX_BLOCKS]


def incident_message(card: IncidentFacts) -> dict:
    return {"text": fallback_text(card), "blocks": incident_blocks(card)}


def incident_list_message(cards: list[IncidentFacts], *, more: int = 0) -> dict:
    """`/cleara incidents`: one line per open incident, most recent first."""
    if not cards:
        return {"text": "No open incidents. :tada:", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "No open incidents. :tada:"}}]}
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": f"Open incidents ({len(cards) + more})"}}]
    for card in cards[: MAX_BLOCKS - 2]:
        line = (
            f"{SEVERITY_EMOJI.get(card.severity, '')} <{card.url}|#{card.number}> {escape(card.title)}\n"
            f"{card.status_label} · root cause {root_cause_text(card)}"
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": cut(line, MAX_SECTION_TEXT)}})
    if more:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"…and {more} more in Cleara."}]})
    return {"text": f"{len(cards) + more} open incidents", "blocks": blocks[:MAX_BLOCKS]}


def text_message(text: str) -> dict:
    text = cut(text, MAX_SECTION_TEXT)
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


HELP_TEXT = (
    "*Cleara in Slack*\n"
    "`/cleara incidents` – the open incidents\n"
    "`/cleara incident <number>` – one incident\n"
    "`/cleara ack <number>` – acknowledge (the incident becomes investigating)\n"
    "`/cleara resolve <number>` – resolve\n"
    "`/cleara help` – this help\n"
    "The buttons under an incident do the same; what you do is recorded in Cleara as yours."
)


def help_message() -> dict:
    return text_message(HELP_TEXT)


def status_line(*, previous: str, current: str, who: str, where: str) -> str:
    by = f" by {escape(who)}" if who else ""
    return f"{STATUS_EMOJI.get(current, '')} Status: {previous.replace('_', ' ')} → *{current.replace('_', ' ')}*{by} ({where})"


def severity_line(*, previous: str, current: str) -> str:
    return f"{SEVERITY_EMOJI.get(current, '')} Severity: {previous or '—'} → *{current}*"


def root_cause_line(*, previous: str, current: str, confidence: float) -> str:
    if previous and previous != current:
        return f":bulb: Root-cause hypothesis changed: {escape(previous)} → *{escape(current)}* ({percent(confidence)} confidence)"
    return f":bulb: Root-cause hypothesis: *{escape(current)}* ({percent(confidence)} confidence)"


def split_line(*, message: str, number: int, url: str) -> str:
    """The engine opened incident `number` apart from this one (a new origin inside its cone)."""
    return cut(f":scissors: {escape(message)} <{url}|Open #{number} in Cleara>", MAX_SECTION_TEXT)


def note_line(*, author: str, body: str, where: str) -> str:
    return cut(f":memo: Note from {escape(author) or 'someone'} ({where}):\n{escape(body)}", MAX_SECTION_TEXT)


def test_message(*, base_url: str) -> dict:
    return text_message(f":wave: Test notification from Cleara (<{base_url}/integrations/|integrations page>). Slack is connected.")
