"""The public register's board setting and the objection channel.

An objection (or question) is about one registered project. Anyone may send one; the sender
keeps a tracking link whose token is stored only as its SHA-256. Admins triage it; the
researcher may be asked to respond; responses are published on the register by the board.
Every step goes through public.services and into the hash-chained activity log.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Listing(models.TextChoices):
    OPT_IN = "opt_in", "The researcher chooses to list the project (unticked by default)"
    DEFAULT = "default", "Listed unless the researcher opts out (ticked by default)"
    MANDATORY = "mandatory", "Every approved project is listed"


class RegisterSettings(models.Model):
    """The board's settings for the public register: one row (pk 1), edited by admins."""

    listing = models.CharField(max_length=20, choices=Listing.choices, default=Listing.OPT_IN)
    show_signer_names = models.BooleanField(
        "show signers' names",
        default=False,
        help_text="Show the printed names of the signatures, not only their meanings.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        verbose_name = verbose_name_plural = "register settings"
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="register_settings_single_row")]

    def __str__(self) -> str:
        return "Public register settings"

    @classmethod
    def load(cls) -> RegisterSettings:
        found, _ = cls.objects.get_or_create(pk=1)
        return found


class ObjectionKind(models.TextChoices):
    QUESTION = "question", "Question"
    OBJECTION = "objection", "Objection"


class ObjectionStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    AWAITING_RESEARCHER = "awaiting_researcher", "Waiting for the researcher's response"
    UPHELD = "upheld", "Upheld"
    DISMISSED = "dismissed", "Dismissed"


CLOSED_OBJECTION_STATUSES = frozenset({ObjectionStatus.UPHELD, ObjectionStatus.DISMISSED})


class Remedy(models.TextChoices):
    AMENDMENT = "amendment", "The project must be amended"
    SUSPENSION = "suspension", "The approval is suspended"


class Objection(models.Model):
    project = models.ForeignKey("reviews.Project", on_delete=models.PROTECT, related_name="objections")
    kind = models.CharField(max_length=20, choices=ObjectionKind.choices)
    status = models.CharField(max_length=30, choices=ObjectionStatus.choices, default=ObjectionStatus.RECEIVED)
    text = models.TextField()
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    token_sha256 = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the sender's tracking token.")
    publish_text = models.BooleanField(
        default=False, help_text="The board chose to show the text (never the name or email) on the register."
    )
    created_at = models.DateTimeField(default=timezone.now)
    remedy = models.CharField(max_length=20, choices=Remedy.choices, blank=True)
    decision_reason = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["project", "-created_at"]), models.Index(fields=["status", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status__in=["upheld", "dismissed"]) | ~models.Q(decision_reason=""),
                name="decided_objection_has_reason",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="upheld") | ~models.Q(remedy=""), name="upheld_objection_has_remedy"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} on {self.project}"

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_OBJECTION_STATUSES


class ObjectionResponse(models.Model):
    """A response to an objection, by the researcher (when asked) or the board; shown on the
    register once published."""

    class By(models.TextChoices):
        RESEARCHER = "researcher", "The researcher"
        BOARD = "board", "The board"

    objection = models.ForeignKey(Objection, on_delete=models.PROTECT, related_name="responses")
    by = models.CharField(max_length=20, choices=By.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Response to {self.objection}"
