"""The objection channel's pages.

Anyone: send a question or an objection about a project on the register (throttled per
address, with a honeypot; no login) and follow it by its tracking link. Administrators:
the triage list and page, every action a POST through one service. The project's researcher:
the response page, when the board asked. Refusals say why (403 with a reason); what a user
may not see is 404.

Responses by the researcher are published by the board (a triage action), not at once: the
researcher's words about a public objection are shown once the board has read them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import rules
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from public.forms.objections import DismissForm, ObjectionForm, ReinstateForm, ResponseForm, UpholdForm
from public.models import Objection, ObjectionResponse, ObjectionStatus
from public.selectors.objections import (
    objection_by_token,
    objection_for_owner,
    objection_for_triage,
    objections_for_triage,
    public_title,
    registered_project,
    triage_status_counts,
)
from public.services import objections as services
from reviews.services.decisions import project_reinstate
from reviews.services.review import TransitionConflict
from reviews.throttling import Limit, by_address, throttle
from reviews.views.access import AuthedRequest, get_project

PER_PAGE = 50


# ---------------------------------------------------------------------------------------
# Anyone


@require_http_methods(["GET", "POST"])
@throttle(Limit("objection-address", by_address))
def objection_new(request: HttpRequest, pk: int) -> HttpResponse:
    on_register = registered_project(pk)
    if request.method == "GET" and request.GET.get("sent"):
        # Post/redirect/get: the sent page once, from the session; reloading it sends nothing again.
        sent_page = request.session.pop(SENT_KEY, None)
        if isinstance(sent_page, dict) and sent_page.get("project") == pk:
            return _sent_page(request, title=on_register.title, token=sent_page["token"], email=sent_page["email"])
    form = ObjectionForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_robot:
            # A robot filled the hidden field: the same answers as a success, with a link to nothing.
            return _sent_redirect(request, pk, token=secrets.token_urlsafe(32), email="")
        if form.is_valid():
            data = form.cleaned_data
            sent = services.objection_send(
                project=on_register.project,
                title=on_register.title,
                kind=data["kind"],
                text=data["text"],
                name=data["name"],
                email=data["email"],
            )
            return _sent_redirect(request, pk, token=sent.token, email=sent.objection.email)
        messages.error(request, "Not sent: see what to correct below.")
    context = {"project_pk": pk, "title": on_register.title, "form": form}
    return render(request, "public/objection_form.html", context, status=400 if form.is_bound else 200)


SENT_KEY = "objection_sent"


def _sent_redirect(request: HttpRequest, pk: int, *, token: str, email: str) -> HttpResponse:
    request.session[SENT_KEY] = {"project": pk, "token": token, "email": email}
    return redirect(f"{reverse('objection-new', kwargs={'pk': pk})}?sent=1")


def _sent_page(request: HttpRequest, *, title: str, token: str, email: str) -> HttpResponse:
    context = {
        "title": title,
        "tracking_url": request.build_absolute_uri(reverse("objection-track", kwargs={"token": token})),
        "emailed": bool(email),
    }
    response = render(request, "public/objection_sent.html", context)
    response["Cache-Control"] = "no-store"  # the page holds the sender's only key
    return response


@require_http_methods(["GET"])
def objection_track(request: HttpRequest, token: str) -> HttpResponse:
    objection = objection_by_token(token)
    context = {"objection": objection, "title": public_title(objection.project_id)}
    response = render(request, "public/objection_track.html", context)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"  # the token is in the URL: links out must not carry it
    return response


# ---------------------------------------------------------------------------------------
# Administrators


def _require_admin(request: AuthedRequest) -> None:
    if not request.user.has_perm("public.triage_objection"):
        raise PermissionDenied("only administrators triage questions and objections")


@login_required
@require_http_methods(["GET"])
def objection_list(request: AuthedRequest) -> HttpResponse:
    _require_admin(request)
    status = request.GET.get("status", "")
    counts = triage_status_counts()
    if status not in {count.value for count in counts}:
        status = ""
    page = Paginator(objections_for_triage(status=status), PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "objections": page.object_list, "status": status, "counts": counts}
    return render(request, "public/objection_list.html", context)


def _triage_page(request: AuthedRequest, objection: Objection, *, status: int = 200, **forms: Any) -> HttpResponse:
    context = {
        "objection": objection,
        "project": objection.project,
        "public_title": public_title(objection.project_id),
        "responses": list(objection.responses.all()),
        "response_form": forms.get("response_form") or ResponseForm(),
        "uphold_form": forms.get("uphold_form") or UpholdForm(),
        "dismiss_form": forms.get("dismiss_form") or DismissForm(),
        "reinstate_form": forms.get("reinstate_form") or ReinstateForm(),
        "statuses": ObjectionStatus,
        "By": ObjectionResponse.By,
    }
    return render(request, "public/objection_detail.html", context, status=status)


_DONE = {
    "acknowledge": "Acknowledged: the sender sees it on their tracking page.",
    "ask": "The researcher is asked to respond; they were notified with a link.",
    "publish_text": "The text is shown on the register (never the sender's name or email).",
    "unpublish_text": "The text is no longer shown on the register.",
    "board_response": "The board's response is published on the register.",
    "publish_response": "The researcher's response is published on the register.",
    "uphold": "Upheld: the remedy took effect, and the register and the sender show the decision.",
    "dismiss": "Dismissed: the register and the sender show the decision and its reason.",
}


@login_required
@require_http_methods(["GET", "POST"])
def objection_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    _require_admin(request)
    objection = objection_for_triage(pk)
    if request.method == "GET":
        return _triage_page(request, objection)
    action = request.POST.get("action", "")
    step = _STEPS.get(action)
    if step is None:
        messages.error(request, "Unknown action: choose one of the buttons on this page.")
        return _triage_page(request, objection, status=400)
    try:
        invalid = step(request, objection)
    except TransitionConflict as exc:
        messages.error(request, str(exc))
        return _triage_page(request, objection_for_triage(pk), status=409)
    except ValueError as exc:
        messages.error(request, str(exc))
        return _triage_page(request, objection_for_triage(pk), status=400)
    if invalid is not None:
        messages.error(request, "Nothing was changed: see what to correct below.")
        return _triage_page(request, objection, status=400, **invalid)
    messages.success(request, _DONE[action])
    return redirect("objection-detail", pk=pk)


Forms = dict[str, Any] | None


def _acknowledge(request: AuthedRequest, objection: Objection) -> Forms:
    services.objection_acknowledge(actor=request.user, objection=objection)
    return None


def _ask(request: AuthedRequest, objection: Objection) -> Forms:
    services.objection_ask_researcher(actor=request.user, objection=objection)
    return None


def _publish_text(request: AuthedRequest, objection: Objection) -> Forms:
    services.objection_publish_text(actor=request.user, objection=objection, publish=True)
    return None


def _unpublish_text(request: AuthedRequest, objection: Objection) -> Forms:
    services.objection_publish_text(actor=request.user, objection=objection, publish=False)
    return None


def _board_response(request: AuthedRequest, objection: Objection) -> Forms:
    form = ResponseForm(request.POST)
    if not form.is_valid():
        return {"response_form": form}
    services.objection_board_respond(actor=request.user, objection=objection, text=form.cleaned_data["text"])
    return None


def _publish_response(request: AuthedRequest, objection: Objection) -> Forms:
    try:
        response_pk = int(request.POST.get("response", ""))
    except ValueError:
        raise ValueError("Choose a response to publish.") from None
    services.objection_response_publish(actor=request.user, objection=objection, response_pk=response_pk)
    return None


def _uphold(request: AuthedRequest, objection: Objection) -> Forms:
    form = UpholdForm(request.POST)
    if not form.is_valid():
        return {"uphold_form": form}
    data = form.cleaned_data
    services.objection_uphold(actor=request.user, objection=objection, remedy=data["remedy"], reason=data["reason"])
    return None


def _dismiss(request: AuthedRequest, objection: Objection) -> Forms:
    form = DismissForm(request.POST)
    if not form.is_valid():
        return {"dismiss_form": form}
    services.objection_dismiss(actor=request.user, objection=objection, reason=form.cleaned_data["reason"])
    return None


_STEPS: dict[str, Callable[[AuthedRequest, Objection], Forms]] = {
    "acknowledge": _acknowledge,
    "ask": _ask,
    "publish_text": _publish_text,
    "unpublish_text": _unpublish_text,
    "board_response": _board_response,
    "publish_response": _publish_response,
    "uphold": _uphold,
    "dismiss": _dismiss,
}


@login_required
@require_POST
def project_reinstate_view(request: AuthedRequest, pk: int) -> HttpResponse:
    """An administrator lifts a suspended approval (from an objection's page, or the project's)."""
    project = get_project(request, pk)
    if not request.user.has_perm("reviews.reinstate_project", project):
        if not request.user.has_perm("public.triage_objection"):
            raise PermissionDenied("only administrators reinstate a suspended approval")
        raise PermissionDenied(
            f"this project is {project.get_status_display().lower()}: there is no suspension to lift"
        )
    back = str(request.POST.get("next", ""))
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = project.get_absolute_url()
    form = ReinstateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not reinstated: give the reason (it is kept in the project's history).")
        return redirect(back)
    try:
        project_reinstate(actor=request.user, project=project, reason=form.cleaned_data["reason"])
    except TransitionConflict as exc:
        messages.error(request, str(exc))
        return redirect(back)
    messages.success(request, "The approval is reinstated; the register shows the project as approved again.")
    return redirect(back)


# ---------------------------------------------------------------------------------------
# The project's researcher


@login_required
@require_http_methods(["GET", "POST"])
def objection_respond(request: AuthedRequest, pk: int, objection_pk: int) -> HttpResponse:
    project = get_project(request, pk)
    objection = objection_for_owner(project=project, pk=objection_pk)
    if not rules.has_perm("public.respond_objection", request.user, objection):
        raise PermissionDenied("only the project's researcher responds to a question or objection about it")
    form = ResponseForm(request.POST if request.method == "POST" else None)
    form.fields["text"].label = "Your response"
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.objection_researcher_respond(
                    actor=request.user, objection=objection, text=form.cleaned_data["text"]
                )
            except TransitionConflict as exc:
                messages.error(request, str(exc))
                status = 409
            else:
                messages.success(request, "Your response is sent to the board, which publishes it on the register.")
                return redirect("objection-respond", pk=pk, objection_pk=objection_pk)
        else:
            messages.error(request, "Not sent: see what to correct below.")
            status = 400
        objection = objection_for_owner(project=project, pk=objection_pk)
    context = {
        "project": project,
        "objection": objection,
        "responses": [r for r in objection.responses.all() if r.by == ObjectionResponse.By.RESEARCHER],
        "form": form,
        "asked": objection.status == ObjectionStatus.AWAITING_RESEARCHER,
    }
    return render(request, "public/objection_respond.html", context, status=status)
