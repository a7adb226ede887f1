"""Read-only in the admin: hooks change through their pages, whose services log the activity."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from webhooks.models import DeliveryAttempt, Webhook, WebhookDelivery


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Webhook)
class WebhookAdmin(_ReadOnly):
    list_display = ["pk", "project", "url", "is_active", "created_by", "created_at"]
    list_filter = ["is_active"]
    exclude = ["secret"]  # shown only on the hook's own page, to those who manage it


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnly):
    list_display = ["id", "hook", "event", "status", "attempts", "next_attempt_at", "created_at"]
    list_filter = ["status", "event", "is_test"]
    inlines = [DeliveryAttemptInline]
