"""Per-hour event counts (EventRollup), written at ingest from now on, backfilled here from the
events already stored: one GROUP BY over incidents_event (an aggregate scan: on a large table this
migration takes as long as reading it once), written in batches of 5,000 rollup rows."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import TruncHour


def backfill(apps, schema_editor):
    Event = apps.get_model("incidents", "Event")
    EventRollup = apps.get_model("incidents", "EventRollup")
    db = schema_editor.connection.alias
    rows = (Event.objects.using(db).annotate(h=TruncHour("timestamp")).order_by()
            .values("h", "service_id", "type", "severity", "source").annotate(n=Count("*")))
    batch = []
    for r in rows.iterator(chunk_size=5000):
        batch.append(EventRollup(hour=r["h"], service_id=r["service_id"], type=r["type"], severity=r["severity"], source=r["source"], count=r["n"]))
        if len(batch) == 5000:
            EventRollup.objects.using(db).bulk_create(batch)
            batch = []
    EventRollup.objects.using(db).bulk_create(batch)


class Migration(migrations.Migration):

    dependencies = [
        ("incidents", "0008_runbook_links_http_only"),
    ]

    operations = [
        migrations.CreateModel(
            name="EventRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("hour", models.DateTimeField(help_text="Start of the hour (UTC) of the events' timestamp.")),
                ("type", models.CharField(choices=[("alert", "Alert"), ("log", "Log"), ("metric", "Metric"), ("anomaly", "Anomaly")], max_length=10)),
                ("severity", models.CharField(choices=[("critical", "Critical"), ("warning", "Warning"), ("info", "Info")], max_length=10)),
                ("source", models.CharField(choices=[("api", "Ingest API"), ("alertmanager", "Alertmanager"), ("detector", "Anomaly detector"),
                                                     ("simulator", "Simulator")], max_length=20)),
                ("count", models.BigIntegerField(default=0)),
                ("service", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="incidents.service")),
            ],
            options={
                "indexes": [models.Index(fields=["service", "hour"], name="event_rollup_service_hour")],
                "constraints": [models.UniqueConstraint(fields=("hour", "service", "type", "severity", "source"), name="event_rollup_key")],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
