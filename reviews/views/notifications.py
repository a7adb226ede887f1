"""The user's in-app notifications: the list, and marking them read."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from reviews.forms.assignments import NotificationReadForm
from reviews.models import Notification
from reviews.services.notifications import notification_mark_read
from reviews.views.access import AuthedRequest

PER_PAGE = 25


@login_required
def notification_list(request: AuthedRequest) -> HttpResponse:
    rows = Notification.objects.filter(recipient=request.user).order_by("-created_at", "-pk")
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "reviews/notification_list.html", {"page": page, "notifications": page.object_list})


def _safe_target(request: AuthedRequest, *candidates: str) -> str:
    """The first candidate that stays on this site, or the notification list."""
    for target in candidates:
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return target
    return reverse("notification-list")


@login_required
@require_POST
def notification_read(request: AuthedRequest) -> HttpResponse:
    """Mark one notification read (field `notification`) or, without it, all; then go back."""
    form = NotificationReadForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Nothing was marked as read. {form.error_summary()}")
        return redirect("notification-list")
    notification_id = form.cleaned_data["notification"]
    marked = notification_mark_read(user=request.user, notification_id=notification_id)
    if notification_id is None:
        messages.success(request, f"{marked} notification{'s' if marked != 1 else ''} marked as read.")
    return redirect(_safe_target(request, form.cleaned_data["next"], request.META.get("HTTP_REFERER", "")))
