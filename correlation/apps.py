from django.apps import AppConfig


class CorrelationConfig(AppConfig):
    name = "correlation"
    verbose_name = "Correlation and ML"

    def ready(self) -> None:
        # What runs after a batch is stored (incidents.pipeline), and what learns from the
        # feedback the console records (incidents.hooks): incidents/ never imports this app.
        from correlation import anomaly, feedback, pipeline, templating
        from incidents import hooks
        from incidents.partitions import SERIES
        from incidents.pipeline import flush_register, history_learner_register, stage_register

        stage_register(pipeline.series_process, kind=SERIES)  # anomalies, then with the alerts and logs:
        stage_register(templating.events_template)  # first: correlation reads the templates
        stage_register(pipeline.component_process)
        flush_register(anomaly.anomaly_cache_flush)
        hooks.subscribe(feedback.feedback_recorded)
        history_learner_register(anomaly.baselines_warm)
