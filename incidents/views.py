"""Console views (the nine-step console is built on these)."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from incidents import selectors
from incidents.models import Incident


@require_GET
@login_required
def dashboard(request):
    incidents = selectors.incident_list(filters=selectors.IncidentFilters())[:50]
    return render(request, "incidents/incident_list.html", {"incidents": incidents})


@require_GET
@login_required
def incident_detail(request, number: int):
    incident = get_object_or_404(Incident, number=number)
    return render(request, "incidents/incident_detail.html", {"incident": incident})
