"""The webhook pages: registering hooks, their delivery log and the test event."""

from django.urls import path

from webhooks import views

urlpatterns = [
    path("webhooks/", views.webhook_list, name="webhook-list"),
    path("webhooks/new/", views.webhook_new, name="webhook-new"),
    path("webhooks/<int:pk>/", views.webhook_detail, name="webhook-detail"),
    path("webhooks/<int:pk>/edit/", views.webhook_edit, name="webhook-edit"),
    path("webhooks/<int:pk>/delete/", views.webhook_delete_view, name="webhook-delete"),
    path("webhooks/<int:pk>/rotate-secret/", views.webhook_rotate, name="webhook-rotate"),
    path("webhooks/<int:pk>/test/", views.webhook_test, name="webhook-test"),
    path(
        "webhooks/<int:pk>/deliveries/<uuid:delivery_id>/redeliver/", views.webhook_redeliver, name="webhook-redeliver"
    ),
]
