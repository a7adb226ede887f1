"""The API's own checks: which token scope a method needs. Whether the user may see or change
an object is asked of the same django-rules predicates as the pages (api.access)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from api.models import ApiToken


class TokenScopeAllows(BasePermission):
    """A read-only token reads; writing needs a token of scope “read and write”."""

    message = "This token may only read; create a token with the scope “read and write” to change anything."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        token = request.auth
        return isinstance(token, ApiToken) and token.can_write


class SignedIn(BasePermission):
    """A request with a usable token (anonymous requests get 401 with the Bearer challenge)."""

    message = "Send a personal API token: “Authorization: Bearer msr_…” (create one on your account page)."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated)
