from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        # How each outbox kind is delivered, and the listener that writes the outbox rows of every
        # incident change (incidents never imports this app).
        from incidents import hooks
        from integrations import notifiers
        from integrations.pagerduty import services as pagerduty
        from integrations.slack import delivery as slack

        slack.kinds_register()
        pagerduty.kinds_register()
        hooks.subscribe(notifiers.incident_changed)
