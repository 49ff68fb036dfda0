"""Slack installations' bot tokens (and the installation data holding every token) encrypted at
rest; rows written before are encrypted here (reading passes unprefixed values through)."""

import cleara.encryption
from django.db import migrations


def encrypt_existing(apps, schema_editor):
    SlackInstallation = apps.get_model("integrations", "SlackInstallation")
    for row in SlackInstallation.objects.all():
        row.save(update_fields=["bot_token", "data"])  # read as plain text, written encrypted


class Migration(migrations.Migration):

    dependencies = [
        ('integrations', '0002_outbox_slack_pagerduty'),
    ]

    operations = [
        migrations.AlterField(
            model_name='slackinstallation',
            name='bot_token',
            field=cleara.encryption.EncryptedTextField(blank=True, default=''),
        ),
        migrations.AlterField(
            model_name='slackinstallation',
            name='data',
            field=cleara.encryption.EncryptedJSONField(blank=True, default=dict),
        ),
        migrations.RunPython(encrypt_existing, migrations.RunPython.noop),
    ]
