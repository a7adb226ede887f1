"""The public register: a list anyone may search, one page per listed project, a JSON view,
and the board's setting page (admins).

Caching. The register's pages are the same for everyone, so a visitor who is not signed in
gets `Cache-Control: public, max-age=300` and a shared cache (a CDN, a proxy) may keep them
for five minutes. A signed-in user sees the same content inside the site's layout, whose
header is theirs (name, role, unread notifications); that response is `private, no-cache`,
so no shared cache ever stores it and no visitor is served someone else's header. A
response that carries anything personal to an anonymous visitor (a message shown once, a
fresh CSRF cookie) is private too. Every register response varies on Cookie. The choice of
one layout with a per-user header, rather than an anonymous-only layout for everyone, keeps
the navigation of signed-in users on these pages.

Nothing here links to a private page, and a project that is not on the register answers the
same 404 whatever the reason (not listed, not approved, rejected, withdrawn, no such id).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import InvalidPage, Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods
from django.views.defaults import page_not_found

from public.forms.register import RegisterSearchForm, RegisterSettingsForm
from public.models import Listing, Objection
from public.selectors.objections import prefetch_register_objections, register_objections
from public.selectors.register import (
    PER_PAGE,
    RegisterEntry,
    page_suspensions,
    register_entry,
    register_entry_summaries,
    register_round,
    register_rounds,
    register_search,
    register_settings,
)
from public.services.register import register_settings_update
from reviews.views.access import AuthedRequest

PUBLIC_MAX_AGE = 300  # seconds a shared cache may keep a register page for anonymous visitors
JSON_SCHEMA = "misyn-register/1"


def _personal(request: HttpRequest, response: HttpResponse) -> bool:
    return bool(
        request.user.is_authenticated
        or response.cookies
        or request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
        or len(get_messages(request))
    )


def register_cache(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Public caching for anonymous visitors' successful pages; private for anything personal."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Http404 as exc:
            # The site's 404 page (whose header may be a signed-in user's), never kept by a shared cache.
            response = page_not_found(request, exc)
        patch_vary_headers(response, ["Cookie"])
        if response.status_code == 200 and not _personal(request, response):
            patch_cache_control(response, public=True, max_age=PUBLIC_MAX_AGE)
        else:
            patch_cache_control(response, private=True, no_cache=True)
        return response

    return wrapped


def letter_verify_url(digest: str) -> str:
    return reverse("letter-verify", kwargs={"digest": digest})


def _listing() -> str:
    return str(register_settings().listing)


@require_GET
@register_cache
def register_list(request: HttpRequest) -> HttpResponse:
    form = RegisterSearchForm(request.GET)
    rounds = register_rounds(listing=_listing())
    filtered = bool(form.is_valid() and any(form.cleaned_data.values()))
    rounds = register_search(rounds, **form.cleaned_data) if form.is_valid() else rounds.none()
    page = Paginator(rounds, PER_PAGE).get_page(request.GET.get("page"))
    entries = register_entry_summaries(page.object_list)
    context = {"form": form, "page": page, "entries": entries, "filtered": filtered}
    return render(request, "public/register_list.html", context, status=200 if form.is_valid() else 400)


@require_GET
@register_cache
def register_project(request: HttpRequest, pk: int) -> HttpResponse:
    settings_ = register_settings()
    round_ = register_round(pk=pk, listing=settings_.listing)
    if round_ is None:
        raise Http404("No such project on the register")
    entry = register_entry(round_, show_signer_names=settings_.show_signer_names)
    context = {
        "entry": entry,
        "verify_url": letter_verify_url(entry.digest),
        # For the objection channel's section (public/_objections_section.html), which reads
        # only the project's id from it.
        "project": round_.project,
        "objections": register_objections(round_.project_id),
    }
    return render(request, "public/register_project.html", context)


def objections_json(objections: list[Objection]) -> list[dict[str, Any]]:
    """The objections as the register page shows them: never the sender's name or email, the
    text only when the board published it, and only published responses."""
    return [
        {
            "kind": objection.kind,
            "status": objection.status,
            "received_at": objection.created_at.isoformat(),
            "text": objection.text if objection.publish_text else None,
            "responses": [
                {"by": response.by, "published_at": response.published_at.isoformat(), "text": response.text}
                for response in getattr(objection, "published_responses", [])
                if response.published_at is not None
            ],
            "decided_at": objection.decided_at.isoformat() if objection.is_closed and objection.decided_at else None,
            "remedy": objection.remedy or None,
            "decision_reason": objection.decision_reason if objection.is_closed else None,
        }
        for objection in objections
    ]


def entry_json(entry: RegisterEntry, objections: list[Objection], request: HttpRequest) -> dict[str, Any]:
    """One project in the JSON view; the fields and their meaning are documented on the register page."""
    data: dict[str, Any] = {
        "id": entry.pk,
        "url": request.build_absolute_uri(reverse("public-project", kwargs={"pk": entry.pk})),
        "title": entry.title,
        "summary": entry.summary,
        "intended_use": entry.intended_use,
        "prohibited_uses": entry.prohibited_uses,
        "synthesis_task": entry.synthesis_task,
        "modalities": entry.modalities,
        "generator_family": entry.generator_family,
        "standing": entry.standing,
        "suspension": (
            {"at": entry.suspension.at.isoformat(), "reason": entry.suspension.reason} if entry.suspension else None
        ),
        "approved_at": entry.approved_at.isoformat(),
        "round": entry.round_number,
        "round_sha256": entry.digest,
        "limitations": entry.limitations,
        "plain_language_summary": entry.plain_summary,
        "images_audited": entry.images_audited,
        "disclosure_statement": entry.disclosure,
        "audits": [{"audit": audit.audit, "status": audit.status, "waived": audit.waived} for audit in entry.audits],
        "objections": objections_json(objections),
        "signatures": [
            {
                "meaning": signature.meaning,
                "expertise": signature.expertise,
                "signed_at": signature.signed_at.isoformat(),
                "name": signature.name or None,
            }
            for signature in entry.signatures
        ],
    }
    return data


JSON_PER_PAGE = 20


@require_GET
@register_cache
def register_json(request: HttpRequest) -> HttpResponse:
    """The whole register as JSON, JSON_PER_PAGE projects a page, newest approval first."""
    settings_ = register_settings()
    rounds = register_rounds(listing=settings_.listing).prefetch_related(
        "signatures", "waivers", prefetch_register_objections()
    )
    paginator = Paginator(rounds, JSON_PER_PAGE)
    try:
        page = paginator.page(request.GET.get("page") or 1)
    except InvalidPage:
        return JsonResponse({"error": f"No such page: pages are numbered 1 to {paginator.num_pages}."}, status=404)
    rounds_on_page = list(page.object_list)
    suspensions = page_suspensions(rounds_on_page)
    base = request.build_absolute_uri(reverse("public-register-json"))
    data = {
        "schema": JSON_SCHEMA,
        "count": paginator.count,
        "page": page.number,
        "pages": paginator.num_pages,
        "next": f"{base}?page={page.next_page_number()}" if page.has_next() else None,
        "previous": f"{base}?page={page.previous_page_number()}" if page.has_previous() else None,
        "projects": [
            entry_json(
                register_entry(
                    round_,
                    show_signer_names=settings_.show_signer_names,
                    suspension=suspensions.get(round_.project_id),
                ),
                round_.project.register_objections,  # type: ignore[attr-defined]  # (prefetched to_attr)
                request,
            )
            for round_ in rounds_on_page
        ],
    }
    return JsonResponse(data, json_dumps_params={"ensure_ascii": False})


@login_required
@require_http_methods(["GET", "POST"])
def register_settings_view(request: AuthedRequest) -> HttpResponse:
    if not request.user.has_perm("public.manage_register"):
        raise PermissionDenied("the register's settings are the board's: only administrators change them")
    form = RegisterSettingsForm(request.POST if request.method == "POST" else None, instance=register_settings())
    if request.method == "POST" and form.is_valid():
        register_settings_update(
            actor=request.user,
            listing=form.cleaned_data["listing"],
            show_signer_names=form.cleaned_data["show_signer_names"],
        )
        messages.success(request, "Register settings saved.")
        return redirect("register-settings")
    status = 400 if request.method == "POST" else 200
    return render(request, "public/register_settings.html", {"form": form, "modes": Listing}, status=status)
