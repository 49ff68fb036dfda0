"""Indexes for the console's queries at scale (millions of events).

event_fingerprint_incident serves "similar signature" (the preview's related incidents): the other
incidents that have events with this incident's alert fingerprints. Partial, so that only
correlated events pay for it at ingest.

Plain SQL (valid on PostgreSQL and SQLite) without state operations, on purpose: the index is not
declared in Event.Meta (incidents/models.py belongs to the data model), and a state operation
would make `makemigrations` want to drop it again.
"""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql="CREATE INDEX IF NOT EXISTS event_fingerprint_incident ON incidents_event (fingerprint, incident_id) WHERE incident_id IS NOT NULL",
            reverse_sql="DROP INDEX IF EXISTS event_fingerprint_incident",
        ),
    ]
