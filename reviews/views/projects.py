from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFilesSent
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from audits.selectors import AUDIT_LABELS, AuditSummary, latest_results
from audits.thresholds import default_thresholds, threshold_labels
from config.storage import storage_unavailable
from public.forms.register import ListingChoiceForm
from public.selectors.register import register_settings
from reviews.enums import (
    AMENDMENT_STATUSES,
    OPEN_STATUSES,
    OVERCLAIM_ITEMS,
    Action,
    AssignmentStatus,
    FinalDecision,
    Meaning,
    Modality,
    Outcome,
    OverclaimFinding,
    ProjectStatus,
    Verdict,
)
from reviews.forms import MAX_FILES_PER_ANSWER, AnswerForm, ProjectForm
from reviews.forms.amendment import AmendForm
from reviews.forms.review import WithdrawForm
from reviews.models import Answer, Assignment, EvidenceFile, GuidelineItem, Project, Round, RoundReview, Signature, User
from reviews.rules import is_admin, is_researcher
from reviews.selectors import (
    project_activity,
    project_checklist,
    submission_problems,
)
from reviews.selectors.catalogue import moved_reread_codes
from reviews.selectors.diff import ThresholdChange, diff_thresholds
from reviews.selectors.projects import researcher_tasks, suspension_in_force
from reviews.selectors.review import (
    consolidated_feedback,
    decisions_visible,
    policy_for,
    policy_status,
    submitted_round_ids,
    visible_reviews,
)
from reviews.services.projects import (
    ItemNotInVersion,
    ProjectNotEditable,
    SubmissionIncomplete,
    answer_save,
    evidence_delete,
    project_create,
    project_submit,
    project_update,
)
from reviews.views.access import AuthedRequest, get_project
from reviews.views.errors import storage_unavailable_response
from reviews.views.reviewing import frozen_checklist, latest_round_number, project_round, round_state

MODALITY_LABELS = dict(Modality.choices)


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: AuthedRequest) -> HttpResponse:
    if not request.user.has_perm("reviews.add_project"):
        if not is_researcher(request.user):
            raise PermissionDenied(
                "projects are created by researchers; reviewers and administrators see the ones they review"
            )
        raise PermissionDenied(
            "your account is not confirmed yet: follow the link in the email we sent you, or wait for an administrator's approval"
        )
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = project_create(actor=request.user, data=form.cleaned_data)
        messages.success(request, "Project created. Work through the checklist, then submit it for review.")
        return redirect("project-checklist", pk=project.pk)
    return render(request, "reviews/project_form.html", {"form": form, "project": None})


@dataclass
class RoundCard:
    """A round on the project's overview: its outcome, and its signatures when the viewer may see them."""

    round: Round
    signatures: list[Signature]
    decisions_visible: bool


def _feedback(project: Project, round_: Round | None, reviews: list[RoundReview]) -> dict[str, Any] | None:
    """How the latest round ended, for the overview: the signed decision and, when changes
    were requested or the project rejected, the reviewers' comments per item (`reviews`: the
    round's reviews the viewer may read)."""
    ended = {ProjectStatus.CHANGES_REQUESTED, ProjectStatus.REJECTED, ProjectStatus.APPROVED}
    if round_ is None or project.status not in ended:
        return None
    outcome = getattr(round_, "outcome", None)
    if outcome is None:
        return None
    if outcome.outcome == Outcome.APPROVED:
        return {"round": round_, "outcome": outcome, "signatures": list(round_.signatures.all()), "items": []}
    signatures = [
        s
        for s in round_.signatures.all()
        if s.meaning in {Meaning.REQUEST_CHANGES, Meaning.REJECT, Meaning.FINAL_REJECT}
    ]
    return {
        "round": round_,
        "outcome": outcome,
        "signatures": signatures,
        "items": consolidated_feedback(reviews),
    }


def _latest_round_reviews(request: AuthedRequest, project: Project, round_: Round | None) -> list[RoundReview]:
    """The latest round's reviews the viewer may read, once it has ended (the overview's
    feedback and the researcher's to-do list both come from them); no query before."""
    if round_ is None or not hasattr(round_, "outcome"):
        return []
    round_.project = project
    return visible_reviews(round_, request.user)


def project_detail_page(
    request: AuthedRequest,
    project: Project,
    *,
    withdraw_form: WithdrawForm | None = None,
    amend_form: AmendForm | None = None,
    http_status: int = 200,
) -> HttpResponse:
    checklist = project_checklist(project=project)
    rounds = list(
        Round.objects.filter(project=project)
        .select_related("submitted_by", "outcome")
        .prefetch_related(Prefetch("signatures", queryset=Signature.objects.order_by("signed_at", "pk")))
        .order_by("-number")
    )
    submitted = submitted_round_ids(request.user, project) if rounds else set()
    cards = [RoundCard(r, list(r.signatures.all()), decisions_visible(request.user, r, submitted)) for r in rounds]
    latest = rounds[0] if rounds else None
    reviews = _latest_round_reviews(request, project, latest)
    is_owner = project.owner_id == request.user.pk
    tasks = (
        researcher_tasks(
            project=project,
            checklist=checklist,
            latest_round=latest,
            reviews=reviews,
            # Only an open project's failing audits are things to do: no results query for the others.
            results=latest_results(project=project) if project.status in OPEN_STATUSES else None,
        )
        if is_owner
        else None
    )
    approval = _standing_approval(project, rounds)
    context = {
        "tasks": tasks,
        "is_owner": is_owner,
        "approval": approval,
        # An amendment may answer a suspension: the approval then no longer stands meanwhile.
        "suspension": suspension_in_force(project, since=approval.outcome.decided_at) if approval else None,
        "project": project,
        "checklist": checklist,
        "answered": sum(stage.answered for stage in checklist),
        "total": sum(len(stage.rows) for stage in checklist),
        "rounds": cards,
        "modalities": [MODALITY_LABELS.get(code, code) for code in project.modalities],
        "feedback": _feedback(project, latest, reviews),
        "can_withdraw": request.user.has_perm("reviews.withdraw_project", project),
        "can_amend": request.user.has_perm("reviews.amend_project", project),
        "can_reinstate": request.user.has_perm("reviews.reinstate_project", project),
        "withdraw_form": withdraw_form or WithdrawForm(),
        "amend_form": amend_form or AmendForm(),
    }
    return render(request, "reviews/project_detail.html", context, status=http_status)


def _standing_approval(project: Project, rounds: list[Round]) -> Round | None:
    """The newest approved round while a later one is prepared or reviewed (an amendment), for
    the overview's header: the approval stands until a new decision replaces it. None while
    the project's status itself says approved."""
    if project.status not in AMENDMENT_STATUSES:
        return None
    return next(
        (r for r in rounds if getattr(r, "outcome", None) is not None and r.outcome.outcome == Outcome.APPROVED),
        None,
    )


@login_required
def project_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    try:
        project = get_project(request, pk)
    except Http404:
        # An invited reviewer answers the invitation (and declares conflicts) before any material.
        invited = Project.objects.filter(pk=pk).first()
        if invited is not None and request.user.has_perm("reviews.respond_assignment", invited):
            return redirect("assignment-respond", pk=pk)
        raise
    return project_detail_page(request, project)


@login_required
@require_http_methods(["GET", "POST"])
def project_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    project = get_project(request, pk, perm="reviews.change_project")
    form = ProjectForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        try:
            project_update(actor=request.user, project=project, data=form.cleaned_data)
        except ProjectNotEditable as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Project details saved.")
            return redirect(project)
    return render(request, "reviews/project_form.html", {"form": form, "project": project})


@login_required
def project_checklist_view(request: AuthedRequest, pk: int) -> HttpResponse:
    project = get_project(request, pk)
    checklist = project_checklist(project=project)
    context = {
        "project": project,
        "checklist": checklist,
        "can_edit": request.user.has_perm("reviews.change_project", project),
        "answered": sum(stage.answered for stage in checklist),
        "total": sum(len(stage.rows) for stage in checklist),
        # One query for the whole page: the latest finished run's status of every audit.
        "audit_evidence": latest_results(project=project),
        # Items a move to a newer guideline version asked to read again (one query).
        "reread": moved_reread_codes(project=project) if project.is_editable else frozenset(),
    }
    return render(request, "reviews/checklist.html", context)


@csrf_exempt  # only to read the body first: every answer that could be saved is csrf_protect-ed below
@login_required
@require_http_methods(["GET", "POST"])
def answer_edit(request: AuthedRequest, pk: int, code: str) -> HttpResponse:
    """One checklist item's answer: the item, the reviewers' comments, the form.

    Django refuses a body with more files than DATA_UPLOAD_MAX_NUMBER_FILES while parsing it,
    and the CSRF check is what parses it first: the refusal would be a bare 400. So the body
    is parsed here; a refused one shows the page again with why (it changes nothing, so it
    needs no token), everything else goes through the CSRF check (csrf_protect).
    """
    if request.method == "POST":
        try:
            request.POST  # noqa: B018 (parses the body, files included)
        except TooManyFilesSent:
            refusal = (
                f"Too many files: attach at most {MAX_FILES_PER_ANSWER} evidence files at a time. The form was "
                "refused whole, so nothing was saved and what you typed could not be kept: enter it again and "
                "attach the files in several saves."
            )
            return _answer_page(request, pk, code, refusal=refusal)
        except RequestDataTooBig:
            refusal = (
                f"The form's text came to more than {filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)}, more than "
                "this page accepts, so nothing was saved: shorten the justification or evidence text and save again."
            )
            return _answer_page(request, pk, code, refusal=refusal)
    return _answer_edit(request, pk, code)


def _answer_page(request: AuthedRequest, pk: int, code: str, *, refusal: str = "") -> HttpResponse:
    # A POST needs the right to change the project; the refusal says why (get_project).
    project = get_project(request, pk, perm="reviews.change_project" if request.method == "POST" else None)
    item = get_object_or_404(
        GuidelineItem.objects.select_related("stage"), version=project.guideline_version_id, code=code
    )
    answer = (
        Answer.objects.filter(project=project, item=item)
        .prefetch_related(Prefetch("files", queryset=EvidenceFile.objects.order_by("uploaded_at", "pk")))
        .first()
    )
    can_edit = request.user.has_perm("reviews.change_project", project)
    bound = request.method == "POST" and not refusal
    initial = (
        {"status": answer.status, "justification": answer.justification, "evidence_text": answer.evidence_text}
        if answer
        else {}
    )
    # An empty body (a broken multipart one among them) leaves the form unbound, as a GET.
    form = AnswerForm(
        (request.POST or None) if bound else None,
        (request.FILES or None) if bound else None,
        initial=initial,
        rejected_uploads=getattr(request, "rejected_uploads", None),
    )
    if bound and form.is_valid():
        try:
            answer_save(
                actor=request.user,
                project=project,
                item=item,
                status=form.cleaned_data["status"],
                justification=form.cleaned_data["justification"],
                evidence_text=form.cleaned_data["evidence_text"],
                files=form.cleaned_data["evidence_files"],
            )
        except (ProjectNotEditable, ItemNotInVersion) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{item.code} saved.")
            if "save_next" in request.POST:
                following = _neighbour(project, item, +1)
                if following is not None:
                    return redirect("answer-edit", pk=project.pk, code=following.code)
            return redirect("answer-edit", pk=project.pk, code=item.code)
    context = {
        "project": project,
        "item": item,
        "answer": answer,
        "form": form,
        "can_edit": can_edit,
        "previous": _neighbour(project, item, -1),
        "next": _neighbour(project, item, +1),
        "audit_entry": _audit_entry(project, item),
        "item_feedback": _item_feedback(request, project, item),
        "refusal": refusal,
        "evidence_limits": {
            "max_files": MAX_FILES_PER_ANSWER,
            "max_file_bytes": settings.EVIDENCE_MAX_BYTES,
            "max_total_bytes": MAX_FILES_PER_ANSWER * settings.EVIDENCE_MAX_BYTES,
        },
    }
    return render(request, "reviews/answer_form.html", context, status=400 if form.errors or refusal else 200)


_answer_edit = csrf_protect(_answer_page)


def _item_feedback(request: AuthedRequest, project: Project, item: GuidelineItem) -> dict[str, Any] | None:
    """The reviewers' comments on this item from the round that ended with changes requested,
    and on the items of the overclaim check (OVERCLAIM_ITEMS) the overclaim findings of the
    latest decided round.

    Read only while the project is returned for changes, or for the claim items, so other
    answer pages cost nothing.
    """
    claims = item.code in OVERCLAIM_ITEMS
    if project.status != ProjectStatus.CHANGES_REQUESTED and not claims:
        return None
    round_ = Round.objects.filter(project=project).select_related("outcome").order_by("-number").first()
    if round_ is None or getattr(round_, "outcome", None) is None:
        return None
    round_.project = project
    reviews = visible_reviews(round_, request.user)
    entries = (
        [
            entry
            for review in reviews
            for entry in review.items.all()
            if entry.item_id == item.pk and (entry.verdict != Verdict.ACCEPTABLE or entry.comment)
        ]
        if project.status == ProjectStatus.CHANGES_REQUESTED
        else []
    )
    overclaims = [review for review in reviews if claims and review.overclaim == OverclaimFinding.OVERCLAIM]
    if not entries and not overclaims and project.status != ProjectStatus.CHANGES_REQUESTED:
        return None
    return {"round": round_, "entries": entries, "overclaims": overclaims}


def _audit_entry(project: Project, item: GuidelineItem) -> AuditSummary | None:
    """The latest finished run's result for the item's audit; one query on every answer page."""
    latest = latest_results(project=project)
    return latest.for_audit(item.audit) if latest is not None and item.audit else None


def _neighbour(project, item: GuidelineItem, step: int) -> GuidelineItem | None:  # type: ignore[no-untyped-def]
    items = GuidelineItem.objects.filter(version=project.guideline_version_id)
    key = (item.stage.order, item.order)
    if step > 0:
        return (
            items.filter(stage__order=key[0], order__gt=key[1]).order_by("order").first()
            or items.filter(stage__order__gt=key[0]).order_by("stage__order", "order").first()
        )
    return (
        items.filter(stage__order=key[0], order__lt=key[1]).order_by("-order").first()
        or items.filter(stage__order__lt=key[0]).order_by("-stage__order", "-order").first()
    )


def _project_evidence(project, evidence_pk: int) -> EvidenceFile:  # type: ignore[no-untyped-def]
    return get_object_or_404(
        EvidenceFile.objects.select_related("answer__item", "answer__project"), pk=evidence_pk, answer__project=project
    )


@login_required
def evidence_download(request: AuthedRequest, pk: int, evidence_pk: int) -> FileResponse | HttpResponse:
    project = get_project(request, pk)
    evidence = _project_evidence(project, evidence_pk)
    try:
        handle = evidence.file.open("rb")
    except FileNotFoundError:
        raise Http404("The stored file is missing") from None
    except Exception as exc:
        if storage_unavailable(exc):  # the file is kept; the store cannot be reached right now
            return storage_unavailable_response()
        raise
    response = FileResponse(
        handle, as_attachment=True, filename=evidence.original_name, content_type=evidence.content_type
    )
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@require_POST
def evidence_remove(request: AuthedRequest, pk: int, evidence_pk: int) -> HttpResponse:
    project = get_project(request, pk, perm="reviews.change_project")
    evidence = _project_evidence(project, evidence_pk)
    code = evidence.answer.item.code
    try:
        evidence_delete(actor=request.user, evidence=evidence)
    except ProjectNotEditable as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Removed “{evidence.original_name}” from {code}.")
    return redirect("answer-edit", pk=project.pk, code=code)


@login_required
@require_http_methods(["GET", "POST"])
def project_submit_view(request: AuthedRequest, pk: int) -> HttpResponse:
    project = get_project(request, pk, perm="reviews.submit_project")
    problems = submission_problems(checklist=project_checklist(project=project))
    # Each submission asks again whether to list the project on the public register.
    listing = ListingChoiceForm(request.POST if request.method == "POST" else None, listing=register_settings().listing)
    if request.method == "POST" and listing.is_valid():
        try:
            round_ = project_submit(actor=request.user, project=project, public_listing=listing.chosen())
        except SubmissionIncomplete as exc:
            problems = exc.problems
            messages.error(request, f"Not submitted: {len(problems)} item(s) still need an answer or a justification.")
        except ProjectNotEditable as exc:
            messages.error(request, str(exc))
            return redirect(project)
        else:
            messages.success(request, f"Submitted for review. Round {round_.number} is frozen.")
            return redirect(round_)
    status = 400 if request.method == "POST" else 200
    context = {"project": project, "problems": problems, "listing": listing}
    return render(request, "reviews/submit.html", context, status=status)


def _can_open_review(request: AuthedRequest, project: Project) -> bool:
    """The review page shows to reviewers who may review, conflicted reviewers and admins (read-only)."""
    user = request.user
    if user.has_perm("reviews.review_project", project) or is_admin(user):
        return True
    return Assignment.objects.filter(
        project=project, reviewer=user, status=AssignmentStatus.ACCEPTED, has_conflict=True
    ).exists()


def _can_sign(request: AuthedRequest, project: Project, round_: Round, signatures: list[Signature]) -> bool:
    user = request.user
    if any(s.signer_id == user.pk for s in signatures):
        return False
    if user.has_perm("reviews.review_project", project):
        return True
    return bool(
        user.has_perm("reviews.decide_project", project)
        and policy_for(round_.guideline_version_id).final_decision == FinalDecision.ADMIN
    )


def round_thresholds(snapshot: dict[str, Any]) -> list[ThresholdChange] | None:
    """The audit thresholds a round froze that differ from the engine's defaults (each as a
    change from the default); None for a round frozen before rounds recorded them."""
    frozen = snapshot.get("audit_thresholds")
    if not isinstance(frozen, dict):
        return None
    defaults = default_thresholds()
    # Only thresholds both the round and today's engine know: one added since was not part of
    # the round, and one retired since has no default to compare with.
    shared = {
        audit: {name: defaults[audit][name] for name in values if name in defaults.get(audit, {})}
        for audit, values in frozen.items()
        if isinstance(values, dict)
    }
    kept = {audit: {name: frozen[audit][name] for name in names} for audit, names in shared.items()}
    return diff_thresholds(shared, kept, threshold_labels())


@login_required
def round_detail(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    project = get_project(request, pk)
    round_ = project_round(project, number)
    status = policy_status(round_)
    stages, _items = frozen_checklist(project, round_, status=status)
    visible = visible_reviews(round_, request.user)
    own = next((review for review in visible if review.reviewer_id == request.user.pk), None)
    shown = decisions_visible(request.user, round_, {round_.pk} if own is not None else set())
    state = round_state(project, round_, latest_round_number(project, round_))
    context = {
        "project": project,
        "round": round_,
        "snapshot": round_.snapshot,
        "stages": stages,
        "status": status,
        "state": state,
        "decisions_visible": shown,
        # Ended without approval (changes requested, rejected, withdrawn): the policy is history.
        "ended": round_.outcome.outcome != Outcome.APPROVED if hasattr(round_, "outcome") else False,
        "reviews": visible,
        "feedback": consolidated_feedback(visible),
        # Every finding of the overclaim check the viewer may read (an overclaim first).
        "overclaim_findings": sorted(
            (review for review in visible if review.overclaim),
            key=lambda review: review.overclaim != OverclaimFinding.OVERCLAIM,
        ),
        "thresholds_set": round_thresholds(round_.snapshot),
        "waiver_rows": [
            {
                "audit": audit,
                "label": AUDIT_LABELS.get(audit, audit),
                "status": status.status_of(audit),
                "waiver": status.waivers.get(audit),
                "uncounted": [w for w in status.uncounted if w.audit == audit],
            }
            for audit in status.needs_waiver
        ],
        "can_review": _can_open_review(request, project),
        "can_sign": state == "open" and _can_sign(request, project, round_, status.signatures),
        "is_owner": project.owner_id == request.user.pk,
        "tab": "round",
    }
    return render(request, "reviews/round_detail.html", context)


@login_required
def project_history(request: AuthedRequest, pk: int) -> HttpResponse:
    project = get_project(request, pk)
    entries = project_activity(project=project)
    if not is_admin(request.user):
        # Responses to invitations, conflicts of interest and removals are for the admins.
        entries = entries.exclude(object_type="reviews.assignment")
    hidden = _undisclosed_round(request.user, project)
    if hidden is not None:
        # The same rule as the round page: reviews and signatures of the round under review
        # stay out of sight until it ends (or, for a reviewer, until they submitted theirs).
        entries = entries.exclude(action__in=[Action.REVIEW, Action.SIGN], new__round=hidden.number)
    page = Paginator(entries, 100).get_page(request.GET.get("page"))
    context = {"project": project, "page": page, "entries": page.object_list, "hidden_round": hidden}
    return render(request, "reviews/history.html", context)


def _undisclosed_round(user: User, project: Project) -> Round | None:
    latest = Round.objects.filter(project=project).select_related("outcome").order_by("-number").first()
    if latest is None or decisions_visible(user, latest, submitted_round_ids(user, project)):
        return None
    return latest
