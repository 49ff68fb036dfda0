"""The Models page: the model registry in the console (list, train, activate, roll back)."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_q.tasks import async_task

from correlation import charts, selectors, training
from correlation.models import ModelVersion


def _staff_only(request) -> None:
    # Changing the live detector is an administrator's call (roles arrive with the security work).
    if not request.user.is_staff:
        raise PermissionDenied("only administrators can change the live model")


@require_GET
@login_required
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
@login_required
def model_train(request):
    _staff_only(request)
    async_task("correlation.tasks.train_model", training.ANOMALY_KIND, None, training.TRAIN_DAYS, False)
    messages.success(request, "Training queued: the new version appears here when the worker has run it.")
    return redirect("correlation:models")


@require_POST
@login_required
def model_activate(request, pk: int):
    _staff_only(request)
    version = training.model_activate(model_version=get_object_or_404(ModelVersion, pk=pk))
    messages.success(request, f"{version.kind} v{version.version} is now live.")
    return redirect("correlation:models")


@require_POST
@login_required
def model_rollback(request, kind: str):
    _staff_only(request)
    try:
        version = training.model_rollback(kind=kind)
    except training.ModelRegistryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Rolled back: {version.kind} v{version.version} is live again.")
    return redirect("correlation:models")


@require_GET
@login_required
def forecast_panel(request):
    """The dashboard's risk panel (loaded into it with htmx): the services most at risk in the next hours."""
    from correlation.insights import risk_forecast

    forecast = risk_forecast()
    return render(request, "correlation/forecast_panel.html", {"forecast": forecast, "top": forecast["services"][:6]})
