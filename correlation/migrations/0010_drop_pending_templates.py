"""PendingTemplate (0009) goes: writing the info log lines' template ids off the component lane was
measured and not kept (docs/sizing.md, round 5): the pending rows' insert, their drain and the
table's churn cost more on two shared cores than the UPDATE they moved out of the lane."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('correlation', '0009_pending_templates'),
    ]

    operations = [
        migrations.DeleteModel(
            name='PendingTemplate',
        ),
    ]
