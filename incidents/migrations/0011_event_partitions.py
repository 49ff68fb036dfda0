"""Events partitioned by time on PostgreSQL, with their client ids kept unique in a table of their own.

Why this shape (issue 11; investigated before writing it):
- PostgreSQL declarative range partitioning on `timestamp` (TimescaleDB is not installed on our
  machines; `CREATE EXTENSION timescaledb` fails there). Partitions of EVENT_PARTITION_DAYS days
  (7: 90 days of retention is ~15 partitions, few enough that a query without a timestamp bound,
  an UPDATE by id, plans and probes them cheaply) plus a DEFAULT partition, so an event at any
  timestamp is stored (an absurd date, a backfill from before the first partition). Retention
  drops whole partitions (incidents.retention, scheduled hourly).
- The primary key of a partitioned table must hold the partition key: it is (id, timestamp) in
  the database, while Django keeps `id` as the model's primary key (ids still come from one
  sequence, so they stay unique; every query by id still works, probing each partition's index).
  Identity columns cannot be used on a partitioned table in PostgreSQL 15, so `id` takes its
  default from a sequence owned by the column (what Django's sequence reset finds).
- No model has a foreign key to Event (checked: incidents, correlation, integrations, access), so
  nothing needs `db_constraint=False`; the events' own foreign keys (service, incident, template)
  are recreated on the partitioned table, with their names and definitions.
- The client-id rule ("an id sent again is never stored twice") was a partial unique index on
  events; a unique index on a partitioned table must include `timestamp`, which would let an id
  sent again with another timestamp in. It moves to EventClientId (client_id primary key),
  written in the batch's transaction, on every backend (SQLite too, so one code path).
- SQLite (the embedded default) keeps a plain table; retention deletes there.

On an existing database the events are copied into the partitioned table (one INSERT ... SELECT
in this migration's transaction: the table is locked while it runs, about as long as reading it
once) and the old table dropped. Reversible: the reverse copies them back into a plain table.
"""

from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def _definitions(cursor, table):
    cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s", [table])
    indexes = [(n, d) for n, d in cursor.fetchall() if n != f"{table}_pkey"]
    cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype = 'f'", [table])
    return indexes, cursor.fetchall()


def _rebuild(cursor, *, partitioned: bool):
    """Replace incidents_event by a partitioned (or plain) copy with the same columns, indexes,
    foreign keys and ids."""
    from incidents import retention

    indexes, fks = _definitions(cursor, "incidents_event")
    cursor.execute("ALTER TABLE incidents_event RENAME TO incidents_event_old")
    if partitioned:
        cursor.execute('CREATE TABLE incidents_event (LIKE incidents_event_old INCLUDING DEFAULTS) PARTITION BY RANGE ("timestamp")')
        cursor.execute(f'CREATE TABLE "{retention.DEFAULT_PARTITION}" PARTITION OF incidents_event DEFAULT')
        now = timezone.now()
        keep_from = now - timedelta(days=settings.EVENT_RETENTION_DAYS + settings.EVENT_PARTITION_DAYS)
        cursor.execute('SELECT min("timestamp") FROM incidents_event_old WHERE "timestamp" >= %s', [keep_from])
        first = cursor.fetchone()[0]
        retention.partitions_ensure(now=now, since=(first or now).date())
    else:
        cursor.execute("CREATE TABLE incidents_event (LIKE incidents_event_old INCLUDING DEFAULTS)")
    cursor.execute("ALTER TABLE incidents_event ALTER COLUMN id DROP DEFAULT")
    cursor.execute("INSERT INTO incidents_event SELECT * FROM incidents_event_old")
    cursor.execute("SELECT max(id) FROM incidents_event_old")
    top = cursor.fetchone()[0]
    cursor.execute("DROP TABLE incidents_event_old")  # its indexes, constraints and id sequence with it
    cursor.execute("CREATE SEQUENCE incidents_event_id_seq OWNED BY incidents_event.id")
    cursor.execute("SELECT setval('incidents_event_id_seq', %s, %s)", [top or 1, top is not None])
    cursor.execute("ALTER TABLE incidents_event ALTER COLUMN id SET DEFAULT nextval('incidents_event_id_seq')")
    cursor.execute('ALTER TABLE incidents_event ADD PRIMARY KEY (id, "timestamp")' if partitioned else "ALTER TABLE incidents_event ADD PRIMARY KEY (id)")
    for _, definition in indexes:
        cursor.execute(definition)
    for name, definition in fks:
        cursor.execute(f'ALTER TABLE incidents_event ADD CONSTRAINT "{name}" {definition}')


def partition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            _rebuild(cursor, partitioned=True)


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            _rebuild(cursor, partitioned=False)


def client_ids(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute('INSERT INTO incidents_eventclientid (client_id, "timestamp") SELECT client_id, min("timestamp") '
                       "FROM incidents_event WHERE client_id IS NOT NULL GROUP BY client_id")


class Migration(migrations.Migration):

    dependencies = [
        ("incidents", "0010_ingest_message"),
    ]

    operations = [
        migrations.CreateModel(
            name="EventClientId",
            fields=[
                ("client_id", models.CharField(max_length=200, primary_key=True, serialize=False)),
                ("timestamp", models.DateTimeField(db_index=True, help_text="The event's timestamp (retention deletes by it).")),
            ],
        ),
        migrations.RunPython(client_ids, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="event",
            name="event_client_id_unique",
        ),
        migrations.RunPython(partition, unpartition),
    ]
