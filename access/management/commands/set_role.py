"""Give a user one role (viewer, responder or admin); recorded in the audit log."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from access import audit
from access.roles import Role, assign_role, role_of


class Command(BaseCommand):
    help = "Put a user in exactly one role: viewer (reads), responder (also notes, assignment, status, resolution, feedback), admin (also patterns, models, integrations, topology, users, tokens, the audit log)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("role", choices=[r.value for r in Role])

    def handle(self, *args, username: str, role: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        before = role_of(user)
        assign_role(user, role)
        audit.record(actor_label="manage.py", via="command", action="set_role", target=f"user {username}",
                     details={"from": before.value if before else None, "to": role})
        self.stdout.write(f"{username}: {role}" + (" (a superuser acts as an admin whatever the group)" if user.is_superuser and role != "admin" else ""))
