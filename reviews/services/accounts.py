from __future__ import annotations

import logging
import smtplib
from typing import Any

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.http import base36_to_int, urlsafe_base64_encode

from config.site import site_url
from reviews.enums import Action, ExpertiseKind, NotificationKind, Role
from reviews.models import User
from reviews.services.activity import activity_record, changed_values, field_values
from reviews.services.notifications import admins, notify

logger = logging.getLogger(__name__)

_USER_FIELDS = ["username", "email", "full_name", "affiliation", "role", "expertise", "is_active"]
_VERIFICATION_SALT = "reviews.email-verification"


class VerificationInvalid(Exception):
    """A confirmation link that is forged, expired, or for an address the account no longer has."""


@transaction.atomic
def user_register(
    *, username: str, email: str, full_name: str, affiliation: str, password: str, needs_approval: bool = False
) -> User:
    """A researcher signs up on their own: unconfirmed, and unapproved if the board approves
    new researchers (the admins are told). The confirmation email goes out after commit."""
    user = User(
        username=username,
        email=email,
        full_name=full_name,
        affiliation=affiliation,
        role=Role.RESEARCHER,
        email_verified_at=None,
        approved_at=None if needs_approval else timezone.now(),
    )
    user.set_password(password)
    user.save()
    activity_record(actor=user, action=Action.CREATE, obj=user, new=field_values(user, [*_USER_FIELDS, "approved_at"]))
    if needs_approval:
        notify(
            key=f"account-pending:{user.pk}",
            recipients=admins(),
            kind=NotificationKind.ACCOUNT_PENDING,
            subject=f"New researcher awaiting approval: {user.display_name}",
            body=f"{user.display_name} ({user.email}, {user.affiliation or 'no affiliation given'}) registered "
            "and cannot create projects until an administrator approves the account.",
            url=reverse("user-list") + "?pending=1",
        )
    transaction.on_commit(lambda: email_verification_send(user=user))
    return user


def email_verification_token(*, user: User) -> str:
    """A signed link token naming the account and the address it confirms."""
    return signing.dumps({"user": user.pk, "email": user.email.lower()}, salt=_VERIFICATION_SALT, compress=True)


def email_verification_send(*, user: User) -> bool:
    """Email the confirmation link; a mail server that refuses is logged, and the user can ask again."""
    link = site_url() + reverse("email-verify", kwargs={"token": email_verification_token(user=user)})
    hours = settings.EMAIL_VERIFICATION_MAX_AGE // 3600
    return _mail_account(
        user,
        what="confirmation",
        subject="[MISyn Review] Confirm your email address",
        message=(
            f"Hello {user.display_name},\n\nplease confirm that {user.email} is your address by opening this "
            f"link within {hours} hours:\n\n{link}\n\nIf you did not register at MISyn Review, ignore this email."
        ),
    )


def _mail_account(user: User, *, what: str, subject: str, message: str) -> bool:
    """Send one account email; a mail server that refuses is logged and answered False."""
    try:
        send_mail(subject=subject, message=message, from_email=None, recipient_list=[user.email])
    except (smtplib.SMTPException, OSError):
        logger.exception("%s email to user %s not sent", what, user.pk)
        return False
    return True


@transaction.atomic
def user_email_verify(*, token: str) -> User:
    """Confirm the address the token names, once (compare-and-set); a second use is harmless."""
    try:
        data = signing.loads(token, salt=_VERIFICATION_SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE)
    except signing.SignatureExpired:
        raise VerificationInvalid("This confirmation link has expired. Log in to have a new one sent.") from None
    except signing.BadSignature:
        raise VerificationInvalid("This confirmation link is not valid.") from None
    user = User.objects.filter(pk=data.get("user"), is_active=True).first()
    if user is None or user.email.lower() != data.get("email"):
        raise VerificationInvalid("This confirmation link is for an address this account no longer has.")
    now = timezone.now()
    if User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(email_verified_at=now):
        user.email_verified_at = now
        activity_record(
            actor=user, action=Action.CHANGE, obj=user, old={"email_verified_at": None}, new={"email_verified_at": now}
        )
    return user


@transaction.atomic
def user_approve(*, actor: User, user: User) -> bool:
    """An admin approves a researcher who registered while the board approves new accounts."""
    now = timezone.now()
    if not User.objects.filter(pk=user.pk, approved_at__isnull=True).update(approved_at=now):
        return False
    user.approved_at = now
    activity_record(actor=actor, action=Action.CHANGE, obj=user, old={"approved_at": None}, new={"approved_at": now})
    notify(
        key=f"account-approved:{user.pk}",
        recipients=[user],
        kind=NotificationKind.ACCOUNT_APPROVED,
        subject="Your researcher account was approved",
        body=f"{actor.display_name} approved your account: you can now create projects.",
        url=reverse("project-list"),
    )
    return True


class InvitationTokenGenerator(PasswordResetTokenGenerator):
    """The token of an invitation link: like a password reset's, valid until the account has a
    password (the password hash is part of it) and for INVITATION_DAYS rather than an hour."""

    key_salt = "reviews.services.accounts.InvitationTokenGenerator"

    def check_token(self, user: Any, token: Any) -> bool:
        # Django's own check measures the age against PASSWORD_RESET_TIMEOUT whatever the
        # generator; an invitation's age is measured against INVITATION_DAYS (read per call).
        if not (user and token):
            return False
        try:
            timestamp_b36, _hash = str(token).split("-")
            timestamp = base36_to_int(timestamp_b36)
        except ValueError:
            return False
        if not any(
            constant_time_compare(self._make_token_with_timestamp(user, timestamp, secret), token)
            for secret in [self.secret, *self.secret_fallbacks]
        ):
            return False
        return self._num_seconds(self._now()) - timestamp <= settings.INVITATION_DAYS * 24 * 3600


invitation_token_generator = InvitationTokenGenerator()


def invitation_link(*, user: User) -> str:
    """The link that lets an invited person choose their password (the reset page's address)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = invitation_token_generator.make_token(user)
    return site_url() + reverse("password-reset-confirm", kwargs={"uidb64": uid, "token": token})


def invitation_send(*, user: User, actor: User | None = None) -> bool:
    """Email the invitation to an account without a password; a refusing mail server is
    logged, and the admin can send it again from the account's page."""
    days = settings.INVITATION_DAYS
    by = f"{actor.display_name} created" if actor else "An administrator created"
    role = user.get_role_display().lower()
    return _mail_account(
        user,
        what="invitation",
        subject="[MISyn Review] Your account: choose your password",
        message=(
            f"Hello {user.display_name},\n\n{by} a {role} account for you at MISyn Review, the ethics "
            f"review of medical image synthesis projects. Your user name is {user.get_username()}.\n\n"
            f"To choose your password and log in, open this link within {days} day{'s' if days != 1 else ''}; "
            f"it works once:\n\n{invitation_link(user=user)}\n\n"
            f"If it has expired, ask for a new one at {site_url()}{reverse('password-reset')} with this "
            "email address, or ask the administrator.\n"
        ),
    )


@transaction.atomic
def user_create(
    *,
    actor: User,
    username: str,
    email: str,
    full_name: str,
    affiliation: str,
    role: Role,
    expertise: ExpertiseKind | str,
) -> User:
    """An admin creates an account, typically a reviewer with an expertise kind. It has no
    password until its owner chooses one through the invitation emailed after commit."""
    user = User(
        username=username,
        email=email,
        full_name=full_name,
        affiliation=affiliation,
        role=role,
        expertise=expertise if role == Role.REVIEWER else "",
        is_staff=role == Role.ADMIN,
        is_superuser=role == Role.ADMIN,
    )
    user.set_unusable_password()
    user.save()
    activity_record(actor=actor, action=Action.CREATE, obj=user, new=field_values(user, _USER_FIELDS))
    transaction.on_commit(lambda: invitation_send(user=user, actor=actor))
    return user


@transaction.atomic
def user_update(
    *,
    actor: User,
    user: User,
    full_name: str,
    email: str,
    affiliation: str,
    role: Role,
    expertise: ExpertiseKind | str,
    is_active: bool,
) -> User:
    user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    before = field_values(user, _USER_FIELDS)
    user.full_name, user.email, user.affiliation = full_name, email, affiliation
    user.role = role
    user.expertise = expertise if role == Role.REVIEWER else ""
    user.is_active = is_active
    # Admins manage the catalogue in the Django admin; project permissions stay with the rules.
    user.is_staff = user.is_superuser = role == Role.ADMIN
    user.save()
    old, new = changed_values(before, field_values(user, _USER_FIELDS))
    if new:
        activity_record(actor=actor, action=Action.CHANGE, obj=user, old=old, new=new)
    return user


@transaction.atomic
def user_password_changed(*, user: User) -> None:
    """Record a password change (the hash itself is never logged)."""
    activity_record(actor=user, action=Action.CHANGE, obj=user, new={"password": "changed"})
