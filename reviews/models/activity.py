from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from reviews.enums import Action
from reviews.models.chain import Chained


class ActivityEntry(Chained):
    """One append-only row per create, change, upload, delete or submit.

    Written by reviews.services.activity in the same transaction as the change it
    records. The application never updates or deletes a row, and on PostgreSQL its
    database role cannot (migration 0003); the hash chain shows any change made around it.
    """

    CHAIN = "activity"
    HASHED_FIELDS = (
        "at",
        "actor_id",
        "actor_name",
        "action",
        "project_id",
        "object_type",
        "object_id",
        "object_repr",
        "old",
        "new",
    )

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    actor_name = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    project = models.ForeignKey(
        "reviews.Project", on_delete=models.PROTECT, related_name="activity", null=True, blank=True
    )
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name_plural = "activity entries"
        indexes = [models.Index(fields=["project", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_repr}"
