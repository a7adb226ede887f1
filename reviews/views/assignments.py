"""Assigning reviewers (admin), the reviewer's invitation and conflicts, and the reviewer's dashboard.

Views only read and call the services of reviews.services.review; a refused transition is
shown as a message or a form error, never as a server error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from reviews.enums import UNDER_REVIEW_STATUSES, AssignmentStatus, Meaning, Modality, NotificationKind, ProjectStatus
from reviews.filters import MyReviewsFilter
from reviews.forms.assignments import CONFLICT_DECLARE, AcceptForm, AssignForm, ConflictForm, DeclineForm, RemoveForm
from reviews.models import Assignment, Project, Round, RoundReview, Signature, User
from reviews.models.review import ReviewDraft
from reviews.selectors.review import policy_for, project_assignments, reviewer_suggestions, signed_rounds
from reviews.services.assignments import (
    assignment_create,
    assignment_declare_conflict,
    assignment_remove,
    assignment_respond,
)
from reviews.services.notifications import notification_mark_read_for
from reviews.services.review import TransitionConflict
from reviews.views.access import AuthedRequest, get_project

MODALITY_LABELS = dict(Modality.choices)
MEANING_LABELS = dict(Meaning.choices)
# A reviewer's work on a project is over once the project has ended.
ENDED_STATUSES = frozenset({ProjectStatus.APPROVED, ProjectStatus.REJECTED, ProjectStatus.WITHDRAWN})


# ---- admin: the project's assignments ------------------------------------------------------


def _assignable_project(request: AuthedRequest, pk: int) -> Project:
    """404 for whoever may not see the project; 403 for those who see it but may not assign."""
    project = get_project(request, pk)
    if not request.user.has_perm("reviews.assign_reviewers", project):
        raise PermissionDenied(
            "reviewers are assigned by an administrator, once the project is submitted and until it is withdrawn"
        )
    return project


@dataclass
class SuggestionRow:
    suggestion: Any  # reviews.selectors.review.Suggestion
    form: AssignForm


@dataclass
class AssignmentRow:
    assignment: Assignment
    form: RemoveForm | None


def _render_assignments(
    request: AuthedRequest,
    project: Project,
    *,
    assign_form: AssignForm | None = None,
    remove_form: RemoveForm | None = None,
    remove_pk: int | None = None,
    status: int = 200,
) -> HttpResponse:
    policy = policy_for(project.guideline_version_id)
    default_due = timezone.localdate() + timedelta(days=policy.review_days)
    posted_reviewer = assign_form.data.get("reviewer") if assign_form is not None else None
    candidates = reviewer_suggestions(project)
    # Errors of a reviewer without an Assign form of their own (a smuggled id, or one assigned
    # or deactivated meanwhile) show above the list, and a valid due date typed for them goes
    # into every row, so that it is not lost.
    orphan_errors = bool(
        assign_form is not None
        and assign_form.errors
        and not any(str(s.reviewer.pk) == str(posted_reviewer) and not s.assigned for s in candidates)
    )
    row_due = default_due
    if orphan_errors and assign_form is not None and "due_date" in assign_form.cleaned_data:
        row_due = assign_form.cleaned_data["due_date"]
    suggestions = []
    for suggestion in candidates:
        pk = suggestion.reviewer.pk
        form = (
            assign_form
            if assign_form is not None and str(posted_reviewer) == str(pk)
            else AssignForm(project=project, initial={"reviewer": pk, "due_date": row_due})
        )
        form.auto_id = f"id_assign_{pk}_%s"
        suggestions.append(SuggestionRow(suggestion, form))
    rows = []
    for assignment in project_assignments(project):
        removal: RemoveForm | None = None
        if assignment.is_active:
            removal = remove_form if remove_form is not None and assignment.pk == remove_pk else RemoveForm()
            removal.auto_id = f"id_remove_{assignment.pk}_%s"
        rows.append(AssignmentRow(assignment, removal))
    context = {
        "project": project,
        "rows": rows,
        "conflicts": [row.assignment for row in rows if row.assignment.is_active and row.assignment.has_conflict],
        "suggestions": suggestions,
        "orphan_form": assign_form if orphan_errors else None,
        "policy": policy,
        "default_due": default_due,
        "today": timezone.localdate(),
    }
    return render(request, "reviews/assignment_list.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def assignment_list(request: AuthedRequest, pk: int) -> HttpResponse:
    project = _assignable_project(request, pk)
    if request.method != "POST":
        return _render_assignments(request, project)
    form = AssignForm(request.POST, project=project)
    if not form.is_valid():
        return _render_assignments(request, project, assign_form=form, status=400)
    reviewer: User = form.cleaned_data["reviewer"]
    try:
        assignment = assignment_create(
            actor=request.user, project=project, reviewer=reviewer, due_date=form.cleaned_data["due_date"]
        )
    except TransitionConflict as exc:
        form.add_error(None, str(exc))
        return _render_assignments(request, project, assign_form=form, status=409)
    except ValueError as exc:
        form.add_error(None, str(exc))
        return _render_assignments(request, project, assign_form=form, status=400)
    messages.success(
        request,
        f"{reviewer.display_name} is invited to review, due {assignment.due_date:%d %B %Y}. "
        "They accept or decline, and declare any conflict, before they see the material.",
    )
    return redirect("assignment-list", pk=project.pk)


@login_required
@require_POST
def assignment_remove_view(request: AuthedRequest, pk: int, assignment_pk: int) -> HttpResponse:
    project = _assignable_project(request, pk)
    assignment = get_object_or_404(Assignment.objects.select_related("reviewer"), pk=assignment_pk, project=project)
    form = RemoveForm(request.POST)
    if form.is_valid():
        try:
            assignment_remove(actor=request.user, assignment=assignment, reason=form.cleaned_data["reason"])
        except TransitionConflict as exc:
            messages.error(request, str(exc))
        except ValueError as exc:
            form.add_error("reason", str(exc))
        else:
            messages.success(
                request,
                f"{assignment.reviewer.display_name} was removed from this project. "
                "Assign another reviewer from the suggestions if the review needs one.",
            )
    if form.errors:
        return _render_assignments(request, project, remove_form=form, remove_pk=assignment.pk, status=400)
    return redirect("assignment-list", pk=project.pk)


# ---- the reviewer: invitation, response, conflicts ----------------------------------------


def _own_assignment(request: AuthedRequest, pk: int) -> tuple[Project, Assignment, bool]:
    """The project and the user's latest assignment on it, and whether it is theirs to answer.

    Someone never invited to the project gets a 404: not even its title shows. A reviewer
    who declined or was removed sees their response and nothing of the material.
    """
    project = get_object_or_404(Project.objects.select_related("owner", "guideline_version"), pk=pk)
    assignment = (
        Assignment.objects.filter(project=project, reviewer_id=request.user.pk).order_by("-assigned_at", "-pk").first()
    )
    if assignment is None:
        raise Http404("No such invitation")
    can_respond = request.user.has_perm("reviews.respond_assignment", project)
    if assignment.is_active and not can_respond:
        raise Http404("No such invitation")
    return project, assignment, can_respond


def _render_invitation(
    request: AuthedRequest,
    project: Project,
    assignment: Assignment,
    can_respond: bool,
    *,
    accept_form: AcceptForm | None = None,
    decline_form: DeclineForm | None = None,
    conflict_form: ConflictForm | None = None,
    status: int = 200,
) -> HttpResponse:
    invited = can_respond and assignment.status == AssignmentStatus.INVITED
    accepted = can_respond and assignment.status == AssignmentStatus.ACCEPTED
    context = {
        "project": project,
        "assignment": assignment,
        "show_details": can_respond,
        "modalities": [MODALITY_LABELS.get(code, code) for code in project.modalities],
        "accept_form": (accept_form or AcceptForm()) if invited else None,
        "decline_form": (decline_form or DeclineForm()) if invited else None,
        "conflict_form": (conflict_form or ConflictForm()) if accepted and not assignment.has_conflict else None,
        "can_open_project": accepted,
    }
    return render(request, "reviews/assignment_respond.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def assignment_respond_view(request: AuthedRequest, pk: int) -> HttpResponse:
    project, assignment, can_respond = _own_assignment(request, pk)
    if request.method != "POST":
        return _render_invitation(request, project, assignment, can_respond)
    if not can_respond:
        closed = (
            (assignment.removed_reason if assignment.removed_reason.startswith("Round ") else "")
            or "An administrator withdrew this invitation."
            if assignment.status == AssignmentStatus.REMOVED
            else f"You already {assignment.get_status_display().lower()} this invitation."
        )
        messages.error(request, f"{closed} Nothing was changed.")
        return redirect("assignment-respond", pk=project.pk)
    decision = request.POST.get("decision")
    if decision == "accept":
        return _accept(request, project, assignment)
    if decision == "decline":
        return _decline(request, project, assignment)
    messages.error(request, "Choose “Accept” or “Decline”.")
    # Nothing typed is lost: both forms show again what was posted, unvalidated.
    typed = {name: request.POST.get(name, "") for name in ("conflict", "conflict_statement", "decline_reason")}
    return _render_invitation(
        request,
        project,
        assignment,
        can_respond,
        accept_form=AcceptForm(initial=typed),
        decline_form=DeclineForm(initial=typed),
        status=400,
    )


def _accept(request: AuthedRequest, project: Project, assignment: Assignment) -> HttpResponse:
    form = AcceptForm(request.POST)
    if not form.is_valid():
        return _render_invitation(request, project, assignment, True, accept_form=form, status=400)
    statement = form.cleaned_data["conflict_statement"] if form.cleaned_data["conflict"] == CONFLICT_DECLARE else ""
    try:
        assignment_respond(actor=request.user, project=project, accept=True, conflict_statement=statement)
    except TransitionConflict as exc:
        messages.error(request, str(exc))
        return redirect("assignment-respond", pk=project.pk)
    notification_mark_read_for(user=request.user, project=project, kind=NotificationKind.ASSIGNED)
    if statement:
        messages.warning(
            request,
            "You accepted and declared a conflict of interest. You can read the project, but not review or sign "
            "it; the administrators were told and may reassign the review.",
        )
    else:
        messages.success(request, "You accepted the review. The project's material is open to you.")
    return redirect(project)


def _decline(request: AuthedRequest, project: Project, assignment: Assignment) -> HttpResponse:
    form = DeclineForm(request.POST)
    if not form.is_valid():
        return _render_invitation(request, project, assignment, True, decline_form=form, status=400)
    try:
        assignment_respond(
            actor=request.user, project=project, accept=False, decline_reason=form.cleaned_data["decline_reason"]
        )
    except TransitionConflict as exc:
        messages.error(request, str(exc))
        return redirect("assignment-respond", pk=project.pk)
    notification_mark_read_for(user=request.user, project=project, kind=NotificationKind.ASSIGNED)
    messages.info(request, f"You declined the review of “{project.title}”. The administrators were told.")
    return redirect("my-reviews")


@login_required
@require_POST
def conflict_declare_view(request: AuthedRequest, pk: int) -> HttpResponse:
    project = get_project(request, pk)
    if not request.user.has_perm("reviews.respond_assignment", project):
        raise PermissionDenied("only a reviewer assigned to this project declares a conflict of interest on it")
    _project, assignment, can_respond = _own_assignment(request, pk)
    if assignment.status != AssignmentStatus.ACCEPTED or assignment.has_conflict:
        # The page shows no declaration form then, so a form error would show nowhere: say why.
        messages.error(
            request,
            "You have already declared a conflict on this project."
            if assignment.has_conflict
            else "You have no accepted assignment on this project.",
        )
        return redirect("assignment-respond", pk=project.pk)
    form = ConflictForm(request.POST)
    if form.is_valid():
        try:
            assignment_declare_conflict(actor=request.user, project=project, statement=form.cleaned_data["statement"])
        except TransitionConflict as exc:
            messages.error(request, str(exc))
        except ValueError as exc:
            form.add_error("statement", str(exc))
        else:
            messages.warning(
                request,
                "Your conflict of interest is recorded. You can no longer review or sign this project; "
                "the administrators were told.",
            )
    if form.errors:
        return _render_invitation(request, project, assignment, can_respond, conflict_form=form, status=400)
    return redirect("assignment-respond", pk=project.pk)


# ---- the reviewer's dashboard -------------------------------------------------------------


def _reviewer_assignments(user: User) -> QuerySet[Assignment]:
    """Every assignment of the reviewer with, for the project's latest round, whether they
    submitted their review and how they signed it: one query, whatever the number of rows."""
    latest = Round.objects.filter(project=OuterRef("project")).order_by("-number")
    in_latest = {"round__project": OuterRef("project"), "round__number": OuterRef("round_number")}
    review = RoundReview.objects.filter(reviewer=user, **in_latest)
    draft = ReviewDraft.objects.filter(reviewer=user, **in_latest)
    signature = Signature.objects.filter(signer=user, **in_latest)
    return (
        Assignment.objects.filter(reviewer=user)
        .select_related("project__owner")
        .annotate(round_number=Subquery(latest.values("number")[:1]))
        .annotate(
            review_submitted_at=Subquery(review.values("submitted_at")[:1]),
            review_started=Subquery(review.values("pk")[:1]),
            draft_started=Subquery(draft.values("pk")[:1]),
            signed_meaning=Subquery(signature.values("meaning")[:1]),
            signed_at=Subquery(signature.values("signed_at")[:1]),
        )
        .order_by("due_date", "pk")
    )


@dataclass
class ReviewRow:
    assignment: Assignment

    @property
    def project(self) -> Project:
        return self.assignment.project

    @property
    def round_number(self) -> int | None:
        return getattr(self.assignment, "round_number", None)

    @property
    def signed_meaning(self) -> str:
        meaning = getattr(self.assignment, "signed_meaning", None)
        return MEANING_LABELS.get(meaning, meaning) if meaning else ""

    @property
    def signed_at(self) -> Any:
        return getattr(self.assignment, "signed_at", None)

    @property
    def review_submitted_at(self) -> Any:
        return getattr(self.assignment, "review_submitted_at", None)

    @property
    def review_started(self) -> bool:
        return any(getattr(self.assignment, name, None) is not None for name in ("review_started", "draft_started"))

    @property
    def under_review(self) -> bool:
        return self.project.status in UNDER_REVIEW_STATUSES and self.round_number is not None

    @property
    def overdue(self) -> bool:
        return self.assignment.is_overdue and self.under_review and not self.signed_meaning


FINISHED_PER_PAGE = 20
SEARCH_FROM = 5


def _matches(signature: Signature, words: list[str]) -> bool:
    title = signature.round.project.title.lower()
    return all(word in title for word in words)


@login_required
def my_reviews(request: AuthedRequest) -> HttpResponse:
    """The reviewer's invitations, accepted reviews and finished work, searchable and sorted by
    reviews.filters.MyReviewsFilter; the finished part is paged (in memory: one query in all)."""
    filterset = MyReviewsFilter(request.GET, queryset=_reviewer_assignments(request.user), request=request)
    invitations, current, finished = [], [], []
    for assignment in filterset.page_rows():
        row = ReviewRow(assignment)
        if assignment.status == AssignmentStatus.INVITED:
            invitations.append(row)
        elif assignment.status == AssignmentStatus.ACCEPTED and assignment.project.status not in ENDED_STATUSES:
            current.append(row)
        else:
            finished.append(row)
    if filterset.sort == filterset.default_sort:
        finished.sort(key=lambda row: row.assignment.responded_at or row.assignment.assigned_at, reverse=True)
    matching = len(invitations) + len(current) + len(finished)
    filtered = filterset.is_filtered or not filterset.is_valid()
    total = Assignment.objects.filter(reviewer=request.user).count() if filtered else matching
    finished_page = Paginator(finished, FINISHED_PER_PAGE).get_page(request.GET.get("page"))
    signed = signed_rounds(request.user)
    query = filterset.form.cleaned_data.get("q") if filterset.is_valid() else ""
    if query:
        words = query.lower().split()
        signed = [signature for signature in signed if _matches(signature, words)]
    context = {
        "filter": filterset,
        "active_filters": filterset.active(),
        "filter_errors": not filterset.is_valid(),
        "matching": matching,
        "total": total,
        # A handful of reviews need no search bar; it shows once the list can grow long.
        "show_filters": filtered or total > SEARCH_FROM,
        "invitations": invitations,
        "current": current,
        "finished": finished_page.object_list,
        "finished_page": finished_page,
        "finished_count": len(finished),
        "signed": signed,
        "today": timezone.localdate(),
    }
    return render(request, "reviews/my_reviews.html", context)
