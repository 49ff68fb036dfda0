from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access: roles and audit log"

    def ready(self) -> None:
        from access import roles

        # Groups come back after every migrate and after a test's flush.
        post_migrate.connect(roles.ensure_role_groups_after_migrate, sender=self)
