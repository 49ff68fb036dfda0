from django.urls import path

from incidents import views

app_name = "incidents"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("incidents/<int:number>/", views.incident_detail, name="detail"),
]
