from django.urls import path

from integrations import views
from integrations.slack import views as slack_views

app_name = "integrations"

urlpatterns = [
    path("integrations/", views.integration_list, name="list"),
    path("integrations/test", views.integration_test, name="test"),
    path("slack/events", slack_views.slack_events, name="slack-events"),
    path("slack/install", slack_views.slack_oauth, name="slack-install"),
    path("slack/oauth_redirect", slack_views.slack_oauth, name="slack-oauth-redirect"),
]
