"""The console's URLs: the dashboard, and one stable URL per step of an incident."""
from django.urls import path

from incidents import views

app_name = "incidents"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("patterns/", views.pattern_list, name="patterns"),
    path("services/options/", views.service_options, name="service_options"),
    path("incidents/<int:number>/", views.incident_detail, name="detail"),
    path("incidents/<int:number>/preview/", views.incident_preview, name="preview"),
    path("incidents/<int:number>/related/", views.incident_related, name="related"),
    path("incidents/<int:number>/timeline/", views.incident_timeline, name="timeline"),
    path("incidents/<int:number>/events/<int:event_id>/", views.incident_event, name="event"),
    path("incidents/<int:number>/rca/", views.incident_rca, name="rca"),
    path("incidents/<int:number>/map/", views.incident_map, name="map"),
    path("incidents/<int:number>/recommendations/", views.incident_recommendations, name="recommendations"),
    path("incidents/<int:number>/investigate/", views.incident_investigate, name="investigate"),
    path("incidents/<int:number>/export.json", views.incident_export_json, name="export_json"),
    path("incidents/<int:number>/export.csv", views.incident_export_csv, name="export_csv"),
    path("incidents/<int:number>/collaborate/", views.incident_collaborate, name="collaborate"),
    path("incidents/<int:number>/notes/", views.incident_note_add, name="note_add"),
    path("incidents/<int:number>/assign/", views.incident_assign, name="assign"),
    path("incidents/<int:number>/status/", views.incident_status, name="status"),
    path("incidents/<int:number>/live/", views.incident_live, name="live"),
    path("incidents/<int:number>/resolve/", views.incident_resolve, name="resolve"),
    path("incidents/<int:number>/feedback/", views.incident_feedback, name="feedback"),
]
