"""The pattern catalogue and the feedback on root causes move from `correlation` to `incidents`
(the console writes them, the engine reads them: issue 8). State only: the tables stay where they
are here and are renamed by 0004, once `correlation` has let go of the models."""
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0002_console_indexes"),
        ("correlation", "0005_series_baseline_state_lz4"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    state_operations = [
        migrations.CreateModel(
            name="Pattern",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("slug", models.SlugField(max_length=100, unique=True)),
                ("name", models.CharField(max_length=200)),
                ("incident_type", models.CharField(max_length=100)),
                ("description", models.TextField(blank=True, default="")),
                ("signals", models.JSONField(blank=True, default=dict)),
                ("remediation", models.JSONField(blank=True, default=list, help_text="Ordered remediation steps.")),
                ("runbook_url", models.URLField(blank=True, default="", max_length=500)),
                ("origin", models.CharField(choices=[("builtin", "Built-in"), ("learned", "Learned"), ("curated", "Curated")], default="curated", max_length=10)),
                ("enabled", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"ordering": ["name"], "db_table": "correlation_pattern"},
        ),
        migrations.CreateModel(
            name="Feedback",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("verdict", models.CharField(choices=[("yes", "Correct"), ("no", "Wrong"), ("partial", "Partly right")], max_length=10)),
                ("suggested_root_cause", models.CharField(blank=True, max_length=200, null=True)),
                ("comment", models.TextField(blank=True, default="")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("applied_at", models.DateTimeField(blank=True, help_text="When a model update took this feedback in.", null=True)),
                ("correct_service", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="incidents.service")),
                ("incident", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="feedback", to="incidents.incident")),
                ("user", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
            ],
            options={"ordering": ["-created_at"], "db_table": "correlation_feedback"},
        ),
        migrations.AlterField(
            model_name="incident",
            name="pattern",
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="incidents", to="incidents.pattern"),
        ),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=state_operations)]
