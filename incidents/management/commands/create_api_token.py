from django.core.management.base import BaseCommand, CommandError

from incidents.errors import IncidentError
from incidents.tokens import api_token_create


class Command(BaseCommand):
    help = "Create an API token for POST /api/v1/events and the webhooks. The token is printed once."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name: str, **options):
        try:
            _, raw = api_token_create(name=name)
        except IncidentError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(raw)
