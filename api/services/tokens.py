"""Creating, using and revoking personal API tokens. Every change is in the activity log, and
the account's owner is notified (in the app and by email) of every token created on it, so a
token made by someone who took over a session does not go unnoticed."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from api.enums import TokenScope
from api.models import ApiToken
from reviews.enums import Action, NotificationKind
from reviews.models import User
from reviews.services.activity import activity_record
from reviews.services.notifications import notify

TOKEN_START = "msr_"  # noqa: S105 (the fixed start of every token, not a secret)
PREFIX_LENGTH = 8
NAME_MAX = 100


class TokenRefused(Exception):
    """The token cannot be created or revoked as asked; the message says why."""


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_raw() -> str:
    # 40 URL-safe characters of 6 bits: 240 random bits.
    return TOKEN_START + secrets.token_urlsafe(30)


def latest_expiry(now: datetime | None = None) -> datetime:
    """The furthest a new token may expire: settings.API_TOKEN_MAX_DAYS from now."""
    return (now or timezone.now()) + timedelta(days=settings.API_TOKEN_MAX_DAYS)


@transaction.atomic
def token_create(*, user: User, name: str, scope: TokenScope | str, expires_at: datetime) -> tuple[ApiToken, str]:
    """A new token and its raw value, which is never stored and so can be shown only now."""
    now = timezone.now()
    name = " ".join(name.split())
    if not name:
        raise TokenRefused("Give the token a name that says what it is for.")
    if len(name) > NAME_MAX:
        raise TokenRefused(f"The name can have at most {NAME_MAX} characters.")
    if expires_at <= now:
        raise TokenRefused("The expiry must be in the future.")
    if expires_at > latest_expiry(now):
        raise TokenRefused(f"A token may last at most {settings.API_TOKEN_MAX_DAYS} days.")
    raw = _new_raw()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=raw[len(TOKEN_START) : len(TOKEN_START) + PREFIX_LENGTH],
        key_sha256=token_digest(raw),
        scope=TokenScope(scope),
        created_at=now,
        expires_at=expires_at,
    )
    activity_record(
        actor=user,
        action=Action.CREATE,
        obj=token,
        new={"name": token.name, "scope": token.scope, "expires_at": token.expires_at.isoformat()},
    )
    _notify_created(token)
    return token, raw


def _notify_created(token: ApiToken) -> None:
    notify(
        key=f"api-token-created:{token.pk}",
        recipients=[token.user],
        kind=NotificationKind.API_TOKEN_CREATED,
        subject=f"A personal API token was created on your account: {token.name}",
        body=(
            f"The token “{token.name}” (msr_{token.prefix}…, scope “{token.get_scope_display()}”) was created on "
            f"{token.created_at:%Y-%m-%d %H:%M} UTC and expires on {token.expires_at:%Y-%m-%d %H:%M} UTC. "
            "If you did not create it, revoke it on your API tokens page and change your password."
        ),
        url=reverse("api-tokens"),
    )


def token_revoke(*, actor: User, token: ApiToken) -> bool:
    """Revoke the token (compare-and-set: a second revocation changes nothing and says so)."""
    with transaction.atomic():
        now = timezone.now()
        changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now, revoked_by=actor)
        if not changed:
            return False
        token.revoked_at, token.revoked_by = now, actor
        activity_record(actor=actor, action=Action.CHANGE, obj=token, old={"revoked": False}, new={"revoked": True})
    return True


USE_RECORDED_EVERY = timedelta(minutes=1)


def token_used(*, token: ApiToken, address: str | None) -> None:
    """Record when and from where the token was last used, at most once a minute per address.

    A write (and its commit) on every request cost the API list more than the rest of its
    work (issue 13). A use less than a minute after the recorded one, from the same address,
    writes nothing, so the time the token pages show (to the minute) is at most a minute behind;
    a new address is recorded at once.
    """
    now = timezone.now()
    address = address or None
    seen = token.last_used_at
    if seen is not None and address == token.last_used_ip and timedelta(0) <= now - seen < USE_RECORDED_EVERY:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=address)
    token.last_used_at, token.last_used_ip = now, address
