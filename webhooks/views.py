"""The webhook pages. Thin: permissions are webhooks.rules, writes are webhooks.services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from reviews.middleware import log_denial
from reviews.throttling import Limit, by_user, throttle
from reviews.views.access import AuthedRequest
from webhooks.enums import DeliveryStatus
from webhooks.forms import WebhookForm
from webhooks.models import Webhook, WebhookDelivery
from webhooks.selectors import hook_deliveries, hooks_managed_by
from webhooks.services.hooks import (
    delivery_redeliver,
    webhook_create,
    webhook_delete,
    webhook_rotate_secret,
    webhook_send_test,
    webhook_update,
)

DELIVERIES_PER_PAGE = 20


def _hook(request: AuthedRequest, pk: int) -> Webhook:
    """404 for a hook the user may not manage, the same as one that does not exist."""
    hook = get_object_or_404(Webhook.objects.select_related("project", "created_by"), pk=pk)
    if not request.user.has_perm("webhooks.manage_webhook", hook):
        log_denial(request, 404, f"webhook {hook.pk} exists but is not managed by this user")
        raise Http404("No such webhook")
    return hook


def _may_register(request: AuthedRequest) -> None:
    if not request.user.has_perm("webhooks.add_webhook"):
        raise PermissionDenied("webhooks are registered by researchers for their projects, and by administrators")


def _form_errors(form: WebhookForm, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _project_param(request: AuthedRequest) -> int | None:
    """?project=<id> from a project's page: its hooks only, and the new hook's project."""
    raw = request.GET.get("project", "")
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


@login_required
def webhook_list(request: AuthedRequest) -> HttpResponse:
    hooks = hooks_managed_by(request.user)
    project_id = _project_param(request)
    if project_id is not None:
        hooks = hooks.filter(project_id=project_id)
    context = {
        "hooks": list(hooks),
        "project_id": project_id,
        "may_register": request.user.has_perm("webhooks.add_webhook"),
    }
    return render(request, "webhooks/webhook_list.html", context)


@login_required
def webhook_new(request: AuthedRequest) -> HttpResponse:
    _may_register(request)
    form = WebhookForm(request.POST or None, initial={"project": _project_param(request)}, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            hook = webhook_create(
                actor=request.user,
                project=form.cleaned_data["project"],
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
            )
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(request, "Webhook registered. Copy its secret to your receiver to verify signatures.")
            return redirect(hook)
    return render(request, "webhooks/webhook_form.html", {"form": form})


@login_required
@never_cache  # the page shows the hook's secret: no copy in any cache
def webhook_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    hook = _hook(request, pk)
    page = Paginator(hook_deliveries(hook), DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "webhooks/webhook_detail.html",
        {"hook": hook, "page": page, "deliveries": page.object_list, "failed": DeliveryStatus.FAILED},
    )


@login_required
def webhook_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    hook = _hook(request, pk)
    initial = {"url": hook.url, "events": hook.events, "is_active": hook.is_active}
    form = WebhookForm(request.POST or None, initial=initial, user=request.user, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            webhook_update(
                actor=request.user,
                hook=hook,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                is_active=form.cleaned_data["is_active"],
            )
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(request, "Webhook saved.")
            return redirect(hook)
    return render(request, "webhooks/webhook_form.html", {"form": form, "hook": hook})


@login_required
@require_POST
def webhook_delete_view(request: AuthedRequest, pk: int) -> HttpResponse:
    hook = _hook(request, pk)
    webhook_delete(actor=request.user, hook=hook)
    messages.success(request, "Webhook deleted, with its delivery log.")
    return redirect("webhook-list")


@login_required
@require_POST
def webhook_rotate(request: AuthedRequest, pk: int) -> HttpResponse:
    hook = _hook(request, pk)
    webhook_rotate_secret(actor=request.user, hook=hook)
    messages.success(request, "New secret made. Deliveries from now on are signed with it; update your receiver.")
    return redirect(hook)


@login_required
@require_POST
@throttle(Limit("webhook-send-user", by_user))  # each is an outgoing POST to a URL of the user's choice
def webhook_test(request: AuthedRequest, pk: int) -> HttpResponse:
    hook = _hook(request, pk)
    webhook_send_test(actor=request.user, hook=hook)
    messages.success(
        request,
        "Test event queued: its delivery appears in the log below within a few seconds (the page refreshes once).",
    )
    # ?sent=1 asks webhooks.js to refresh the log once, after the worker has had time to send it.
    return redirect(f"{hook.get_absolute_url()}?sent=1")


@login_required
@require_POST
@throttle(Limit("webhook-send-user", by_user))  # each is an outgoing POST to a URL of the user's choice
def webhook_redeliver(request: AuthedRequest, pk: int, delivery_id: str) -> HttpResponse:
    hook = _hook(request, pk)
    delivery = get_object_or_404(WebhookDelivery, pk=delivery_id, hook=hook)
    try:
        delivery_redeliver(actor=request.user, delivery=delivery)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Delivery queued again, as a new delivery with the same event id.")
    return redirect(hook)
