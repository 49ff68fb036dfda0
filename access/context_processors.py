"""`can` in every template: `{% if can.resolve %}` shows a button only to a role that may use it.

The answer is access.roles.user_can, asked lazily (a page that shows no button asks nothing) and
once per action and request. Hiding is a courtesy: every endpoint checks again.

Fragments pushed over the WebSocket (broadcast.incident_fragments) are rendered once for every
viewer, without a request: their controls carry `data-needs="respond"` instead, and the page's
`<body data-can-respond>` (base.html, from `can`) decides with CSS whether they show."""
from __future__ import annotations

from access.roles import Action, user_can


class Can:
    def __init__(self, user):
        self._user = user
        self._known: dict[Action, bool] = {}

    def __getitem__(self, name: str) -> bool:
        try:
            action = Action[name.upper()]
        except KeyError:
            raise KeyError(name) from None  # a typo in a template must not read as "refused"
        if action not in self._known:
            self._known[action] = user_can(self._user, action)
        return self._known[action]

    def __getattr__(self, name: str) -> bool:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def can(request) -> dict:
    return {"can": Can(getattr(request, "user", None))}
