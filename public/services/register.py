"""Writes of the public register: the board's setting (listing mode, signers' names)."""

from __future__ import annotations

from django.db import transaction

from public.models import Listing, RegisterSettings
from reviews.enums import Action
from reviews.models import User
from reviews.services.activity import activity_record, changed_values, field_values

SETTINGS_FIELDS = ["listing", "show_signer_names"]


@transaction.atomic
def register_settings_update(*, actor: User, listing: str, show_signer_names: bool) -> RegisterSettings:
    """Save the board's register setting under a row lock; the change goes into the activity log."""
    if listing not in Listing.values:
        raise ValueError(f"Unknown listing mode {listing!r}.")
    RegisterSettings.objects.get_or_create(pk=1)
    current = RegisterSettings.objects.select_for_update().get(pk=1)
    before = field_values(current, SETTINGS_FIELDS)
    current.listing, current.show_signer_names, current.updated_by = listing, show_signer_names, actor
    current.save()
    old, new = changed_values(before, field_values(current, SETTINGS_FIELDS))
    if new:
        activity_record(actor=actor, action=Action.CHANGE, obj=current, old=old, new=new)
    return current
