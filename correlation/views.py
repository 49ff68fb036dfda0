"""The Models page: the model registry in the console (list, train, activate, roll back)."""
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from access.roles import Action, requires
from correlation.runs import training_request
from correlation import charts, selectors, training
from correlation.models import ModelVersion


@require_GET
@requires(Action.VIEW)
def model_list(request):
    versions = list(selectors.model_list())
    return render(
        request,
        "correlation/model_list.html",
        {
            "versions": versions,
            "baselines": selectors.series_baseline_summary(),
            "chart": charts.figure_html(charts.model_metrics_figure(versions), div_id="model-metrics") if versions else "",
        },
    )


@require_POST
@requires(Action.MANAGE_MODELS)
def model_train(request):
    training_request(kind=training.ANOMALY_KIND, days=training.TRAIN_DAYS, activate=False, reason="console")
    messages.success(request, "Training queued: the new version appears here when the worker has run it.")
    return redirect("correlation:models")


@require_POST
@requires(Action.MANAGE_MODELS)
def model_activate(request, pk: int):
    version = training.model_activate(model_version=get_object_or_404(ModelVersion, pk=pk))
    messages.success(request, f"{version.kind} v{version.version} is now live.")
    return redirect("correlation:models")


@require_POST
@requires(Action.MANAGE_MODELS)
def model_rollback(request, kind: str):
    try:
        version = training.model_rollback(kind=kind)
    except training.ModelRegistryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Rolled back: {version.kind} v{version.version} is live again.")
    return redirect("correlation:models")


@require_GET
@requires(Action.VIEW)
def forecast_panel(request):
    """The dashboard's risk panel (loaded into it with htmx): the services most at risk in the next hours."""
    from correlation.insights import risk_forecast

    forecast = risk_forecast()
    return render(request, "correlation/forecast_panel.html", {"forecast": forecast, "top": forecast["services"][:6]})
