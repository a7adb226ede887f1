"""The API's pages: an account's personal tokens, and the board's list of every token.

A new token's raw value exists only in the response to the POST that creates it: it is
rendered there (never cached) and kept in no store at all, neither the session (the
django_session table and its backups would hold a working bearer token) nor the cache.
The page's script then replaces the POST's history entry with the list's URL, so a reload
or a return to it is a plain GET that shows the token no more and creates nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from api.forms import TokenCreateForm, TokenFilter
from api.models import ApiToken
from api.selectors.tokens import tokens_of, tokens_with_people
from api.services.tokens import TokenRefused, token_create, token_revoke
from reviews.middleware import log_denial
from reviews.views.access import AuthedRequest

PER_PAGE = 50


def _require(request: AuthedRequest, perm: str, why: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(why)


def _created(request: AuthedRequest, form: TokenCreateForm) -> tuple[ApiToken, str] | None:
    """Create the token the valid form asks for (with its raw value), or add the service's refusal to the form."""
    try:
        token, raw = token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
            expires_at=form.expires_at(),
        )
    except TokenRefused as refusal:
        form.add_error(None, str(refusal))
        return None
    return token, raw


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def token_list(request: AuthedRequest) -> HttpResponse:
    _require(request, "api.manage_own_tokens", "this account cannot hold API tokens")
    form = TokenCreateForm(request.POST or None)
    new_token: dict[str, Any] | None = None
    status = 400 if form.is_bound else 200
    if request.method == "POST" and form.is_valid():
        created = _created(request, form)
        if created is not None:
            # Shown in this response only, never redirected to: a redirect would need a store
            # (the session) to carry the raw token to the next request. Without JavaScript a
            # reload of this page re-sends the POST, which the browser asks about first.
            token, raw = created
            new_token = {"id": token.pk, "raw": raw}
            form, status = TokenCreateForm(), 201
    page = Paginator(tokens_of(request.user), PER_PAGE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "tokens": page.object_list, "new_token": new_token}
    return render(request, "api/token_list.html", context, status=status)


def _back(request: AuthedRequest, token: ApiToken) -> str:
    """Where the revoking page was (the board's list keeps its filters), else the token's list."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("api-tokens" if token.user_id == request.user.pk else "api-token-admin")


@login_required
@require_POST
def token_revoke_view(request: AuthedRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(tokens_with_people(), pk=token_id)
    if not request.user.has_perm("api.revoke_token", token):
        # Another account's token: as if it did not exist, but logged as the probe it is.
        log_denial(request, 404, f"API token {token.pk} belongs to another account")
        raise Http404("No such token")
    if token_revoke(actor=request.user, token=token):
        messages.success(request, f"The token “{token.name}” (msr_{token.prefix}…) is revoked: it no longer works.")
    else:
        token.refresh_from_db(fields=["revoked_at", "revoked_by"])
        by = token.revoked_by.display_name if token.revoked_by else "someone"
        messages.info(
            request, f"The token “{token.name}” was already revoked, by {by} on {token.revoked_at:%Y-%m-%d %H:%M} UTC."
        )
    return redirect(_back(request, token))


@login_required
@require_http_methods(["GET"])
def token_admin_list(request: AuthedRequest) -> HttpResponse:
    """Every account's tokens, for the administrators who answer for who can reach the data."""
    _require(request, "api.manage_all_tokens", "only administrators see every account's API tokens")
    everything = tokens_with_people()
    filterset = TokenFilter(request.GET, queryset=everything, request=request)
    page = Paginator(filterset.page_rows(), PER_PAGE).get_page(request.GET.get("page"))
    total = everything.count() if filterset.is_filtered or not filterset.is_valid() else page.paginator.count
    context = {
        "filter": filterset,
        "page": page,
        "tokens": page.object_list,
        "active_filters": filterset.active(),
        "matching": page.paginator.count,
        "total": total,
        "filter_errors": filterset.is_bound and not filterset.is_valid(),
    }
    return render(request, "api/token_admin_list.html", context)
