"""Who may do what: three roles for people, three scopes for API tokens, one table of actions.

Roles are Django groups holding permissions (access.models.AuditEntry.Meta.permissions):

- viewer: read incidents, events, topology and stats;
- responder: a viewer who also collaborates: notes, assignment, status, resolution, feedback;
- admin: a responder who also manages patterns, models, integrations, the topology, users and
  API tokens, and reads the audit log.

A superuser is an admin. A user in no role group gets `CLEARA_DEFAULT_ROLE` (viewer unless set:
an account someone forgot to place can look, not touch). A user acts everywhere with the same
role: console pages and their htmx endpoints, WebSockets, the API with a session, and Slack
(through the Cleara user the Slack user maps to).

API tokens carry scopes instead: `ingest` (send events and alerts, nothing else), `read` (the
read API) and `admin` (everything a token can do: read, and the admin actions). A token never
collaborates on an incident: that is a person's act.

Every place that acts calls `check()` (or the `requires` decorator, `api_check`,
`consumer_allows`), so the table below is the whole policy.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum, StrEnum

from django.conf import settings
from django.core.exceptions import PermissionDenied


class Role(StrEnum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"


class Scope(StrEnum):
    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"


# What each scope grants, beyond itself: an admin token also reads.
SCOPE_IMPLIES: dict[Scope, frozenset[Scope]] = {
    Scope.INGEST: frozenset({Scope.INGEST}),
    Scope.READ: frozenset({Scope.READ}),
    Scope.ADMIN: frozenset({Scope.ADMIN, Scope.READ}),
}


@dataclass(frozen=True)
class Capability:
    permission: str | None  # "app_label.codename" a person needs; None: people never (machines only)
    scope: Scope | None  # the scope a token needs; None: tokens never (people only)
    label: str


class Action(Enum):
    VIEW = Capability("access.view_console", Scope.READ, "see incidents, events, topology and stats")
    EXPORT = Capability("access.view_console", Scope.READ, "export an incident (JSON, CSV)")
    INGEST = Capability(None, Scope.INGEST, "send events and alerts")
    SCORE = Capability("access.view_console", Scope.READ, "score a series with the anomaly model")
    NOTE = Capability("access.respond", None, "add a note to an incident")
    ASSIGN = Capability("access.respond", None, "assign an incident")
    STATUS = Capability("access.respond", None, "change an incident's status")
    RESOLVE = Capability("access.respond", None, "resolve an incident")
    FEEDBACK = Capability("access.respond", None, "confirm or correct a root cause")
    MANAGE_PATTERNS = Capability("access.manage_patterns", Scope.ADMIN, "change correlation patterns")
    MANAGE_MODELS = Capability("access.manage_models", Scope.ADMIN, "train, activate or roll back a model")
    MANAGE_INTEGRATIONS = Capability("access.manage_integrations", Scope.ADMIN, "configure or test an integration")
    MANAGE_TOPOLOGY = Capability("access.manage_topology", Scope.ADMIN, "change the service topology")
    MANAGE_USERS = Capability("auth.change_user", None, "manage users")
    MANAGE_TOKENS = Capability("incidents.change_apitoken", None, "manage API tokens")
    VIEW_AUDIT = Capability("access.view_auditentry", Scope.ADMIN, "read the audit log")

    @property
    def permission(self) -> str | None:
        return self.value.permission

    @property
    def scope(self) -> Scope | None:
        return self.value.scope

    @property
    def label(self) -> str:
        return self.value.label


_ACCESS = ["view_console", "respond", "manage_patterns", "manage_models", "manage_integrations", "manage_topology", "view_auditentry"]
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.VIEWER: frozenset({"access.view_console"}),
    Role.RESPONDER: frozenset({"access.view_console", "access.respond"}),
    Role.ADMIN: frozenset(
        [f"access.{codename}" for codename in _ACCESS]
        + [f"auth.{verb}_{model}" for verb in ("add", "change", "delete", "view") for model in ("user", "group")]
        + [f"incidents.{verb}_apitoken" for verb in ("add", "change", "delete", "view")]
        + [f"axes.{verb}_{model}" for verb in ("view", "delete") for model in ("accessattempt", "accessfailurelog")]
        # What the admin site shows them: patterns (curation), the topology, models, who a Slack user is.
        + [f"incidents.{verb}_{model}" for verb in ("add", "change", "delete", "view") for model in ("pattern", "service")]
        + ["correlation.view_modelversion", "correlation.change_modelversion"]
        + [f"integrations.{verb}_slackuserlink" for verb in ("add", "change", "delete", "view")]
        + ["integrations.view_slackinstallation", "integrations.delete_slackinstallation"]
        + ["integrations.view_outboxmessage", "integrations.view_inboundpayload"]
    ),
}


class AccessDenied(PermissionDenied):
    """403 with a sentence saying who cannot do what, and what would allow it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def default_role() -> Role:
    return Role(getattr(settings, "CLEARA_DEFAULT_ROLE", Role.VIEWER))


def role_of(user) -> Role | None:
    """The user's role: the highest role group they are in, else the default; None if anonymous."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    names = {group.name for group in user.groups.all()}
    for role in (Role.ADMIN, Role.RESPONDER, Role.VIEWER):
        if role.value in names:
            return role
    return default_role()


def user_can(user, action: Action) -> bool:
    if action.permission is None or user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser or user.has_perm(action.permission):
        return True
    # A user in no role group has the default role's permissions.
    if not user.groups.filter(name__in=[r.value for r in Role]).exists():
        return action.permission in ROLE_PERMISSIONS[default_role()]
    return False


def token_scopes(token) -> frozenset[Scope]:
    granted: set[Scope] = set()
    for raw in getattr(token, "scopes", None) or ():
        granted |= SCOPE_IMPLIES.get(Scope(raw), frozenset())
    return frozenset(granted)


def token_can(token, action: Action) -> bool:
    return action.scope is not None and action.scope in token_scopes(token)


def check(action: Action, *, user=None, token=None) -> None:
    """Raise AccessDenied unless the token (when one is given) or else the user may do `action`."""
    if token is not None:
        if token_can(token, action):
            return
        scopes = ", ".join(sorted(getattr(token, "scopes", None) or ())) or "none"
        if action.scope is None:
            raise AccessDenied(f"API tokens cannot {action.label}: a person does that, logged in")
        raise AccessDenied(f"API token {token.name!r} (scopes: {scopes}) cannot {action.label}: that needs the {action.scope.value!r} scope")
    if user_can(user, action):
        return
    role = role_of(user)
    if role is None:
        raise AccessDenied(f"log in to {action.label}")
    needed = min_role(action)
    if needed is None:
        raise AccessDenied(f"people cannot {action.label} (API tokens with the {action.scope.value!r} scope do)")
    raise AccessDenied(f"your role ({role.value}) cannot {action.label}: that needs the {needed.value} role; ask an admin")


def min_role(action: Action) -> Role | None:
    for role in (Role.VIEWER, Role.RESPONDER, Role.ADMIN):
        if action.permission in ROLE_PERMISSIONS[role]:
            return role
    return None


def requires(action: Action, *, post: Action | None = None) -> Callable:
    """View decorator: a login (redirect to it otherwise), then the action's permission (403).

    `post`: what a POST to the same URL does, when the page (GET) and the change (POST) share one
    URL (the resolve and feedback steps): GET needs `action`, POST needs `post`."""
    from django.contrib.auth.decorators import login_required

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            check(post if post is not None and request.method == "POST" else action, user=request.user)
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorate


def api_check(request, action: Action) -> None:
    """For API operations: the token the request authenticated with, else its session's user."""
    check(action, user=getattr(request, "user", None), token=getattr(request, "api_token", None))


def consumer_allows(scope: dict, action: Action = Action.VIEW) -> bool:
    """For WebSocket consumers' connect(): whether the socket's user may see what it pushes."""
    return user_can(scope.get("user"), action)


def assign_role(user, role: Role | str) -> None:
    """Put the user in exactly one role group."""
    from django.contrib.auth.models import Group

    role = Role(role)
    ensure_role_groups()
    user.groups.remove(*Group.objects.filter(name__in=[r.value for r in Role if r != role]))
    user.groups.add(Group.objects.get(name=role.value))
    for cache in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cache, None)


def ensure_role_groups(apps=None) -> None:
    """Create the three groups with exactly their permissions (idempotent; historical `apps` in migrations)."""
    if apps is None:
        from django.apps import apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        group.permissions.set(_permissions(Permission, perms))


def _permissions(Permission, names: Iterable[str]) -> list:
    wanted = {tuple(name.split(".", 1)) for name in names}
    found = Permission.objects.filter(codename__in=[c for _, c in wanted]).select_related("content_type")
    return [p for p in found if (p.content_type.app_label, p.codename) in wanted]


def ensure_role_groups_after_migrate(sender, **kwargs) -> None:
    from django.contrib.auth.management import create_permissions
    from django.apps import apps as global_apps

    # Permissions of every app first (post_migrate order between apps is not guaranteed).
    for config in global_apps.get_app_configs():
        create_permissions(config, verbosity=0, using=kwargs.get("using", "default"))
    ensure_role_groups()
