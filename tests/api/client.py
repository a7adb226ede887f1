"""A token and an API client for a user, as a pipeline would hold them."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from api.enums import TokenScope
from api.models import ApiToken
from api.services.tokens import token_create
from reviews.models import User


def make_token(user: User, *, scope: TokenScope | str = TokenScope.WRITE, days: int = 30) -> tuple[ApiToken, str]:
    return token_create(user=user, name=f"{scope} token", scope=scope, expires_at=timezone.now() + timedelta(days=days))


def client_with(raw: str | None) -> APIClient:
    client = APIClient()
    if raw is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def api_client(user: User | None, *, scope: TokenScope | str = TokenScope.WRITE) -> APIClient:
    """An APIClient sending a fresh token of `scope` for `user` (none for an anonymous client)."""
    return client_with(None if user is None else make_token(user, scope=scope)[1])
