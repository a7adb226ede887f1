"""A reviewer's work on one round: the frozen checklist with verdicts, the overclaim check,
audit waivers; and, for everyone who sees the project, what changed since the round before.

Views read through selectors and write through reviews.services.review; a refused
transition is a message (409 for a conflict, 400 for a form error), never a server error.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import PermissionDenied
from django.db.models import FilteredRelation, OuterRef, Q, Subquery
from django.http import Http404, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template import engines
from django.template.loader import get_template
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_http_methods, require_POST

from audits.selectors import AUDIT_LABELS, AUDITS, AuditSummary, round_audits, run_metrics
from audits.thresholds import metric_labels, threshold_labels
from reviews.enums import (
    OVERCLAIM_ITEMS,
    UNDER_REVIEW_STATUSES,
    AssignmentStatus,
    Outcome,
    Verdict,
)
from reviews.forms.review import ItemControls, ReviewForm, WaiverForm
from reviews.models import (
    Assignment,
    EvidenceFile,
    GuidelineItem,
    ItemReview,
    Project,
    Round,
    RoundReview,
    User,
)
from reviews.models.review import ReviewDraft
from reviews.rules import is_admin
from reviews.selectors.carry import CarryForward, PreviousVerdict, carry_forward
from reviews.selectors.diff import diff_audits, diff_snapshots
from reviews.selectors.review import WAIVABLE, PolicyStatus, policy_status, reviews_with_own
from reviews.services.review import (
    ReviewIncomplete,
    TransitionConflict,
    audit_waive,
    review_draft_save,
    round_review_save,
)
from reviews.templatetags.review_tags import render_markdown
from reviews.views.access import AuthedRequest, get_project

# The buttons of the review form (the `action` posted).
REVIEW_ACTIONS = frozenset({"save", "accept_rest", "submit"})
# The catalogue items of the overclaim check: the declared phase, the claims matrix, the check itself.


def project_round(project: Project, number: int, *, draft_of: User | None = None, version_set: bool = True) -> Round:
    """A round of the project (404 for any other), with what its pages show beside it: its
    version's sign-off policy (policy_status) and the project's latest round number
    (latest_round_number) come in the same query, and with `draft_of` that user's own review
    draft of it (_own_draft; drafts are only ever read by their author). `version_set=False`
    leaves out the version's guideline set, which the review page does not show (one join
    fewer to plan: the query joins seven tables)."""
    latest = Round.objects.filter(project=OuterRef("project")).order_by("-number").values("number")[:1]
    related = ["submitted_by", "guideline_version__policy", "outcome", "outcome__decided_by"]
    if version_set:
        related.append("guideline_version__guideline_set")
    rounds = Round.objects.select_related(*related).annotate(latest_number=Subquery(latest))
    if draft_of is not None:  # at most one row: one draft per reviewer and round
        mine = FilteredRelation("review_drafts", condition=Q(review_drafts__reviewer=draft_of))
        # django-stubs checks select_related against model fields only, not FilteredRelation aliases.
        rounds = rounds.annotate(viewer_draft=mine).select_related("viewer_draft")  # type: ignore[misc]
    round_ = get_object_or_404(rounds, project=project, number=number)
    if draft_of is not None:
        round_.__dict__.setdefault("viewer_draft", None)  # select_related sets it only when found
    round_.project = project  # the selectors read the owner from it: no second query
    return round_


def latest_round_number(project: Project, round_: Round | None = None) -> int | None:
    """The project's latest round number: read with `round_` when project_round loaded it."""
    if round_ is not None and "latest_number" in round_.__dict__:
        return round_.__dict__["latest_number"]
    return Round.objects.filter(project=project).order_by("-number").values_list("number", flat=True).first()


def round_state(project: Project, round_: Round, latest: int | None) -> str:
    """Why a round can (not) be acted on: "open", "superseded" or "closed"."""
    if latest is not None and latest != round_.number:
        return "superseded"
    return "open" if project.status in UNDER_REVIEW_STATUSES else "closed"


# ---- the frozen checklist of a round, as reviewers read it -----------------------------------


@dataclass
class FileLink:
    name: str
    sha256: str
    size: int
    evidence_pk: int | None  # the stored file with these bytes, when it still exists


# Bootstrap colour of each verdict, wherever a verdict shows.
VERDICT_COLOUR = {Verdict.ACCEPTABLE: "success", Verdict.CONCERN: "warning", Verdict.MUST_CHANGE: "danger"}


@dataclass
class OtherVerdict:
    reviewer: User
    entry: ItemReview

    @property
    def colour(self) -> str:
        return VERDICT_COLOUR.get(Verdict(self.entry.verdict), "secondary")


@dataclass
class ReviewRow:
    entry: dict[str, Any]
    item: GuidelineItem | None
    files: list[FileLink]
    audit: AuditSummary | None = None
    audit_status: str = ""
    controls: ItemControls | None = None  # the viewer's verdict and comment controls, when editable
    own: ItemReview | None = None
    others: list[OtherVerdict] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # what changed since the round before, in words
    previous: PreviousVerdict | None = None  # the viewer's own verdict on it in the round before
    evidence_html: str = ""  # the frozen evidence text as safe HTML (frozen_evidence_html)
    frozen_html: str = ""  # the review page's frozen left column as safe HTML (frozen_rows_html)

    @property
    def code(self) -> str:
        return str(self.entry["item"])

    @property
    def own_colour(self) -> str:
        return VERDICT_COLOUR.get(Verdict(self.own.verdict), "secondary") if self.own is not None else "secondary"


@dataclass
class ReviewStage:
    code: str
    name: str
    rows: list[ReviewRow]


def _file_links(project: Project, answers: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """(item code, sha256) -> EvidenceFile pk, and ("", sha256) for the same bytes on any item."""
    digests = {f["sha256"] for entry in answers for f in entry.get("files") or []}
    if not digests:
        return {}
    links: dict[tuple[str, str], int] = {}
    rows = EvidenceFile.objects.filter(answer__project=project, sha256__in=digests).values_list(
        "pk", "sha256", "answer__item__code"
    )
    for pk, sha256, code in rows.order_by("pk"):
        links.setdefault((code, sha256), pk)
        links.setdefault(("", sha256), pk)
    return links


# The frozen answers' evidence, rendered from Markdown, per round: a round's snapshot never
# changes (its digest is the SHA-256 of it), so its rendering is the same for every viewer and
# every request; rendering ~50 answers' Markdown was a third of the review page's time
# (issue 13). Kept in each process's memory, not the shared cache, so that a new release
# never serves a rendering of the old code; at most 32 rounds (a few hundred KB each at most).
_FROZEN_EVIDENCE = LocMemCache("misyn-frozen-evidence", {"TIMEOUT": None, "OPTIONS": {"MAX_ENTRIES": 32}})


def frozen_evidence_html(round_: Round) -> dict[str, SafeString]:
    """Item code -> the round's frozen evidence text as sanitised HTML (render_markdown)."""
    key = f"{round_.pk}:{round_.digest}"
    rendered: dict[str, SafeString] | None = _FROZEN_EVIDENCE.get(key)
    if rendered is None:
        rendered = {
            entry["item"]: render_markdown(entry["evidence_text"])
            for entry in round_.snapshot.get("answers") or []
            if entry.get("evidence_text")
        }
        _FROZEN_EVIDENCE.set(key, rendered)
    return rendered


# The review page's left column of each row (the item, the frozen answer and evidence, the file
# links, the bound audit's result), rendered once per round and process: it is the same for
# every viewer of the round; only the "changed since" note before it is the viewer's own, and
# it stays in the page's template. Keyed by everything it shows that is not in the snapshot
# (file links, audit results, the catalogue items, the script prefix): a change to any of them
# is a new entry. At most 64 entries (a few hundred KB each at most).
_FROZEN_ROWS = LocMemCache("misyn-frozen-rows", {"TIMEOUT": None, "OPTIONS": {"MAX_ENTRIES": 64}})


def frozen_rows_html(project: Project, round_: Round, stages: list[ReviewStage]) -> None:
    """Set each row's frozen_html (reviews/_review_row_frozen.html for that row)."""
    rows = [row for stage in stages for row in stage.rows]
    shown = [
        (
            row.code,
            (row.item.pk, row.item.requirement, row.item.audit) if row.item is not None else None,
            [f.evidence_pk for f in row.files],
            row.audit_status,
            (row.audit.status, row.audit.summary, row.audit.url) if row.audit is not None else None,
        )
        for row in rows
    ]
    fingerprint = hashlib.sha256(repr(shown).encode()).hexdigest()
    key = f"{round_.pk}:{round_.digest}:{project.pk}:{get_script_prefix()}:{get_urlconf()}:{fingerprint}"
    rendered: list[str] | None = _FROZEN_ROWS.get(key)
    if rendered is None or len(rendered) != len(rows):
        template = get_template("reviews/_review_row_frozen.html")
        # The file ends with a newline that the page's template did not have there.
        rendered = [str(template.render({"row": row, "project": project})).removesuffix("\n") for row in rows]
        _FROZEN_ROWS.set(key, rendered)
    for row, html in zip(rows, rendered, strict=True):
        row.frozen_html = SafeString(html)


def frozen_checklist(
    project: Project,
    round_: Round,
    *,
    status: PolicyStatus | None = None,
    form: ReviewForm | None = None,
    own: RoundReview | None = None,
    others: list[RoundReview] | None = None,
    items: list[GuidelineItem] | None = None,
) -> tuple[list[ReviewStage], dict[str, GuidelineItem]]:
    """The round's answers by stage, as frozen, each with its item, files, bound audit result
    and the verdicts the viewer may see. A fixed number of queries whatever the size."""
    snapshot = round_.snapshot
    answers = list(snapshot.get("answers") or [])
    by_code = {item.code: item for item in (items if items is not None else _version_items(round_))}
    links = _file_links(project, answers)
    evidence = frozen_evidence_html(round_)
    controls = form.controls() if form is not None else {}
    mine = {entry.item_id: entry for entry in own.items.all()} if own is not None else {}
    theirs: dict[int, list[OtherVerdict]] = {}
    for review in others or []:
        for entry in review.items.all():
            theirs.setdefault(entry.item_id, []).append(OtherVerdict(review.reviewer, entry))
    audits = {entry.audit: entry for entry in status.audits.audits} if status is not None else {}
    stages: dict[str, ReviewStage] = {}
    for entry in answers:
        item = by_code.get(entry["item"])
        stage = stages.get(entry["stage"])
        if stage is None:
            name = item.stage.name if item is not None else entry["stage"]
            stage = stages[entry["stage"]] = ReviewStage(entry["stage"], name, [])
        files = [
            FileLink(
                f.get("name", ""),
                f.get("sha256", ""),
                int(f.get("size") or 0),
                links.get((entry["item"], f.get("sha256", "")), links.get(("", f.get("sha256", "")))),
            )
            for f in entry.get("files") or []
        ]
        row = ReviewRow(
            entry=entry,
            item=item,
            files=files,
            controls=controls.get(entry["item"]),
            evidence_html=evidence.get(entry["item"], SafeString("")),
        )
        if item is not None:
            row.own = mine.get(item.pk)
            row.others = theirs.get(item.pk, [])
            if item.audit and status is not None:
                row.audit = audits.get(item.audit)
                row.audit_status = status.status_of(item.audit)
        stage.rows.append(row)
    return list(stages.values()), by_code


# ---- the review page ---------------------------------------------------------------------


@dataclass
class ReviewAccess:
    may_post: bool  # a conflict-free, accepted reviewer (perm reviews.review_project)
    reason: str = ""  # why the page is read-only for this viewer, if it is


def _review_access(request: AuthedRequest, project: Project) -> ReviewAccess:
    user = request.user
    if user.has_perm("reviews.review_project", project):
        return ReviewAccess(may_post=True)
    if is_admin(user):
        return ReviewAccess(False, "Administrators read the reviews; only the assigned reviewers write them.")
    assignment = Assignment.objects.filter(project=project, reviewer=user, status=AssignmentStatus.ACCEPTED).first()
    if assignment is not None and assignment.has_conflict:
        return ReviewAccess(
            False,
            f"You declared a conflict of interest on this project: “{assignment.conflict_statement}”. "
            "You can read the round but not review or sign it; an administrator can reassign the review.",
        )
    raise PermissionDenied("only the reviewers assigned to this project review its rounds")


def _own_draft(round_: Round, user: User) -> ReviewDraft | None:
    """The viewer's own draft: drafts are only ever read by their author. Read with the round
    when project_round was asked for it (draft_of, on a GET: a post saves the draft first)."""
    if "viewer_draft" in round_.__dict__:
        draft: ReviewDraft | None = round_.__dict__["viewer_draft"]
        return draft if draft is None or draft.reviewer_id == user.pk else None
    return ReviewDraft.objects.filter(round=round_, reviewer=user).first()


def _starting_values(
    draft: ReviewDraft | None, own: RoundReview | None, carry: CarryForward | None, items: list[GuidelineItem]
) -> dict[str, Any]:
    """What the review form shows: the draft as last typed, else the verdicts saved in this
    round, else the reviewer's round-N work carried forward (changed items left undecided)."""
    if draft is not None:
        return dict(draft.data)
    if own is not None and (own.items.all() or own.declared_phase is not None or own.overclaim):
        return _initial(own, items)
    return dict(carry.initial) if carry is not None else {}


def _initial(review: RoundReview | None, items: list[GuidelineItem]) -> dict[str, Any]:
    if review is None:
        return {}
    by_item = {entry.item_id: entry for entry in review.items.all()}
    initial: dict[str, Any] = {
        "declared_phase": review.declared_phase,
        "overclaim": review.overclaim,
        "overclaim_note": review.overclaim_note,
    }
    for item in items:
        entry = by_item.get(item.pk)
        if entry is not None:
            initial[ReviewForm.verdict_name(item)] = entry.verdict
            initial[ReviewForm.comment_name(item)] = entry.comment
    return initial


# The items of a published guideline version, with their stages, per process: a published
# version's stages and items can no longer change (models.catalogue._FrozenWhenPublished), and
# every round is frozen against a published version. Keyed by the version's id and publication
# time; a draft's items are read afresh on every request. At most 16 versions (~50 items each).
# The same instances serve every request (the pages only read them; a LocMemCache unpickled
# ~90 model instances per request, 0.6 ms of the review page, issue 13): the list is copied.
_PUBLISHED_ITEMS: OrderedDict[str, tuple[GuidelineItem, ...]] = OrderedDict()
_PUBLISHED_ITEMS_SIZE = 16
_PUBLISHED_ITEMS_LOCK = threading.Lock()


def _version_items(round_: Round) -> list[GuidelineItem]:
    version = round_.guideline_version
    key = f"{version.pk}:{version.published_at.isoformat()}" if version.is_published and version.published_at else ""
    if key:
        with _PUBLISHED_ITEMS_LOCK:
            found = _PUBLISHED_ITEMS.get(key)
            if found is not None:
                _PUBLISHED_ITEMS.move_to_end(key)
                return list(found)
    items = list(
        GuidelineItem.objects.filter(version=version.pk).select_related("stage").order_by("stage__order", "order")
    )
    if key:
        with _PUBLISHED_ITEMS_LOCK:
            _PUBLISHED_ITEMS[key] = tuple(items)
            while len(_PUBLISHED_ITEMS) > _PUBLISHED_ITEMS_SIZE:
                _PUBLISHED_ITEMS.popitem(last=False)
    return items


def _review_page(
    request: AuthedRequest,
    project: Project,
    round_: Round,
    *,
    access: ReviewAccess,
    form: ReviewForm | None = None,
    waiver_forms: dict[str, WaiverForm] | None = None,
    conflict: str = "",
    http_status: int = 200,
) -> HttpResponse:
    user = request.user
    # A post re-reads it: the round may have been superseded while the post was handled.
    latest = latest_round_number(project, round_ if request.method == "GET" else None)
    state = round_state(project, round_, latest)
    # The submitted reviews the viewer may read and the viewer's own, with their verdicts, in
    # one query (frozen_checklist matches the verdicts to `items`).
    visible, own_review = reviews_with_own(round_, user)
    own = own_review if access.may_post else None
    can_save = access.may_post and state == "open" and not (own is not None and own.is_submitted)
    # A refused post (a conflict: the round closed, the review was submitted elsewhere) still
    # shows the form with what was typed, so nothing is lost; only the buttons go.
    editable = can_save or (access.may_post and form is not None and form.is_bound)
    items = _version_items(round_)
    status = policy_status(round_, items=items)
    carry = carry_forward(round_, user, items, audits=status.audits) if can_save else None
    draft = _own_draft(round_, user) if can_save else None
    if editable and form is None:  # shown, never validated: without the ~90 item fields (controls() is enough)
        form = ReviewForm(initial=_starting_values(draft, own, carry, items), items=items, item_fields=False)
    others = [review for review in visible if review.reviewer_id != user.pk]
    stages, _ = frozen_checklist(
        project, round_, status=status, form=form if editable else None, own=own, others=others, items=items
    )
    frozen_rows_html(project, round_, stages)
    if carry is not None:
        for stage in stages:
            for row in stage.rows:
                row.changed = carry.changed.get(row.code, [])
                row.previous = carry.previous.get(row.code)
    answers = {entry["item"]: entry for entry in round_.snapshot.get("answers") or []}
    evidence = frozen_evidence_html(round_)
    forms_by_audit = waiver_forms or {}
    waivable = [
        {
            "audit": audit,
            "label": AUDIT_LABELS.get(audit, audit),
            "status": status.status_of(audit),
            "entry": next((a for a in status.audits.audits if a.audit == audit), None),
            "waiver": status.waivers.get(audit),
            "form": forms_by_audit.get(audit)
            or WaiverForm(prefix=f"waive-{audit}", initial={"seen": status.status_of(audit)}),
            "blank_html": "" if audit in forms_by_audit else blank_waiver_html(audit, status.status_of(audit)),
        }
        for audit in status.needs_waiver
    ]
    context = {
        "project": project,
        "round": round_,
        "latest_number": latest,
        "state": state,
        "access": access,
        "editable": editable,
        "can_save": can_save,
        "form": form if editable else None,
        "own": own,
        "others": others,
        "stages": stages,
        "status": status,
        "waivable": waivable,
        "can_waive": access.may_post and state == "open",
        "overclaim_answers": [(code, answers.get(code), evidence.get(code, "")) for code in OVERCLAIM_ITEMS],
        "conflict": conflict,
        "carry": carry,
        "draft": draft,
        "closed_by_request": _closed_by_request(round_) if state == "closed" else None,
        "tab": "round",
    }
    return render(request, "reviews/round_review.html", context, status=http_status)


@lru_cache(maxsize=64)
def blank_waiver_html(audit: str, seen: str) -> SafeString:
    """The fields of an audit's waiver form before anything is typed in it: the same for every
    reviewer and request (the CSRF token is outside them), so rendered once per process; the
    review page shows up to one per bound audit, and each crispy field costs a millisecond."""
    form = WaiverForm(prefix=f"waive-{audit}", initial={"seen": seen})
    # Not called `form` in this context: tests read the page's own form from the rendered contexts.
    fields = engines["django"].from_string(
        "{% load crispy_forms_tags %}{{ waiver_form.seen }}{{ waiver_form.reason|as_crispy_field }}"
    )
    return SafeString(fields.render({"waiver_form": form}))


def _closed_by_request(round_: Round) -> User | None:
    """Who ended the round by requesting changes, when that is how it ended."""
    outcome = getattr(round_, "outcome", None)
    if outcome is not None and outcome.outcome == Outcome.CHANGES_REQUESTED:
        return outcome.decided_by
    return None


def _accept_rest(data: QueryDict, items: list[GuidelineItem], *, changed: set[str]) -> tuple[QueryDict, int]:
    """The posted form with every undecided item marked acceptable (the reviewer's shortcut),
    except the items changed since the round before: those the reviewer decides one by one."""
    data = data.copy()
    marked = 0
    for item in items:
        name = ReviewForm.verdict_name(item)
        if not data.get(name) and item.code not in changed:
            data[name] = Verdict.ACCEPTABLE
            marked += 1
    return data, marked


def _save_typed_draft(request: AuthedRequest, round_: Round, data: QueryDict | None = None) -> None:
    """Keep what was typed on the review page before acting on it, so that nothing typed is
    lost whatever happens next. A draft that cannot be saved (the round closed meanwhile) is
    not an error here: the action that follows reports why, with the typed text kept."""
    with contextlib.suppress(TransitionConflict, ValueError, PermissionError):
        review_draft_save(actor=request.user, round_=round_, fields=request.POST if data is None else data)


@login_required
@require_http_methods(["GET", "POST"])
def round_review(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    project = get_project(request, pk)
    viewing = request.method != "POST"
    round_ = project_round(project, number, draft_of=request.user if viewing else None, version_set=not viewing)
    access = _review_access(request, project)
    if request.method != "POST":
        return _review_page(request, project, round_, access=access)
    if not access.may_post:
        raise PermissionDenied(access.reason or "only the reviewers assigned to this project review its rounds")
    action = request.POST.get("action", "save")  # no button (Enter in a field): save
    items = _version_items(round_)
    data: QueryDict = request.POST
    marked, skipped = 0, 0
    if action == "accept_rest":
        carry = carry_forward(round_, request.user, items)
        changed = set(carry.changed) if carry is not None else set()
        data, marked = _accept_rest(request.POST, items, changed=changed)
        skipped = sum(1 for item in items if item.code in changed and not data.get(ReviewForm.verdict_name(item)))
    _save_typed_draft(request, round_, data)
    form = ReviewForm(data, items=items, submitting=action == "submit")
    if action not in REVIEW_ACTIONS:
        form.is_valid()  # the other errors show too
        form.add_error(
            None, "Unknown action: choose “Save draft”, “Mark all undecided items acceptable” or “Submit review”."
        )
        return _review_page(request, project, round_, access=access, form=form, http_status=400)
    if not form.is_valid():
        messages.error(request, "Not saved: see the marked fields.")
        return _review_page(request, project, round_, access=access, form=form, http_status=400)
    try:
        round_review_save(
            actor=request.user,
            round_=round_,
            verdicts=form.verdicts(),
            declared_phase=form.cleaned_data["declared_phase"],
            overclaim=form.cleaned_data["overclaim"] or "",
            overclaim_note=form.cleaned_data["overclaim_note"] or "",
            submit=action == "submit",
        )
    except TransitionConflict as exc:
        return _review_page(request, project, round_, access=access, form=form, conflict=str(exc), http_status=409)
    except ReviewIncomplete as exc:
        form.add_error(None, "Not submitted: " + "; ".join(exc.problems) + ".")
        return _review_page(request, project, round_, access=access, form=form, http_status=400)
    except ValueError as exc:
        form.add_error(None, str(exc))
        return _review_page(request, project, round_, access=access, form=form, http_status=400)
    if action == "submit":
        messages.success(
            request,
            f"Review of round {round_.number} submitted; it can no longer change. "
            "The other reviewers' verdicts show on this page as they submit theirs. "
            "Sign your decision when you are ready.",
        )
    elif action == "accept_rest":
        left = (
            f" {skipped} item{'' if skipped == 1 else 's'} changed since the round before "
            f"{'is' if skipped == 1 else 'are'} left for you to decide."
            if skipped
            else ""
        )
        messages.success(
            request,
            f"Undecided items marked acceptable; draft saved. {marked} item{'' if marked == 1 else 's'} marked.{left} "
            "Submit the review when it is complete.",
        )
    else:
        messages.success(request, "Draft saved. Only you can see it until you submit the review.")
    return redirect("round-review", pk=project.pk, number=round_.number)


@login_required
@require_POST
def audit_waive_view(request: AuthedRequest, pk: int, number: int, audit: str) -> HttpResponse:
    project = get_project(request, pk, perm="reviews.review_project")
    round_ = project_round(project, number)
    if audit not in AUDITS:
        raise Http404("No such audit")
    # The review page sends its unsaved verdicts and comments with the waiver: keep them first.
    if request.POST.get("review_draft"):
        _save_typed_draft(request, round_)
    status = policy_status(round_)
    access = ReviewAccess(may_post=True)
    form = WaiverForm(request.POST, prefix=f"waive-{audit}")
    if audit not in status.needs_waiver or status.status_of(audit) not in WAIVABLE:
        messages.error(
            request,
            f"{AUDIT_LABELS.get(audit, audit)} did not fail and was computed in round {round_.number}: "
            "there is nothing to waive.",
        )
        return _review_page(request, project, round_, access=access, http_status=400)
    if not form.is_valid():
        return _review_page(request, project, round_, access=access, waiver_forms={audit: form}, http_status=400)
    try:
        audit_waive(
            actor=request.user,
            round_=round_,
            audit=audit,
            reason=form.cleaned_data["reason"],
            status=form.cleaned_data["seen"] or status.status_of(audit),
        )
    except TransitionConflict as exc:
        return _review_page(
            request, project, round_, access=access, waiver_forms={audit: form}, conflict=str(exc), http_status=409
        )
    except ValueError as exc:
        form.add_error("reason", str(exc))
        return _review_page(request, project, round_, access=access, waiver_forms={audit: form}, http_status=400)
    messages.success(request, f"{AUDIT_LABELS.get(audit, audit)} waived for round {round_.number}, with your reason.")
    return redirect(reverse("round-review", kwargs={"pk": project.pk, "number": round_.number}) + "#audits")


@login_required
@require_POST
def review_draft_view(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    """The review page's autosave: the reviewer's form as typed, kept as their private draft.

    The page sends its whole form and names the fields the reviewer changed (`changed_field`),
    so that an existing draft takes only those. Answers JSON for the page's script: 200 with
    the time saved, or 409 / 400 with the reason in words, shown beside the form (nothing the
    reviewer typed leaves their page).
    """
    project = get_project(request, pk, perm="reviews.review_project")
    round_ = project_round(project, number)
    try:
        draft = review_draft_save(
            actor=request.user, round_=round_, fields=request.POST, only=request.POST.getlist("changed_field") or None
        )
    except TransitionConflict as exc:
        return JsonResponse({"saved": False, "error": str(exc)}, status=409)
    except (ValueError, PermissionError) as exc:
        return JsonResponse({"saved": False, "error": f"Draft not saved: {exc}"}, status=400)
    return JsonResponse(
        {
            "saved": True,
            "saved_at": f"{draft.saved_at:%H:%M:%S}",
            "message": f"Draft saved {draft.saved_at:%H:%M:%S} UTC.",
        }
    )


# ---- what changed between two rounds -------------------------------------------------------


def _audit_side(round_: Round) -> tuple[dict[str, str], dict[str, dict[str, float]], str]:
    audits = round_audits(round_)
    return {audit: audits.status_of(audit) for audit in AUDITS}, run_metrics(audits.run), audits.state


@login_required
def round_diff(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    """The change from round N-1 to round N. Round 1 has nothing before it, and says so."""
    project = get_project(request, pk)
    round_ = project_round(project, number)
    # A reviewer who may review this round (it is the one under review) goes on to it from here.
    can_review = (
        request.user.has_perm("reviews.review_project", project)
        and project.status in UNDER_REVIEW_STATUSES
        and round_state(project, round_, latest_round_number(project, round_)) == "open"
    )
    context: dict[str, Any] = {
        "project": project,
        "round": round_,
        "previous": None,
        "can_review": can_review,
        "tab": "round",
    }
    if number > 1:
        previous = get_object_or_404(Round.objects.select_related("submitted_by"), project=project, number=number - 1)
        status_before, metrics_before, state_before = _audit_side(previous)
        status_after, metrics_after, state_after = _audit_side(round_)
        items = {
            item.code: item
            for item in GuidelineItem.objects.filter(version=round_.guideline_version_id).select_related("stage")
        }
        diff = diff_snapshots(previous.snapshot, round_.snapshot, threshold_labels=threshold_labels())
        context.update(
            previous=previous,
            diff=diff,
            items=items,
            audit_changes=diff_audits(
                audits=AUDIT_LABELS,
                status_before=status_before,
                status_after=status_after,
                metrics_before=metrics_before,
                metrics_after=metrics_after,
                metric_labels={audit: metric_labels(audit) for audit in AUDITS},
            ),
            audit_states=(state_before, state_after),
            changed=[(change, items.get(change.code)) for change in diff.changed_answers],
            unchanged=[(change, items.get(change.code)) for change in diff.unchanged_answers],
        )
    return render(request, "reviews/round_diff.html", context)
