"""Drop the events' single-column indexes on incident_id and service_id (issue 11).

Each duplicates the leading column of a composite index (event_incident_ts is (incident_id,
timestamp); event_service_ts is (service_id, timestamp)), which serves every lookup by either
column, the ON DELETE SET NULL / PROTECT checks included, while each extra index costs every
insert (the COPY of a batch maintains every index of the partition it lands in).

Only the indexes are dropped: Django's own AlterField would also drop and re-add the foreign keys
(a scan of every partition to validate them). On PostgreSQL's partitioned table (migration 0011)
dropping the parent's index drops each partition's; on SQLite the table is plain. Reversible.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = {"incident_id": "incidents_event_incident_id_6e955528", "service_id": "incidents_event_service_id_34767c47"}


class Migration(migrations.Migration):

    dependencies = [
        ("incidents", "0011_event_partitions"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(f'DROP INDEX IF EXISTS "{name}"', f'CREATE INDEX IF NOT EXISTS "{name}" ON "incidents_event" ("{column}")')
                for column, name in INDEXES.items()
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="incident",
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="events", to="incidents.incident"),
                ),
                migrations.AlterField(
                    model_name="event",
                    name="service",
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="events", to="incidents.service"),
                ),
            ],
        ),
    ]
