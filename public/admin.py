"""Django admin of the public app.

The register's setting is edited on its own page (register-settings, /register/settings/),
through public.services.register; here it can be read and, like every admin change, any edit
is logged in the activity chain (reviews.admin_trail.LoggedAdmin).

Objections have no admin on purpose: every step of their triage goes through
public.services.objections (compare-and-set, logged) on the board's triage pages
(objection-list, objection-detail), never through an edit form.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from public.models import RegisterSettings
from reviews.admin_trail import LoggedAdmin


@admin.register(RegisterSettings)
class RegisterSettingsAdmin(LoggedAdmin):
    list_display = ("__str__", "listing", "show_signer_names", "updated_at", "updated_by")
    fields = ("listing", "show_signer_names", "updated_at", "updated_by")
    readonly_fields = ("updated_at", "updated_by")
    logged_fields = ("listing", "show_signer_names")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One row (pk 1): the register's settings page creates it on first save.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)
