from django.urls import path

from access import views

app_name = "access"

urlpatterns = [
    path("audit/", views.audit_list, name="audit"),
]
