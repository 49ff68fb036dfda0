"""An index of the templated log lines by service and template (issue 11): whether a service logged
a template in the day before an incident (correlation.loading.templates_seen) is one probe a
(service, template) pair instead of a read of every log line of the services in that day.
Partial (lines with a template): metric points, alerts and anomalies have no entry. On
PostgreSQL's partitioned events the parent's index makes one on every partition, and on every
partition attached later."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0012_event_redundant_indexes'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='event',
            index=models.Index(condition=models.Q(('template__isnull', False)), fields=['service', 'template', 'timestamp'], name='event_service_template_ts'),
        ),
    ]
