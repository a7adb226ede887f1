"""Assignments, item reviews, waivers, signatures and round outcomes.

Everything here belongs to a round, never to the live draft, except the assignment (a
reviewer stays on a project across its rounds). Signatures and outcomes are append-only;
item reviews and round reviews change only until the reviewer submits them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from reviews.enums import (
    ACTIVE_ASSIGNMENT_STATUSES,
    AssignmentStatus,
    AuditKind,
    EvaluationPhase,
    ExpertiseKind,
    FinalDecision,
    Meaning,
    Outcome,
    OverclaimFinding,
    Verdict,
)
from reviews.models.catalogue import GuidelineItem, GuidelineVersion
from reviews.models.chain import Chained
from reviews.models.projects import Project, Round


class ReviewPolicy(models.Model):
    """The sign-off policy of one guideline version. A version without a row uses the defaults."""

    version = models.OneToOneField(GuidelineVersion, on_delete=models.CASCADE, related_name="policy")
    approvals_required = models.PositiveSmallIntegerField(
        default=2, help_text="Approving signatures a round needs from assigned, conflict-free reviewers."
    )
    require_technical_and_non_technical = models.BooleanField(
        default=True, help_text="Among the approvals, at least one technical and one non-technical reviewer (OV-1)."
    )
    final_decision = models.CharField(max_length=20, choices=FinalDecision.choices, default=FinalDecision.POLICY)
    review_days = models.PositiveSmallIntegerField(default=21, help_text="Days from assignment to the due date.")
    reminder_days = models.PositiveSmallIntegerField(default=3, help_text="Days before the due date to remind.")

    class Meta:
        verbose_name_plural = "review policies"
        constraints = [
            models.CheckConstraint(condition=models.Q(approvals_required__gte=1), name="policy_needs_an_approval"),
            models.CheckConstraint(condition=models.Q(review_days__gte=1), name="policy_review_days_positive"),
        ]

    def __str__(self) -> str:
        return f"Sign-off policy of {self.version}"


class Assignment(models.Model):
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="assignments")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(default=timezone.now)
    due_date = models.DateField()
    status = models.CharField(max_length=20, choices=AssignmentStatus.choices, default=AssignmentStatus.INVITED)
    responded_at = models.DateTimeField(null=True, blank=True)
    has_conflict = models.BooleanField(default=False)
    conflict_statement = models.TextField(blank=True)
    conflict_declared_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(blank=True)
    removed_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["assigned_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "reviewer"],
                condition=models.Q(status__in=sorted(ACTIVE_ASSIGNMENT_STATUSES)),
                name="one_active_assignment_per_reviewer",
            ),
            models.CheckConstraint(
                condition=models.Q(has_conflict=False) | ~models.Q(conflict_statement=""),
                name="conflict_has_statement",
            ),
        ]
        indexes = [
            models.Index(fields=["reviewer", "status"]),
            # The admin's every-review list pages its ids in this order (bench/scale.py).
            models.Index(fields=["due_date", "id"], name="assignment_due"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} on {self.project}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_ASSIGNMENT_STATUSES

    @property
    def can_sign(self) -> bool:
        return self.status == AssignmentStatus.ACCEPTED and not self.has_conflict

    @property
    def is_overdue(self) -> bool:
        return self.is_active and self.due_date < timezone.localdate()


class RoundReview(models.Model):
    """One reviewer's review of one round: the overclaim check and, once submitted, the
    frozen verdicts that the other reviewers may then read."""

    round = models.ForeignKey(Round, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="round_reviews")
    declared_phase = models.PositiveSmallIntegerField(choices=EvaluationPhase.choices, null=True, blank=True)
    overclaim = models.CharField(max_length=20, choices=OverclaimFinding.choices, blank=True)
    overclaim_note = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["round", "submitted_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["round", "reviewer"], name="one_review_per_reviewer_and_round"),
            models.CheckConstraint(
                condition=~models.Q(overclaim=OverclaimFinding.OVERCLAIM) | ~models.Q(overclaim_note=""),
                name="overclaim_has_note",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} on {self.round}"

    @property
    def is_submitted(self) -> bool:
        return self.submitted_at is not None


class ReviewDraft(models.Model):
    """A reviewer's verdicts, comments and overclaim check on one round as last typed, before
    they submit: saved on every change, private to them (no page shows it to anyone else and
    the frozen round never holds it), and deleted when the review is submitted.

    `data` holds the review form's fields by name (`verdict_EV-1`, `comment_EV-1`,
    `declared_phase`, ...), checked against the round's items by services.review.review_draft_save;
    unlike ItemReview rows it may hold a concern still without its comment.
    """

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="review_drafts")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_drafts")
    data = models.JSONField(default=dict)
    saved_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["round", "reviewer"], name="one_draft_per_reviewer_and_round")]

    def __str__(self) -> str:
        return f"Draft of {self.reviewer} on {self.round}"


class ItemReview(models.Model):
    review = models.ForeignKey(RoundReview, on_delete=models.CASCADE, related_name="items")
    item = models.ForeignKey(GuidelineItem, on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["review", "item__stage__order", "item__order"]
        constraints = [
            models.UniqueConstraint(fields=["review", "item"], name="one_verdict_per_item"),
            models.CheckConstraint(
                condition=models.Q(verdict="acceptable") | ~models.Q(comment=""),
                name="concern_has_comment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item.code}: {self.get_verdict_display()}"


class AuditWaiver(models.Model):
    """A reviewer's written reason to accept a failed or uncomputable audit in one round."""

    round = models.ForeignKey(Round, on_delete=models.PROTECT, related_name="waivers")
    audit = models.CharField(max_length=20, choices=AuditKind.choices)
    audit_status = models.CharField(max_length=20, help_text="The audit's status in the round when waived.")
    reason = models.TextField()
    waived_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    waived_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["round", "audit"]
        constraints = [
            # One per reviewer: a waiver whose author can no longer sign stops counting, and
            # another reviewer may then waive the audit again (services.review.audit_waive).
            models.UniqueConstraint(fields=["round", "audit", "waived_by"], name="one_waiver_per_audit_round_reviewer"),
            models.CheckConstraint(condition=~models.Q(reason=""), name="waiver_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.get_audit_display()} waived in {self.round}"


class Signature(Chained):
    """An electronic signature (21 CFR Part 11 style): who, when (server UTC), what it means,
    and the digest of exactly the round it signs. Never updated or deleted."""

    CHAIN = "signature"
    HASHED_FIELDS = (
        "round_id",
        "round_digest",
        "signer_id",
        "printed_name",
        "signer_role",
        "signer_expertise",
        "meaning",
        "statement",
        "signed_at",
    )

    round = models.ForeignKey(Round, on_delete=models.PROTECT, related_name="signatures")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signatures")
    printed_name = models.CharField(max_length=200)
    signer_role = models.CharField(max_length=20)
    signer_expertise = models.CharField(max_length=20, choices=ExpertiseKind.choices, blank=True)
    meaning = models.CharField(max_length=30, choices=Meaning.choices)
    statement = models.TextField(blank=True, help_text="Conditions, requested changes or reasons.")
    signed_at = models.DateTimeField()
    round_digest = models.CharField(max_length=64)

    class Meta:
        ordering = ["round", "signed_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["round", "signer"], name="one_signature_per_signer_and_round")]

    def __str__(self) -> str:
        return f"{self.printed_name}: {self.get_meaning_display()} ({self.round})"


class RoundOutcome(models.Model):
    """How a round ended. One row per round: the unique constraint is the last guard that a
    round ends once, whatever races above it."""

    round = models.OneToOneField(Round, on_delete=models.PROTECT, related_name="outcome")
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    decided_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    reasons = models.TextField(blank=True)

    class Meta:
        ordering = ["round"]

    def __str__(self) -> str:
        return f"{self.round}: {self.get_outcome_display()}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("A round's outcome is final.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("A round's outcome is final.")


class Notification(models.Model):
    """One message to one user, shown in the app and sent by email from Celery.

    `key` makes each notification happen once: the services create it with
    get_or_create, and the email task claims it with a compare-and-set on email_state.
    """

    class EmailState(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "No email address"

    key = models.CharField(max_length=200, unique=True)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", null=True, blank=True)
    subject = models.CharField(max_length=250)
    body = models.TextField()
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    email_state = models.CharField(max_length=10, choices=EmailState.choices, default=EmailState.PENDING)
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_claimed_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"])]

    def __str__(self) -> str:
        return self.subject

    def get_absolute_url(self) -> str:
        return self.url or reverse("notification-list")
