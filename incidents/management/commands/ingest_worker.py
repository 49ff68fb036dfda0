"""`manage.py ingest_worker`: process the ingest queue's partitions (incidents.worker). Run as
many as you like, on any machine that reaches the database and Redis; they share the partitions.
SIGTERM or Ctrl-C stops it after the batch in hand, within 10 s."""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Process the ingest queue (anomaly detection, correlation) from its Redis streams."

    def add_arguments(self, parser):
        parser.add_argument("--name", help="this worker's name in Redis (default: host:pid:random)")

    def handle(self, *args, name: str | None = None, **options):
        if not settings.REDIS_URL:
            raise CommandError("ingest_worker needs REDIS_URL: without Redis, ingest processes each batch inline")
        from incidents.worker import IngestWorker

        IngestWorker(name=name).run()
