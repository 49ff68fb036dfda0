"""Load the built-in pattern library (origin "builtin"); edits made later in the admin are kept."""
from django.db import migrations


def install(apps, schema_editor):
    from incidents.catalogue import builtin_patterns_install

    builtin_patterns_install(apps.get_model("correlation", "Pattern"))


def uninstall(apps, schema_editor):
    apps.get_model("correlation", "Pattern").objects.filter(origin="builtin").delete()


class Migration(migrations.Migration):
    dependencies = [("correlation", "0002_initial")]

    operations = [migrations.RunPython(install, uninstall)]
