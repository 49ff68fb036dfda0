from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from incidents import hooks
        from integrations import notifiers

        hooks.subscribe(notifiers.incident_changed)
