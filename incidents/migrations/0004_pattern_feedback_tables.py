"""The moved tables take this app's names; the admin's content types follow the models."""
from django.db import migrations


def content_types_move(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ("pattern", "feedback"):
        if not ContentType.objects.filter(app_label="incidents", model=model).exists():
            ContentType.objects.filter(app_label="correlation", model=model).update(app_label="incidents")


def content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="incidents", model__in=["pattern", "feedback"]).update(app_label="correlation")


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0003_pattern_feedback_from_correlation"),
        ("correlation", "0006_pattern_feedback_to_incidents"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelTable(name="pattern", table=None),
        migrations.AlterModelTable(name="feedback", table=None),
        migrations.RunPython(content_types_move, content_types_back),
    ]
