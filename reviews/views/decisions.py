"""Signed decisions on a round, and the researcher's withdrawal and amendment.

The signing page shows exactly what is signed (printed name, meaning, round and its
SHA-256 digest; the time is the server's UTC time when the signature is written), and the
form carries the digest the page showed, so a signature never covers content its signer
did not see. The password check goes through django.contrib.auth.authenticate, so a wrong
password counts toward django-axes' lockout like a failed login.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from reviews.enums import FINAL_MEANINGS, REVIEWER_MEANINGS, STATEMENT_REQUIRED, FinalDecision, Verdict
from reviews.forms.amendment import AmendForm
from reviews.forms.review import SignatureForm, WithdrawForm
from reviews.models import Project, Round, RoundReview, Signature
from reviews.rules import is_admin
from reviews.selectors.review import policy_for, policy_status
from reviews.services.decisions import project_amend, project_withdraw, round_decide, round_sign
from reviews.services.review import ReviewIncomplete, TransitionConflict
from reviews.throttling import Limit, by_user, throttle
from reviews.views.access import AuthedRequest, get_project
from reviews.views.projects import project_detail_page
from reviews.views.reviewing import latest_round_number, project_round, round_state


def _signing_mode(request: AuthedRequest, project: Project, round_: Round) -> str:
    """The signing mode, "reviewer" or "admin" (the final decision), or 403 saying why this user cannot sign."""
    user = request.user
    if user.has_perm("reviews.review_project", project):
        return "reviewer"
    final_by_admin = policy_for(round_.guideline_version_id).final_decision == FinalDecision.ADMIN
    if user.has_perm("reviews.decide_project", project):
        if final_by_admin:
            return "admin"
        raise PermissionDenied(
            "this guideline version's policy approves automatically once the reviewers' signatures meet it; "
            "administrators do not sign"
        )
    if is_admin(user):
        raise PermissionDenied("a researcher never decides on their own project")
    if project.owner_id == user.pk:
        raise PermissionDenied("a researcher never signs a decision on their own project")
    raise PermissionDenied(
        "only accepted reviewers without a declared conflict of interest sign; an administrator can reassign the review"
    )


def _sign_page(
    request: AuthedRequest,
    project: Project,
    round_: Round,
    *,
    mode: str,
    form: SignatureForm | None = None,
    conflict: str = "",
    http_status: int = 200,
) -> HttpResponse:
    user = request.user
    meanings = REVIEWER_MEANINGS if mode == "reviewer" else FINAL_MEANINGS
    # A post re-reads it: the round may have been superseded while the post was handled.
    latest = latest_round_number(project, round_ if request.method == "GET" else None)
    state = round_state(project, round_, latest)
    previous = Signature.objects.filter(round=round_, signer=user).first()
    review = (
        RoundReview.objects.filter(round=round_, reviewer=user).prefetch_related("items").first()
        if mode == "reviewer"
        else None
    )
    counts: dict[str, int] = {}
    if review is not None:
        for entry in review.items.all():
            counts[entry.verdict] = counts.get(entry.verdict, 0) + 1
    if form is None:
        form = SignatureForm(initial={"digest": round_.digest}, request=request, signer=user, meanings=meanings)
    context: dict[str, Any] = {
        "project": project,
        "round": round_,
        "mode": mode,
        "state": state,
        "latest_number": latest,
        "form": form,
        "can_sign": state == "open" and previous is None,
        "previous": previous,
        "review": review,
        "must_change": counts.get(Verdict.MUST_CHANGE, 0),
        "concerns": counts.get(Verdict.CONCERN, 0),
        "acceptable": counts.get(Verdict.ACCEPTABLE, 0),
        # Others' signatures show only to those who may see them on the round page: admins,
        # and a reviewer once their own review is submitted (reviewers decide independently).
        "status": policy_status(round_)
        if mode == "admin" or (state == "open" and review is not None and review.is_submitted)
        else None,
        "statement_required": {str(meaning): what for meaning, what in STATEMENT_REQUIRED.items()},
        "conflict": conflict,
        "tab": "round",
    }
    return render(request, "reviews/round_sign.html", context, status=http_status)


@login_required
@throttle(Limit("sign-user", by_user))
@require_http_methods(["GET", "POST"])
def round_sign_view(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    project = get_project(request, pk)
    round_ = project_round(project, number)
    mode = _signing_mode(request, project, round_)
    if request.method != "POST":
        return _sign_page(request, project, round_, mode=mode)
    meanings = REVIEWER_MEANINGS if mode == "reviewer" else FINAL_MEANINGS
    form = SignatureForm(request.POST, request=request, signer=request.user, meanings=meanings)
    if not form.is_valid():
        return _sign_page(request, project, round_, mode=mode, form=form, http_status=400)
    sign = round_sign if mode == "reviewer" else round_decide
    try:
        signature = sign(
            actor=request.user,
            round_=round_,
            meaning=form.cleaned_data["meaning"],
            statement=form.cleaned_data["statement"] or "",
            digest=form.cleaned_data["digest"],
        )
    except TransitionConflict as exc:
        return _sign_page(request, project, round_, mode=mode, form=form, conflict=str(exc), http_status=409)
    except ReviewIncomplete as exc:
        form.add_error(None, "Not signed: " + "; ".join(exc.problems) + ".")
        return _sign_page(request, project, round_, mode=mode, form=form, http_status=400)
    except ValueError as exc:
        form.add_error("meaning", f"{exc} Nothing was signed.")
        return _sign_page(request, project, round_, mode=mode, form=form, http_status=400)
    except PermissionError as exc:
        raise PermissionDenied(str(exc)) from None
    messages.success(
        request,
        f"Signed “{signature.get_meaning_display()}” on round {round_.number} as {signature.printed_name} at "
        f"{signature.signed_at:%Y-%m-%d %H:%M:%S} UTC.",
    )
    return redirect(round_)


@login_required
@require_POST
def project_withdraw_view(request: AuthedRequest, pk: int) -> HttpResponse:
    project = get_project(request, pk, perm="reviews.withdraw_project")
    form = WithdrawForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not withdrawn: see the reason below.")
        return project_detail_page(request, project, withdraw_form=form, http_status=400)
    try:
        project_withdraw(actor=request.user, project=project, reason=form.cleaned_data["reason"])
    except TransitionConflict as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "The project is withdrawn. Reviewers were told; nothing more can be submitted.")
    return redirect(project)


@login_required
@require_POST
def project_amend_view(request: AuthedRequest, pk: int) -> HttpResponse:
    project = get_project(request, pk, perm="reviews.amend_project")
    form = AmendForm(request.POST)
    if not form.is_valid():
        messages.error(request, "No amendment opened: say why below.")
        return project_detail_page(request, project, amend_form=form, http_status=400)
    try:
        project_amend(actor=request.user, project=project, reason=form.cleaned_data["reason"])
    except TransitionConflict as exc:
        messages.error(request, str(exc))
        return redirect(project)
    messages.success(
        request,
        "Amendment opened: change what you need, then submit. The next round is reviewed again; "
        "the approval of the earlier round stays on record.",
    )
    return redirect("project-checklist", pk=project.pk)
