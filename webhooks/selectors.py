"""Reads of the webhooks app, each in a fixed number of queries."""

from __future__ import annotations

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from reviews.models import Project, User
from reviews.rules import is_admin
from webhooks.models import DeliveryAttempt, Webhook, WebhookDelivery


def hooks_managed_by(user: User) -> QuerySet[Webhook]:
    """The hooks on the user's page, by the rule of webhooks.rules.can_manage_hook: every hook
    for administrators; for anyone else the hooks they registered on projects they own (not
    the board's hooks on those projects). Each with its last delivery's status and time (two
    subqueries, one query in all)."""
    last = WebhookDelivery.objects.filter(hook=OuterRef("pk")).order_by("-created_at")
    hooks = Webhook.objects.select_related("project").annotate(
        last_status=Subquery(last.values("status")[:1]),
        last_event=Subquery(last.values("event")[:1]),
        last_at=Subquery(last.values("created_at")[:1]),
    )
    if is_admin(user):
        return hooks
    if not (user.is_authenticated and user.is_active):
        return hooks.none()
    return hooks.filter(project__owner=user, created_by=user)


def hook_projects(user: User) -> QuerySet[Project]:
    """The projects a user may hook: their own; all of them for administrators."""
    projects = Project.objects.order_by("-updated_at", "-pk")
    return projects if is_admin(user) else projects.filter(owner=user)


def hook_deliveries(hook: Webhook) -> QuerySet[WebhookDelivery]:
    """The delivery log, newest first, each with its attempts (two queries per page)."""
    return (
        WebhookDelivery.objects.filter(hook=hook)
        .order_by("-created_at")
        .prefetch_related(Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("-number")))
    )
