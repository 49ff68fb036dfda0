"""Print the policy: each action, and which roles and token scopes may do it (access.roles)."""
from django.core.management.base import BaseCommand

from access.roles import ROLE_PERMISSIONS, SCOPE_IMPLIES, Action, Role, Scope


class Command(BaseCommand):
    help = "Print who may do what: every action of access.roles against the three roles and the three token scopes."

    def handle(self, *args, **options):
        columns = [r.value for r in Role] + [f"token:{s.value}" for s in Scope]
        width = max(len(a.label) for a in Action)
        self.stdout.write(f"{'action'.ljust(width)} | " + " | ".join(c.ljust(12) for c in columns))
        for action in Action:
            cells = [("yes" if action.permission in ROLE_PERMISSIONS[role] else "-") for role in Role]
            cells += [("yes" if action.scope is not None and action.scope in SCOPE_IMPLIES[scope] else "-") for scope in Scope]
            self.stdout.write(f"{action.label.ljust(width)} | " + " | ".join(c.ljust(12) for c in cells))
        self.stdout.write("anonymous: nothing (the login page, or 401 on the API); a superuser is an admin; a user in no role group has CLEARA_DEFAULT_ROLE (viewer).")
