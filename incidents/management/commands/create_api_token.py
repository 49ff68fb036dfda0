from django.core.management.base import BaseCommand, CommandError

from access import audit
from incidents.errors import IncidentError
from incidents.tokens import SCOPES, api_token_create


class Command(BaseCommand):
    help = (
        "Create an API token; the token is printed once. --scope says what it may do (repeat it for several): "
        "ingest (POST /api/v1/events and the Alertmanager webhook, the default), read (the read API), "
        "admin (read, and models, patterns, topology)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--scope", action="append", choices=SCOPES, dest="scopes",
                            help="ingest, read or admin; repeat for several (default: ingest)")

    def handle(self, *args, name: str, scopes: list[str] | None, **options):
        try:
            token, raw = api_token_create(name=name, scopes=scopes or ["ingest"])
        except IncidentError as exc:
            raise CommandError(str(exc)) from exc
        audit.record(actor_label="manage.py", via="command", action="create_api_token", target=f"token {token.name}",
                     details={"scopes": token.scopes})
        self.stdout.write(raw)
