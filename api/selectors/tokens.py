"""Reads of personal API tokens, for the account's page and the board's list.

Each list reads its tokens with their account and revoker in one query (select_related), so a
page costs the same number of queries for one token or a hundred.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from api.enums import TokenStatus
from api.models import ApiToken
from reviews.models import User


def tokens_with_people() -> QuerySet[ApiToken]:
    return ApiToken.objects.select_related("user", "revoked_by")


def tokens_of(user: User) -> QuerySet[ApiToken]:
    """The account's own tokens, newest first (revoked and expired ones stay, as a record)."""
    return tokens_with_people().filter(user=user).order_by("-created_at", "-pk")


def token_status_q(status: TokenStatus | str) -> Q:
    """Revoked wins over expired: a token revoked before it expired is listed as revoked."""
    now = timezone.now()
    return {
        TokenStatus.ACTIVE: Q(revoked_at__isnull=True, expires_at__gt=now),
        TokenStatus.EXPIRED: Q(revoked_at__isnull=True, expires_at__lte=now),
        TokenStatus.REVOKED: Q(revoked_at__isnull=False),
    }[TokenStatus(status)]
