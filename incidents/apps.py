from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self) -> None:
        # The console's live updates: every incident change is pushed to the open pages once
        # its transaction commits.
        from incidents import broadcast, hooks

        hooks.subscribe(broadcast.push_after_commit)
