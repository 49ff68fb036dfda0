"""The viewer, responder and admin groups with their permissions; existing accounts keep what
they could do before roles existed (staff: admin, everyone else: responder) until an admin
narrows them."""
from django.contrib.auth.management import create_permissions
from django.db import migrations


def forwards(apps, schema_editor):
    from access.roles import Role, ensure_role_groups

    for label in ("auth", "access", "incidents", "axes"):
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
    ensure_role_groups(apps)
    User = apps.get_model("auth", "User")
    Group = apps.get_model("auth", "Group")
    roles = {role: Group.objects.get(name=role.value) for role in Role}
    for user in User.objects.filter(is_superuser=False, groups__isnull=True):
        user.groups.add(roles[Role.ADMIN if user.is_staff else Role.RESPONDER])


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("incidents", "0002_console_indexes"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
