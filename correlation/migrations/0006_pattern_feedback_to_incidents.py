"""Pattern and Feedback now belong to `incidents` (incidents 0003 took them over): drop them from
this app's state; the tables are left to incidents."""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("correlation", "0005_series_baseline_state_lz4"),
        ("incidents", "0003_pattern_feedback_from_correlation"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Feedback"), migrations.DeleteModel(name="Pattern")],
        )
    ]
