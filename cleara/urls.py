from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from cleara.api import api
from cleara import health, monitoring

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", api.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", monitoring.metrics_view, name="metrics"),
    path("", include("incidents.urls")),
    path("", include("integrations.urls")),
    path("", include("correlation.urls")),
    path("", include("access.urls")),
]

handler400 = "cleara.errors.bad_request"
handler403 = "cleara.errors.permission_denied"
handler404 = "cleara.errors.page_not_found"
handler500 = "cleara.errors.server_error"
