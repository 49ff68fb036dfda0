"""API tokens get scopes (issue 12). Every token that exists was made for ingest: the README,
`create_api_token` and the Alertmanager set-up all hand them to exporters and webhooks that send
events. They become `ingest` tokens, which keeps those senders working and takes away what they
never needed (until now any token could also read incidents, train or roll back models and
replace the topology): a leaked exporter token can no longer do more than send events. A token
that must read or administer is made anew with `create_api_token --scope read|admin`."""
from django.db import migrations, models

import incidents.models


def existing_tokens_ingest(apps, schema_editor):
    apps.get_model("incidents", "ApiToken").objects.update(scopes=["ingest"])


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0006_event_template_params_pattern_state_logtemplate_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="scopes",
            field=models.JSONField(
                blank=True, default=list, validators=[incidents.models._scopes_validate],
                help_text='What the token may do: a list of "ingest" (send events and alerts), "read" (the read API), "admin" (read, and models, patterns, topology).',
            ),
        ),
        migrations.RunPython(existing_tokens_ingest, migrations.RunPython.noop),
    ]
