from django.urls import path

from correlation import views

app_name = "correlation"

urlpatterns = [
    path("models/", views.model_list, name="models"),
    path("forecast/", views.forecast_panel, name="forecast"),
    path("models/train/", views.model_train, name="model-train"),
    path("models/<int:pk>/activate/", views.model_activate, name="model-activate"),
    path("models/<str:kind>/rollback/", views.model_rollback, name="model-rollback"),
]
