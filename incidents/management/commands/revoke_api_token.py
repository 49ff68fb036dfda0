from django.core.management.base import BaseCommand, CommandError

from access import audit
from incidents.errors import IncidentError
from incidents.tokens import api_token_revoke


class Command(BaseCommand):
    help = "Revoke an API token by name: requests with it get 401 from now on."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name: str, **options):
        try:
            token = api_token_revoke(name=name)
        except IncidentError as exc:
            raise CommandError(str(exc)) from exc
        audit.record(actor_label="manage.py", via="command", action="revoke_api_token", target=f"token {token.name}")
        self.stdout.write(f"revoked {token.name}")
