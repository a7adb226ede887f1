from __future__ import annotations

from typing import Any

import rules
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from reviews.enums import ExpertiseKind, Role


class User(AbstractUser):
    """Everyone who signs in. `full_name` is the printed name on signatures."""

    full_name = models.CharField("full name", max_length=200)
    affiliation = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.RESEARCHER)
    expertise = models.CharField(
        max_length=20,
        choices=ExpertiseKind.choices,
        blank=True,
        help_text="Reviewers only: approval needs a technical and a non-technical signature.",
    )
    # Accounts made by an admin, the demo or a migration are vouched for at creation; only
    # self-registration starts with these empty (reviews.services.accounts.user_register).
    email_verified_at = models.DateTimeField(
        "email confirmed", null=True, blank=True, default=timezone.now,
        help_text="When the owner followed the link sent to their address; empty until then.",
    )  # fmt: skip
    approved_at = models.DateTimeField(
        "approved", null=True, blank=True, default=timezone.now,
        help_text="With REGISTRATION_MODE=approval, empty until an admin approves the new researcher.",
    )  # fmt: skip

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(role=Role.REVIEWER) | ~models.Q(expertise=""),
                name="reviewer_has_expertise",
                violation_error_message="A reviewer needs an expertise kind.",
            ),
            models.CheckConstraint(
                condition=models.Q(role=Role.REVIEWER) | models.Q(expertise=""),
                name="only_reviewers_have_expertise",
                violation_error_message="Only reviewers have an expertise kind.",
            ),
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="unique_user_email",
                violation_error_message="An account with this email address already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        """Permissions defined as rules are decided by the rules alone.

        Django lets a superuser pass every check; that must not let an admin edit or
        submit a researcher's project. Other permissions (the Django admin's model
        permissions) still go through the backends.
        """
        if rules.perm_exists(perm):
            return bool(self.is_active and rules.has_perm(perm, self, obj))
        return super().has_perm(perm, obj)

    @property
    def display_name(self) -> str:
        return self.full_name or self.username
