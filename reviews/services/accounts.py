from __future__ import annotations

from django.db import transaction

from reviews.enums import Action, ExpertiseKind, Role
from reviews.models import User
from reviews.services.activity import activity_record, changed_values, field_values

_USER_FIELDS = ["username", "email", "full_name", "affiliation", "role", "expertise", "is_active"]


@transaction.atomic
def user_register(*, username: str, email: str, full_name: str, affiliation: str, password: str) -> User:
    """A researcher signs up on their own."""
    user = User(username=username, email=email, full_name=full_name, affiliation=affiliation, role=Role.RESEARCHER)
    user.set_password(password)
    user.save()
    activity_record(actor=user, action=Action.CREATE, obj=user, new=field_values(user, _USER_FIELDS))
    return user


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
    password: str,
) -> User:
    """An admin creates an account, typically a reviewer with an expertise kind."""
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
    user.set_password(password)
    user.save()
    activity_record(actor=actor, action=Action.CREATE, obj=user, new=field_values(user, _USER_FIELDS))
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
