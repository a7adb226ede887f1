"""Django admin of the api app: personal tokens, to look at and revoke.

Tokens are created only by their owner on the tokens page (the raw value is shown there once);
here nothing is added, edited or deleted, and revoking goes through api.services.tokens, so it
is compare-and-set and logged like a revocation on the board's page (api-token-admin).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from api.models import ApiToken
from api.services.tokens import token_revoke
from reviews.admin import ReadOnlyAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("name", "prefix", "user", "scope", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("scope",)
    search_fields = ("name", "prefix", "user__username", "user__full_name", "user__email")
    list_select_related = ("user", "revoked_by")
    exclude = ("key_sha256",)
    actions = ("revoke_selected",)

    @admin.action(description="Revoke the selected tokens")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = sum(token_revoke(actor=request.user, token=token) for token in queryset)  # type: ignore[arg-type]  # the admin's user is an account
        self.message_user(request, f"{revoked} token{'s' if revoked != 1 else ''} revoked.", messages.SUCCESS)
