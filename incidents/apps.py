from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self) -> None:
        # The console's live updates: every incident change is pushed to the open pages once
        # its transaction commits.
        from incidents import broadcast, hooks

        hooks.subscribe(broadcast.push_after_commit)

        # A token revoked, edited or deleted is dropped from every process's cache (cleara.tokencache).
        from django.db.models.signals import post_delete, post_save

        from incidents.models import ApiToken

        post_save.connect(_token_changed, sender=ApiToken, dispatch_uid="cleara-token-cache-save")
        post_delete.connect(_token_changed, sender=ApiToken, dispatch_uid="cleara-token-cache-delete")


def _token_changed(sender, instance, **kwargs) -> None:
    from cleara import tokencache

    tokencache.drop(instance.key_hash)
