"""The review workflow's services, one transition or policy rule per test: assignments and
responses, item reviews, audit waivers, signatures, the sign-off policy, revision rounds,
amendments and withdrawal.

Every test runs the real services on real rows (tests.workflow drives the steps a user
would click). After each test both hash chains must still verify.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db.models import Max
from django.utils import timezone

from audits.enums import RunStatus, SetRole
from audits.models import AuditRun, ImageSet
from reviews.enums import (
    Action,
    AnswerStatus,
    AssignmentStatus,
    AuditKind,
    ExpertiseKind,
    FinalDecision,
    Meaning,
    NotificationKind,
    Outcome,
    ProjectStatus,
    Verdict,
)
from reviews.models import (
    ActivityEntry,
    Assignment,
    AuditWaiver,
    GuidelineItem,
    ItemReview,
    Notification,
    Project,
    ReviewPolicy,
    Round,
    RoundOutcome,
    RoundReview,
    Signature,
)
from reviews.selectors.review import consolidated_feedback, policy_status, reviewer_suggestions, visible_reviews
from reviews.services.assignments import (
    assignment_create,
    assignment_declare_conflict,
    assignment_remove,
    assignment_respond,
)
from reviews.services.catalogue import guideline_version_new_draft
from reviews.services.chain import chain_verify
from reviews.services.decisions import (
    approve_if_policy_met,
    notify_resubmission,
    project_amend,
    project_withdraw,
    round_decide,
    round_sign,
)
from reviews.services.projects import answer_save, project_submit
from reviews.services.review import ReviewIncomplete, TransitionConflict, VerdictInput, audit_waive, round_review_save
from tests.factories import AdminFactory, ProjectFactory, ReviewerFactory
from tests.workflow import review, reviewers_on, sign, submitted, waive_all

WAIVER_REASON = "Judged on the written evidence; the images were checked by hand."


# ---- helpers -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _chains_hold(db) -> Iterator[None]:
    """Whatever a test did through the services, both hash chains verify afterwards."""
    yield
    assert list(chain_verify(ActivityEntry)) == []
    assert list(chain_verify(Signature)) == []


@contextmanager
def logged() -> Iterator[list[tuple[str, str]]]:
    """The (action, object type) of every activity row written inside the block, in order."""
    rows: list[tuple[str, str]] = []
    before = ActivityEntry.objects.aggregate(last=Max("seq"))["last"] or 0
    yield rows
    rows.extend(ActivityEntry.objects.filter(seq__gt=before).order_by("seq").values_list("action", "object_type"))


def notices(user, kind: str | None = None) -> list[Notification]:
    rows = Notification.objects.filter(recipient=user)
    return list(rows.filter(kind=kind) if kind else rows)


def reload(project: Project) -> Project:
    return Project.objects.get(pk=project.pk)


def verdicts_for(round_: Round, verdict: str = Verdict.ACCEPTABLE, comment: str = "") -> list[VerdictInput]:
    items = GuidelineItem.objects.filter(version=round_.guideline_version_id).order_by("stage__order", "order")
    return [VerdictInput(item=item, verdict=verdict, comment=comment) for item in items]


def save_review(round_: Round, reviewer, verdicts: list[VerdictInput], *, submit: bool, **overrides) -> RoundReview:
    fields = {"declared_phase": 2, "overclaim": "within", "overclaim_note": ""}
    fields.update(overrides)
    return round_review_save(actor=reviewer, round_=round_, verdicts=verdicts, submit=submit, **fields)


def ready_to_sign(round_: Round, *reviewers) -> None:
    """Each reviewer submits an all-acceptable review; the first waives what needs a waiver."""
    for reviewer in reviewers:
        review(round_, reviewer)
    waive_all(round_, reviewers[0])


def approved_project(project: Project, admin) -> tuple[Round, tuple]:
    round_ = submitted(project)
    team = reviewers_on(project, admin=admin)
    ready_to_sign(round_, *team)
    for reviewer in team:
        sign(round_, reviewer)
    assert reload(project).status == ProjectStatus.APPROVED
    return round_, team


ALL_AUDITS = [kind.value for kind in AuditKind]


def with_images(project: Project) -> ImageSet:
    """A current synthetic image set, as an upload leaves it (files already checked)."""
    return ImageSet.objects.create(
        project=project, role=SetRole.SYNTHETIC, uploaded_by=project.owner, digest="a" * 64, n_files=3, n_accepted=3
    )


def finish_run(round_: Round, statuses: dict[str, str]) -> AuditRun:
    """The run queued at submission finishes, as a worker would leave it, with these statuses."""
    run = AuditRun.objects.get(project=round_.project, input_digest=round_.snapshot["audit_input_digest"])
    results = {audit: {"status": status, "summary": f"{audit} is {status}."} for audit, status in statuses.items()}
    AuditRun.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED, results=results, progress=100, started_at=timezone.now(), finished_at=timezone.now()
    )
    return run


def set_policy(project: Project, **fields) -> ReviewPolicy:
    policy, _ = ReviewPolicy.objects.update_or_create(version=project.guideline_version, defaults=fields)
    return policy


@pytest.fixture
def round1(project) -> Round:
    return submitted(project)


@pytest.fixture
def imaged(project, admin_user) -> tuple[Round, tuple]:
    """Round 1 of a project with an image set (its audit run queued), and two accepted reviewers."""
    with_images(project)
    round_ = submitted(project)
    return round_, reviewers_on(project, admin=admin_user)


@pytest.fixture
def team(project, round1, admin_user):
    """A technical and a clinical reviewer who accepted, no conflicts."""
    return reviewers_on(project, admin=admin_user)


# ---- assignments ---------------------------------------------------------------------------


def test_an_assignment_invites_the_reviewer_with_the_policy_due_date_logs_and_notifies(
    project, round1, admin_user, reviewer
):
    with logged() as rows:
        assignment = assignment_create(actor=admin_user, project=project, reviewer=reviewer)

    assert rows == [(Action.ASSIGN, "reviews.assignment")]
    assert assignment.status == AssignmentStatus.INVITED and assignment.assigned_by == admin_user
    assert assignment.due_date == timezone.localdate() + timedelta(days=21)  # the default policy
    [invitation] = notices(reviewer)
    assert invitation.kind == NotificationKind.ASSIGNED
    assert project.title in invitation.subject and "Accept or decline" in invitation.body
    assert reload(project).status == ProjectStatus.SUBMITTED  # nobody has accepted yet


def test_the_due_date_follows_the_versions_policy_unless_given(project, round1, admin_user):
    set_policy(project, review_days=10)
    first, second = ReviewerFactory(), ReviewerFactory()
    assert assignment_create(actor=admin_user, project=project, reviewer=first).due_date == (
        timezone.localdate() + timedelta(days=10)
    )
    chosen = timezone.localdate() + timedelta(days=3)
    assert assignment_create(actor=admin_user, project=project, reviewer=second, due_date=chosen).due_date == chosen
    with pytest.raises(ValueError, match="in the past"):
        assignment_create(
            actor=admin_user, project=project, reviewer=ReviewerFactory(), due_date=timezone.localdate() - timedelta(1)
        )


@pytest.mark.parametrize("who", ["owner", "other_researcher", "admin", "inactive_reviewer"])
def test_only_active_reviewers_are_assigned_never_the_owner(project, round1, admin_user, other_researcher, who):
    candidate = {
        "owner": project.owner,
        "other_researcher": other_researcher,
        "admin": AdminFactory(),
        "inactive_reviewer": ReviewerFactory(is_active=False),
    }[who]
    with pytest.raises(ValueError, match=r"not an active reviewer|own project"):
        assignment_create(actor=admin_user, project=project, reviewer=candidate)
    assert not Assignment.objects.exists() and not Notification.objects.filter(kind="assigned").exists()


def test_a_reviewer_who_owns_the_project_is_not_assigned_to_it(catalogue, admin_user):
    # Only researchers create projects, but a role can change after the fact.
    reviewer = ReviewerFactory()
    project = ProjectFactory(owner=reviewer, guideline_version=catalogue, status=ProjectStatus.SUBMITTED)
    with pytest.raises(ValueError, match="own project"):
        assignment_create(actor=admin_user, project=project, reviewer=reviewer)


def test_a_reviewer_is_assigned_once_at_a_time(project, round1, admin_user, reviewer):
    first = assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    with pytest.raises(TransitionConflict, match="already assigned"):
        assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    assert Assignment.objects.count() == 1 and len(notices(reviewer)) == 1

    # Once removed, they can be invited again: a new assignment and a new invitation.
    assignment_remove(actor=admin_user, assignment=first, reason="Wrong person.")
    second = assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    assert second.pk != first.pk and len(notices(reviewer, NotificationKind.ASSIGNED)) == 2


@pytest.mark.parametrize("status", [ProjectStatus.DRAFT, ProjectStatus.WITHDRAWN])
def test_nobody_is_assigned_to_a_draft_or_withdrawn_project(catalogue, admin_user, reviewer, status):
    project = ProjectFactory(guideline_version=catalogue, status=status)
    with pytest.raises(TransitionConflict, match=status.label.lower()):
        assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    assert not Assignment.objects.exists()


# ---- responding ---------------------------------------------------------------------------


def test_accepting_puts_the_project_in_review_and_tells_the_admins(project, round1, admin_user, reviewer):
    assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    assert not reviewer.has_perm("reviews.view_project", project)  # invited: no material yet
    assert reviewer.has_perm("reviews.respond_assignment", project)

    with logged() as rows:
        assignment = assignment_respond(actor=reviewer, project=project, accept=True)

    assert rows == [(Action.RESPOND, "reviews.assignment")]
    assert assignment.status == AssignmentStatus.ACCEPTED and assignment.responded_at is not None
    assert not assignment.has_conflict
    assert reload(project).status == ProjectStatus.IN_REVIEW
    entry = ActivityEntry.objects.get(action=Action.RESPOND)
    assert entry.new["project_status"] == ProjectStatus.IN_REVIEW
    [notice] = notices(admin_user, NotificationKind.RESPONDED)
    assert reviewer.display_name in notice.subject and "accepted" in notice.subject
    # The same project instance answers from the new row, not from a cached invitation.
    assert reviewer.has_perm("reviews.view_project", project)
    assert reviewer.has_perm("reviews.review_project", project)


def test_declining_keeps_the_project_waiting_and_hides_it(project, round1, admin_user, reviewer):
    assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    with logged() as rows:
        assignment = assignment_respond(actor=reviewer, project=project, accept=False, decline_reason="On leave.")
    assert rows == [(Action.RESPOND, "reviews.assignment")]
    assert assignment.status == AssignmentStatus.DECLINED and assignment.decline_reason == "On leave."
    assert reload(project).status == ProjectStatus.SUBMITTED
    [notice] = notices(admin_user, NotificationKind.RESPONDED)
    assert "declined" in notice.subject and "On leave." in notice.body
    assert not reviewer.has_perm("reviews.view_project", project)
    assert not reviewer.has_perm("reviews.respond_assignment", project)


def test_responding_twice_is_a_conflict_that_names_the_first_answer(project, round1, admin_user):
    accepting, declining = ReviewerFactory(), ReviewerFactory()
    for reviewer in (accepting, declining):
        assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    assignment_respond(actor=accepting, project=project, accept=True)
    assignment_respond(actor=declining, project=project, accept=False)

    with pytest.raises(TransitionConflict, match="already accepted"):
        assignment_respond(actor=accepting, project=project, accept=False, decline_reason="Changed my mind")
    with pytest.raises(TransitionConflict, match="already declined"):
        assignment_respond(actor=declining, project=project, accept=True)
    assert ActivityEntry.objects.filter(action=Action.RESPOND).count() == 2
    assert len(notices(admin_user, NotificationKind.RESPONDED)) == 2  # one per reviewer, not per click
    assert Assignment.objects.get(reviewer=accepting).status == AssignmentStatus.ACCEPTED


def test_a_removed_invitation_cannot_be_answered(project, round1, admin_user, reviewer):
    assignment = assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    assignment_remove(actor=admin_user, assignment=assignment, reason="Assigned by mistake.")
    with pytest.raises(TransitionConflict, match="withdrawn by an administrator"):
        assignment_respond(actor=reviewer, project=project, accept=True)


def test_an_invitation_to_a_withdrawn_project_no_longer_stands(project, round1, admin_user, reviewer):
    assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    project_withdraw(actor=project.owner, project=project, reason="Funding ended.")
    with pytest.raises(TransitionConflict, match="withdrawn"):
        assignment_respond(actor=reviewer, project=project, accept=True)
    assert not reviewer.has_perm("reviews.view_project", reload(project))


def test_a_conflict_declared_on_accepting_blocks_reviewing_waiving_and_signing(project, round1, admin_user, reviewer):
    assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    assignment = assignment_respond(
        actor=reviewer, project=project, accept=True, conflict_statement="  I co-authored the generator.  "
    )
    assert assignment.has_conflict and assignment.conflict_statement == "I co-authored the generator."
    [notice] = notices(admin_user, NotificationKind.CONFLICT)
    assert "I co-authored the generator." in notice.body and "declared a conflict" in notice.subject

    assert not reviewer.has_perm("reviews.review_project", project)
    with pytest.raises(TransitionConflict, match="conflict of interest"):
        review(round1, reviewer)
    with pytest.raises(TransitionConflict, match="conflict of interest"):
        audit_waive(actor=reviewer, round_=round1, audit="privacy", reason=WAIVER_REASON, status="not_computable")
    with pytest.raises(TransitionConflict, match="conflict of interest"):
        sign(round1, reviewer)
    assert not RoundReview.objects.exists() and not AuditWaiver.objects.exists() and not Signature.objects.exists()


def test_declining_because_of_a_conflict_records_the_conflict(project, round1, admin_user, reviewer):
    assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    assignment = assignment_respond(actor=reviewer, project=project, accept=False, conflict_statement="My own lab.")
    assert assignment.status == AssignmentStatus.DECLINED
    assert assignment.has_conflict and assignment.conflict_statement == "My own lab."
    [notice] = notices(admin_user, NotificationKind.CONFLICT)
    assert "declined" in notice.subject and "My own lab." in notice.body


def test_a_conflict_declared_later_drops_an_approval_already_given(project, round1, team, admin_user):
    technical, clinical = team
    ready_to_sign(round1, technical, clinical)
    sign(round1, technical)
    assert [s.signer for s in policy_status(round1).counted] == [technical]

    with logged() as rows:
        assignment_declare_conflict(actor=technical, project=project, statement="Now a co-founder of the vendor.")
    assert rows == [(Action.CHANGE, "reviews.assignment")]
    assert policy_status(round1).counted == []
    assert [n.kind for n in notices(admin_user) if "co-founder" in n.body] == [NotificationKind.CONFLICT]

    # The clinical approval alone does not approve: one counted approval, no technical one.
    sign(round1, clinical)
    status = policy_status(round1)
    assert [s.signer for s in status.counted] == [clinical] and not status.met
    assert reload(project).status == ProjectStatus.IN_REVIEW
    assert not RoundOutcome.objects.exists()

    with pytest.raises(TransitionConflict, match="already declared"):
        assignment_declare_conflict(actor=technical, project=project, statement="Again.")
    with pytest.raises(ValueError, match="Describe"):
        assignment_declare_conflict(actor=clinical, project=project, statement="   ")
    assert not technical.has_perm("reviews.review_project", project)


def test_removing_a_reviewer_takes_away_access_and_their_approval(project, round1, team, admin_user):
    technical, clinical = team
    ready_to_sign(round1, technical, clinical)
    sign(round1, technical)
    assert technical.has_perm("reviews.view_project", project)
    assignment = Assignment.objects.get(reviewer=technical)

    with pytest.raises(ValueError, match="why"):
        assignment_remove(actor=admin_user, assignment=assignment, reason=" ")
    with logged() as rows:
        removed = assignment_remove(actor=admin_user, assignment=assignment, reason="Left the institution.")
    assert rows == [(Action.CHANGE, "reviews.assignment")]
    assert removed.status == AssignmentStatus.REMOVED and removed.removed_reason == "Left the institution."

    assert not technical.has_perm("reviews.view_project", project)
    assert not technical.has_perm("reviews.review_project", project)
    assert policy_status(round1).counted == []
    with pytest.raises(TransitionConflict, match="no longer assigned"):
        audit_waive(actor=technical, round_=round1, audit="privacy", reason=WAIVER_REASON, status="not_computable")
    with pytest.raises(TransitionConflict, match="already removed"):
        assignment_remove(actor=admin_user, assignment=assignment, reason="Twice.")

    # Their signature stays (append-only) but the clinical approval alone approves nothing.
    sign(round1, clinical)
    assert Signature.objects.filter(round=round1).count() == 2
    assert reload(project).status == ProjectStatus.IN_REVIEW


def test_an_approval_is_not_revived_by_assigning_the_signer_again(project, round1, team, admin_user):
    technical, clinical = team
    ready_to_sign(round1, technical, clinical)
    sign(round1, technical)
    assignment_declare_conflict(actor=technical, project=project, statement="Industry funding from the vendor.")
    assignment_remove(actor=admin_user, assignment=Assignment.objects.get(reviewer=technical), reason="Conflict.")
    assignment_create(actor=admin_user, project=project, reviewer=technical)
    assignment_respond(actor=technical, project=project, accept=True)

    sign(round1, clinical)
    assert [s.signer for s in policy_status(round1).counted] == [clinical]
    assert reload(project).status == ProjectStatus.IN_REVIEW


# ---- the review of a round ----------------------------------------------------------------


def test_a_review_is_saved_as_a_draft_then_submitted(project, round1, team):
    technical, clinical = team
    verdicts = verdicts_for(round1)
    first_half = verdicts[:10]
    first_half[0] = VerdictInput(item=first_half[0].item, verdict=Verdict.CONCERN, comment="Which licence?")

    with logged() as rows:
        draft = save_review(round1, technical, first_half, submit=False, declared_phase=None, overclaim="")
    assert rows == []  # a draft is the reviewer's own working copy
    assert not draft.is_submitted and draft.items.count() == 10
    assert visible_reviews(round1, clinical) == [] and visible_reviews(round1, technical) == []

    # Clearing a verdict removes it; the rest stay.
    cleared = [VerdictInput(item=first_half[1].item, verdict="", comment="")]
    save_review(round1, technical, cleared, submit=False, declared_phase=None, overclaim="")
    assert draft.items.count() == 9

    with logged() as rows:
        done = save_review(round1, technical, verdicts[1:], submit=True, declared_phase=3)
    assert done.is_submitted and done.declared_phase == 3 and done.overclaim == "within"
    assert done.items.get(item=verdicts[0].item).comment == "Which licence?"  # kept from the draft
    assert rows == [(Action.REVIEW, "reviews.roundreview")]
    logged_counts = ActivityEntry.objects.get(action=Action.REVIEW).new
    assert logged_counts["concern"] == 1 and logged_counts["acceptable"] == len(verdicts) - 1


def test_submitting_needs_every_verdict_and_the_overclaim_check(project, round1, team):
    technical, _ = team
    verdicts = verdicts_for(round1)
    with pytest.raises(ReviewIncomplete) as missing:
        save_review(round1, technical, verdicts[:-2], submit=True, declared_phase=None, overclaim="")
    assert missing.value.problems == [
        "2 item(s) have no verdict yet",
        "the overclaim check needs the evaluation phase the project declares (EV-1)",
        "the overclaim check needs your finding on the claims (EV-10, OV-2)",
    ]
    assert not RoundReview.objects.filter(submitted_at__isnull=False).exists()
    assert not ItemReview.objects.exists()  # the whole save rolled back

    with pytest.raises(ValueError, match="which claims"):
        save_review(round1, technical, verdicts, submit=False, overclaim="overclaim", overclaim_note="  ")
    done = save_review(
        round1, technical, verdicts, submit=True, overclaim="overclaim", overclaim_note="Claims phase 3."
    )
    assert done.is_submitted and done.overclaim_note == "Claims phase 3."


@pytest.mark.parametrize("verdict", [Verdict.CONCERN, Verdict.MUST_CHANGE])
def test_a_concern_or_required_change_needs_a_comment(project, round1, team, verdict):
    technical, _ = team
    verdicts = verdicts_for(round1)
    verdicts[5] = VerdictInput(item=verdicts[5].item, verdict=verdict, comment="   ")
    with pytest.raises(ValueError, match=f"{verdicts[5].item.code}: say what"):
        save_review(round1, technical, verdicts, submit=False)
    assert not ItemReview.objects.exists()


def test_a_submitted_review_cannot_change(project, round1, team):
    technical, _ = team
    review(round1, technical)
    again = verdicts_for(round1, Verdict.MUST_CHANGE, "Changed my mind.")
    with pytest.raises(TransitionConflict, match="can no longer change"):
        save_review(round1, technical, again, submit=False)
    assert not ItemReview.objects.filter(verdict=Verdict.MUST_CHANGE).exists()


def test_verdicts_on_items_of_another_version_are_refused(project, round1, team, admin_user):
    technical, _ = team
    newer = guideline_version_new_draft(source=project.guideline_version, actor=admin_user)
    foreign = GuidelineItem.objects.filter(version=newer).first()
    with pytest.raises(ValueError, match="not an item of this round"):
        save_review(
            round1, technical, [VerdictInput(item=foreign, verdict=Verdict.ACCEPTABLE, comment="")], submit=False
        )
    assert not ItemReview.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"verdict": "excellent"},
        {"declared_phase": 9},
        {"overclaim": "maybe"},
        {"duplicate": True},
    ],
    ids=["verdict", "phase", "overclaim", "duplicate"],
)
def test_values_outside_the_choices_are_refused_not_stored(project, round1, team, change):
    technical, _ = team
    verdicts = verdicts_for(round1)
    fields = {}
    if "verdict" in change:
        verdicts[0] = VerdictInput(item=verdicts[0].item, verdict=change["verdict"], comment="x")
    elif "duplicate" in change:
        verdicts.append(VerdictInput(item=verdicts[0].item, verdict=Verdict.CONCERN, comment="Second thoughts."))
    else:
        fields = change
    with pytest.raises(ValueError):
        save_review(round1, technical, verdicts, submit=True, **fields)
    assert not RoundReview.objects.exists() and not ItemReview.objects.exists()


@pytest.mark.parametrize("who", ["invited", "owner", "unassigned"])
def test_only_an_accepted_reviewer_reviews(project, round1, admin_user, reviewer, who):
    if who == "invited":
        assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    actor = project.owner if who == "owner" else reviewer
    with pytest.raises((TransitionConflict, PermissionError)):
        review(round1, actor)
    assert not RoundReview.objects.exists()


def test_who_reads_which_reviews(project, round1, team, admin_user, other_researcher):
    from django.contrib.auth.models import AnonymousUser

    technical, clinical = team
    outsider = ReviewerFactory()
    first = review(round1, technical)
    review(round1, clinical, submit=False)  # a draft shows to nobody, not even admins

    assert visible_reviews(round1, technical) == [first]
    assert visible_reviews(round1, clinical) == []  # not until their own is submitted
    assert visible_reviews(round1, admin_user) == [first]
    for nobody in (project.owner, other_researcher, outsider, AnonymousUser()):
        assert visible_reviews(round1, nobody) == []

    second = review(round1, clinical)
    assert visible_reviews(round1, clinical) == [first, second]
    assert visible_reviews(round1, Round.objects.get(pk=round1.pk).project.owner) == []  # round still open

    waive_all(round1, technical)
    sign(round1, technical)
    sign(round1, clinical)
    ended = Round.objects.select_related("project").get(pk=round1.pk)
    assert visible_reviews(ended, project.owner) == [first, second]
    assert visible_reviews(ended, outsider) == []


def test_the_researcher_works_through_consolidated_feedback_per_item(project, round1, team):
    technical, clinical = team
    verdicts = verdicts_for(round1)
    first, second, third = (v.item for v in verdicts[:3])
    mine = list(verdicts)
    mine[0] = VerdictInput(item=first, verdict=Verdict.CONCERN, comment="Which licence?")
    mine[2] = VerdictInput(item=third, verdict=Verdict.ACCEPTABLE, comment="Good, but cite the version.")
    theirs = list(verdicts)
    theirs[0] = VerdictInput(item=first, verdict=Verdict.MUST_CHANGE, comment="The licence forbids this use.")
    save_review(round1, technical, mine, submit=True)
    save_review(round1, clinical, theirs, submit=True)
    sign(round1, clinical, Meaning.REQUEST_CHANGES, statement="See item comments.")

    ended = Round.objects.select_related("project").get(pk=round1.pk)
    feedback = consolidated_feedback(visible_reviews(ended, project.owner))
    # Acceptable items without a comment are left out; the worst verdict leads each item.
    assert [(f.item, f.worst, [e.comment for e in f.entries]) for f in feedback] == [
        (first, Verdict.MUST_CHANGE, ["Which licence?", "The licence forbids this use."]),
        (third, Verdict.ACCEPTABLE, ["Good, but cite the version."]),
    ]
    assert second not in [f.item for f in feedback]


def test_reviewer_suggestions_put_missing_expertise_and_experience_first(project, round1, admin_user, catalogue):
    tess = ReviewerFactory(full_name="Tess Technical", expertise=ExpertiseKind.TECHNICAL)
    carl = ReviewerFactory(full_name="Carl Clinical", expertise=ExpertiseKind.CLINICAL)
    erin = ReviewerFactory(full_name="Erin Ethics", expertise=ExpertiseKind.ETHICS)
    ReviewerFactory(full_name="Ivy Inactive", expertise=ExpertiseKind.CLINICAL, is_active=False)
    # Carl reviews another X-ray augmentation project right now.
    earlier = ProjectFactory(guideline_version=catalogue, status=ProjectStatus.IN_REVIEW)
    assignment_create(actor=admin_user, project=earlier, reviewer=carl)
    assignment_create(actor=admin_user, project=project, reviewer=tess)

    suggestions = reviewer_suggestions(project)
    assert [(s.reviewer, s.assigned, s.open_load) for s in suggestions] == [
        (carl, False, 1),
        (erin, False, 0),
        (tess, True, 1),
    ]
    assert suggestions[0].matches == [
        "clinical expertise still needed",
        "has reviewed XR",
        "has reviewed data augmentation",
    ]
    assert suggestions[1].matches == ["ethics expertise still needed"]


# ---- audit waivers ------------------------------------------------------------------------


def test_a_round_without_image_sets_needs_every_bound_audit_waived(project, round1, team):
    _, clinical = team
    status = policy_status(round1)
    assert status.audits.state == "no_images"
    assert status.needs_waiver == sorted(ALL_AUDITS) and status.unwaived == sorted(ALL_AUDITS)
    assert not status.met

    with logged() as rows:
        waive_all(round1, clinical)
    assert rows == [(Action.WAIVE, "reviews.auditwaiver")] * len(ALL_AUDITS)
    status = policy_status(round1)
    assert status.unwaived == [] and set(status.waivers) == set(ALL_AUDITS)
    assert {w.audit_status for w in status.waivers.values()} == {"not_computable"}
    assert [c.label for c in status.checks if c.met] == [
        "No change request or rejection in this round",
        "Every failed or uncomputable audit passed or waived with a reason",
    ]


def test_only_failed_or_uncomputable_audits_are_waived_once_each_with_a_reason(imaged):
    round_, (technical, clinical) = imaged
    finish_run(
        round_,
        {
            "disclosure": "fail",
            "privacy": "pass",
            "memorization": "not_computable",
            "fidelity": "warn",
            "representation": "pass",
            "manifest": "pass",
        },
    )
    status = policy_status(round_)
    assert status.audits.state == "ready" and status.needs_waiver == ["disclosure", "memorization"]

    with pytest.raises(ValueError, match="written reason"):
        audit_waive(actor=technical, round_=round_, audit="disclosure", reason="  ", status="fail")
    # A passing audit is not waived, whatever status the request claims it has.
    for audit, claimed in [("privacy", "fail"), ("fidelity", "fail"), ("no_such_audit", "fail")]:
        with pytest.raises(ValueError, match="Only a failed or uncomputable audit"):
            audit_waive(actor=technical, round_=round_, audit=audit, reason=WAIVER_REASON, status=claimed)
    # The page showed another status than the round has: reload first.
    with pytest.raises(TransitionConflict, match="now “not_computable”"):
        audit_waive(actor=technical, round_=round_, audit="memorization", reason=WAIVER_REASON, status="fail")
    assert not AuditWaiver.objects.exists()

    waiver = audit_waive(actor=technical, round_=round_, audit="disclosure", reason=WAIVER_REASON, status="fail")
    assert (waiver.audit_status, waiver.waived_by, waiver.reason) == ("fail", technical, WAIVER_REASON)
    with pytest.raises(TransitionConflict, match=r"already waived .* by Tess Technical"):
        audit_waive(actor=clinical, round_=round_, audit="disclosure", reason="Me too.", status="fail")
    assert policy_status(round_).unwaived == ["memorization"]


def test_an_unwaived_failed_audit_blocks_approval_until_it_is_waived(project, imaged):
    round_, (technical, clinical) = imaged
    finish_run(round_, {audit: "fail" if audit == "privacy" else "pass" for audit in ALL_AUDITS})
    review(round_, technical)
    review(round_, clinical)
    sign(round_, technical)
    sign(round_, clinical)

    status = policy_status(round_)
    assert len(status.counted) == 2 and not status.met
    [unmet] = [check for check in status.checks if not check.met]
    assert unmet.detail == "not waived: Privacy (PHI)"
    assert reload(project).status == ProjectStatus.IN_REVIEW

    # The waiver is what completes the policy: the project is approved by it.
    with logged() as rows:
        audit_waive(actor=clinical, round_=round_, audit="privacy", reason=WAIVER_REASON, status="fail")
    assert rows == [(Action.WAIVE, "reviews.auditwaiver"), (Action.DECIDE, "reviews.roundoutcome")]
    assert reload(project).status == ProjectStatus.APPROVED
    assert round_.outcome.outcome == Outcome.APPROVED and round_.outcome.decided_by is None


def test_a_finished_run_without_a_bound_audits_result_needs_a_waiver(imaged):
    round_, (technical, _) = imaged
    finish_run(round_, {audit: "pass" for audit in ALL_AUDITS if audit != "manifest"})
    status = policy_status(round_)
    assert status.needs_waiver == ["manifest"] and status.status_of("manifest") == "not_computable"
    assert status.audits.status_of("manifest") == ""  # what the audit pages show: no result
    # The reviewer's page may show either; both are accepted for the same fact.
    audit_waive(actor=technical, round_=round_, audit="manifest", reason=WAIVER_REASON, status="")
    assert policy_status(round_).unwaived == []


def test_a_pending_audit_run_blocks_approval(project, imaged):
    round_, (technical, clinical) = imaged
    review(round_, technical)
    review(round_, clinical)

    status = policy_status(round_)
    assert status.audits.state == "pending"
    assert {c.label: c.met for c in status.checks}["Audit results of this round are in"] is False
    with pytest.raises(ValueError, match="still being computed"):
        sign(round_, technical)
    with pytest.raises(ValueError, match="still being computed"):
        audit_waive(actor=technical, round_=round_, audit="privacy", reason=WAIVER_REASON, status="not_computable")
    assert not Signature.objects.exists() and not AuditWaiver.objects.exists()

    finish_run(round_, {audit: "pass" for audit in ALL_AUDITS})
    sign(round_, technical)
    sign(round_, clinical)
    assert reload(project).status == ProjectStatus.APPROVED


# ---- signing ------------------------------------------------------------------------------


def test_signing_needs_a_submitted_review(project, round1, team):
    technical, _ = team
    review(round1, technical, submit=False)
    with pytest.raises(ReviewIncomplete, match="submit your review"):
        sign(round1, technical)
    assert not Signature.objects.exists()


def test_the_digest_signed_must_be_the_rounds(project, round1, team):
    technical, _ = team
    review(round1, technical)
    with pytest.raises(TransitionConflict, match="different digest"):
        round_sign(actor=technical, round_=round1, meaning=Meaning.APPROVE, statement="", digest="0" * 64)
    assert not Signature.objects.exists()


def test_a_signature_records_who_when_what_and_the_digest_and_is_given_once(project, round1, team, admin_user):
    technical, clinical = team
    ready_to_sign(round1, technical, clinical)
    with logged() as rows:
        signature = sign(round1, technical)
    assert rows == [(Action.SIGN, "reviews.signature")]
    assert signature.printed_name == "Tess Technical" and signature.meaning == Meaning.APPROVE
    assert signature.round_digest == round1.digest and signature.signer_expertise == ExpertiseKind.TECHNICAL
    assert abs(signature.signed_at - timezone.now()) < timedelta(seconds=30)
    logged_row = ActivityEntry.objects.get(action=Action.SIGN)
    assert logged_row.new["hash"] == signature.hash and logged_row.new["round_digest"] == round1.digest
    [notice] = notices(admin_user, NotificationKind.SIGNED)
    assert "Tess Technical" in notice.subject and "Approve" in notice.subject

    with pytest.raises(TransitionConflict, match="already signed round 1"):
        sign(round1, technical, Meaning.REQUEST_CHANGES)
    assert Signature.objects.filter(signer=technical).count() == 1
    assert reload(project).status == ProjectStatus.IN_REVIEW


def test_approving_against_ones_own_must_change_verdict_is_refused(project, round1, team):
    technical, _ = team
    review(round1, technical, verdict=Verdict.MUST_CHANGE)
    waive_all(round1, technical)
    for meaning in (Meaning.APPROVE, Meaning.APPROVE_WITH_CONDITIONS):
        with pytest.raises(ValueError, match="must change"):
            sign(round1, technical, meaning, statement="Fine after all.")
    assert not Signature.objects.exists()
    sign(round1, technical, Meaning.REQUEST_CHANGES)
    assert reload(project).status == ProjectStatus.CHANGES_REQUESTED


@pytest.mark.parametrize("meaning", [Meaning.APPROVE_WITH_CONDITIONS, Meaning.REQUEST_CHANGES, Meaning.REJECT])
def test_conditions_changes_and_rejections_are_written_down(project, round1, team, meaning):
    technical, _ = team
    review(round1, technical)
    with pytest.raises(ValueError, match="in writing"):
        round_sign(actor=technical, round_=round1, meaning=meaning, statement="  \n ", digest=round1.digest)
    assert not Signature.objects.exists()


@pytest.mark.parametrize("meaning", [Meaning.FINAL_APPROVE, Meaning.FINAL_REJECT, "approve_everything"])
def test_a_reviewer_signs_only_a_reviewers_meaning(project, round1, team, meaning):
    technical, _ = team
    review(round1, technical)
    with pytest.raises(ValueError, match="Choose"):
        round_sign(actor=technical, round_=round1, meaning=meaning, statement="Yes.", digest=round1.digest)


def test_requesting_changes_returns_the_project_to_the_researcher(project, round1, team, admin_user):
    technical, clinical = team
    review(round1, technical, verdict=Verdict.MUST_CHANGE)
    with logged() as rows:
        sign(round1, technical, Meaning.REQUEST_CHANGES, statement="Add the subgroup analysis.")
    assert rows == [(Action.SIGN, "reviews.signature"), (Action.DECIDE, "reviews.roundoutcome")]

    project.refresh_from_db()
    assert project.status == ProjectStatus.CHANGES_REQUESTED and project.is_editable
    outcome = RoundOutcome.objects.get(round=round1)
    assert outcome.outcome == Outcome.CHANGES_REQUESTED and outcome.reasons == "Add the subgroup analysis."
    assert outcome.decided_by == technical
    [notice] = notices(project.owner)
    assert notice.kind == NotificationKind.CHANGES_REQUESTED and "Add the subgroup analysis." in notice.body
    assert len(notices(clinical, NotificationKind.CHANGES_REQUESTED)) == 1
    # The researcher now reads the reviews; the other reviewer can no longer act on the round.
    assert [r.reviewer for r in visible_reviews(Round.objects.get(pk=round1.pk), project.owner)] == [technical]
    with pytest.raises(TransitionConflict, match=r"closed .*changes requested"):
        review(round1, clinical)


def test_a_rejection_ends_the_project_with_its_reasons(project, round1, team):
    technical, clinical = team
    review(round1, clinical, verdict=Verdict.MUST_CHANGE)
    sign(round1, clinical, Meaning.REJECT, statement="The data were used without consent.")
    project.refresh_from_db()
    assert project.status == ProjectStatus.REJECTED and not project.is_editable
    outcome = RoundOutcome.objects.get(round=round1)
    assert (outcome.outcome, outcome.reasons) == (Outcome.REJECTED, "The data were used without consent.")
    [notice] = notices(project.owner, NotificationKind.REJECTED)
    assert "The data were used without consent." in notice.body
    with pytest.raises(TransitionConflict, match="closed"):
        sign(round1, technical)


# ---- the sign-off policy ------------------------------------------------------------------


def test_by_default_a_technical_and_a_non_technical_approval_approve(project, round1, team, admin_user):
    technical, clinical = team
    ready_to_sign(round1, technical, clinical)
    sign(round1, technical)
    status = policy_status(round1)
    assert not status.met and status.checks[0].detail == "1 of 2"
    assert reload(project).status == ProjectStatus.IN_REVIEW

    with logged() as rows:
        sign(round1, clinical)
    assert rows == [(Action.SIGN, "reviews.signature"), (Action.DECIDE, "reviews.roundoutcome")]
    assert reload(project).status == ProjectStatus.APPROVED
    outcome = RoundOutcome.objects.get(round=round1)
    assert outcome.outcome == Outcome.APPROVED and outcome.decided_by is None and outcome.reasons == ""
    assert [n.kind for n in notices(project.owner)] == [NotificationKind.APPROVED]
    for person in (technical, clinical, admin_user):
        assert len(notices(person, NotificationKind.APPROVED)) == 1


def test_two_technical_approvals_are_not_enough(project, round1, team, admin_user):
    technical, clinical = team
    second_technical = ReviewerFactory(full_name="Tom Technical", expertise=ExpertiseKind.TECHNICAL)
    assignment_create(actor=admin_user, project=project, reviewer=second_technical)
    assignment_respond(actor=second_technical, project=project, accept=True)
    ready_to_sign(round1, technical, second_technical, clinical)
    sign(round1, technical)
    sign(round1, second_technical)

    status = policy_status(round1)
    assert len(status.counted) == 2 and not status.met
    assert [c.label for c in status.checks if not c.met] == [
        "A non-technical reviewer (clinical, ethics, patient/public) approves"
    ]
    assert reload(project).status == ProjectStatus.IN_REVIEW
    sign(round1, clinical)
    assert reload(project).status == ProjectStatus.APPROVED


def test_without_the_expertise_rule_two_technical_approvals_do(project, round1, team, admin_user):
    set_policy(project, require_technical_and_non_technical=False)
    technical, _ = team
    second_technical = ReviewerFactory(expertise=ExpertiseKind.TECHNICAL)
    assignment_create(actor=admin_user, project=project, reviewer=second_technical)
    assignment_respond(actor=second_technical, project=project, accept=True)
    ready_to_sign(round1, technical, second_technical)
    sign(round1, technical)
    sign(round1, second_technical)
    assert reload(project).status == ProjectStatus.APPROVED


def test_a_policy_of_three_approvals_waits_for_the_third(project, round1, team, admin_user):
    set_policy(project, approvals_required=3)
    technical, clinical = team
    ethicist = ReviewerFactory(full_name="Eve Ethics", expertise=ExpertiseKind.ETHICS)
    assignment_create(actor=admin_user, project=project, reviewer=ethicist)
    assignment_respond(actor=ethicist, project=project, accept=True)
    ready_to_sign(round1, technical, clinical, ethicist)
    sign(round1, technical)
    sign(round1, clinical)
    assert policy_status(round1).checks[0].detail == "2 of 3"
    assert reload(project).status == ProjectStatus.IN_REVIEW
    sign(round1, ethicist)
    assert reload(project).status == ProjectStatus.APPROVED


def test_approval_with_conditions_counts_and_carries_the_conditions(project, round1, team):
    technical, clinical = team
    ready_to_sign(round1, technical, clinical)
    sign(round1, technical, Meaning.APPROVE_WITH_CONDITIONS, statement="Label every image as synthetic.")
    sign(round1, clinical)
    assert reload(project).status == ProjectStatus.APPROVED
    outcome = RoundOutcome.objects.get(round=round1)
    assert outcome.reasons == "Tess Technical: Label every image as synthetic."
    [notice] = notices(project.owner, NotificationKind.APPROVED)
    assert "Label every image as synthetic." in notice.body


# ---- final decision by an administrator ---------------------------------------------------


def test_in_admin_mode_a_rejection_is_a_recommendation_and_the_admin_decides(project, round1, team, admin_user):
    set_policy(project, final_decision=FinalDecision.ADMIN)
    technical, _ = team
    review(round1, technical, verdict=Verdict.MUST_CHANGE)
    sign(round1, technical, Meaning.REJECT, statement="No consent.")
    assert reload(project).status == ProjectStatus.IN_REVIEW and not RoundOutcome.objects.exists()
    [ready] = notices(admin_user, NotificationKind.READY_FOR_DECISION)
    assert "Tess Technical recommends rejection." in ready.body

    # The recommendation blocks a final approval; the final rejection needs its reasons.
    with pytest.raises(ValueError, match="No change request or rejection"):
        round_decide(actor=admin_user, round_=round1, meaning=Meaning.FINAL_APPROVE, statement="", digest=round1.digest)
    with pytest.raises(ValueError, match="in writing"):
        round_decide(actor=admin_user, round_=round1, meaning=Meaning.FINAL_REJECT, statement="", digest=round1.digest)
    with logged() as rows:
        round_decide(
            actor=admin_user,
            round_=round1,
            meaning=Meaning.FINAL_REJECT,
            statement="Consent missing.",
            digest=round1.digest,
        )
    assert rows == [(Action.SIGN, "reviews.signature"), (Action.DECIDE, "reviews.roundoutcome")]
    assert reload(project).status == ProjectStatus.REJECTED
    outcome = RoundOutcome.objects.get(round=round1)
    assert (outcome.outcome, outcome.reasons, outcome.decided_by) == (Outcome.REJECTED, "Consent missing.", admin_user)
    assert Signature.objects.get(signer=admin_user).meaning == Meaning.FINAL_REJECT
    assert len(notices(project.owner, NotificationKind.REJECTED)) == 1


def test_in_admin_mode_a_met_policy_waits_for_the_admins_final_approval(project, round1, team, admin_user):
    set_policy(project, final_decision=FinalDecision.ADMIN)
    technical, clinical = team
    ready_to_sign(round1, technical, clinical)
    sign(round1, technical, Meaning.APPROVE_WITH_CONDITIONS, statement="Publish the model card.")
    with pytest.raises(ValueError, match="not met yet: 2 approving"):
        round_decide(actor=admin_user, round_=round1, meaning=Meaning.FINAL_APPROVE, statement="", digest=round1.digest)

    sign(round1, clinical)
    assert reload(project).status == ProjectStatus.IN_REVIEW and policy_status(round1).met
    # Told once, however often the policy is found met.
    approve_if_policy_met(project=project, round_=round1, actor=clinical)
    [ready] = notices(admin_user, NotificationKind.READY_FOR_DECISION)
    assert "The sign-off policy is met." in ready.body

    with pytest.raises(PermissionError):
        round_decide(actor=technical, round_=round1, meaning=Meaning.FINAL_APPROVE, statement="", digest=round1.digest)
    round_decide(
        actor=admin_user, round_=round1, meaning=Meaning.FINAL_APPROVE, statement="Agreed.", digest=round1.digest
    )
    assert reload(project).status == ProjectStatus.APPROVED
    outcome = RoundOutcome.objects.get(round=round1)
    assert outcome.decided_by == admin_user
    assert outcome.reasons == "Agreed.\n\nTess Technical: Publish the model card."
    with pytest.raises(TransitionConflict, match="closed"):
        round_decide(
            actor=admin_user, round_=round1, meaning=Meaning.FINAL_REJECT, statement="No.", digest=round1.digest
        )


def test_in_policy_mode_there_is_no_final_decision_to_sign(project, round1, team, admin_user):
    with pytest.raises(ValueError, match="approves automatically"):
        round_decide(actor=admin_user, round_=round1, meaning=Meaning.FINAL_APPROVE, statement="", digest=round1.digest)
    assert not Signature.objects.exists()


def test_an_admin_who_owns_the_project_does_not_decide_it(catalogue):
    owner = AdminFactory()
    project = ProjectFactory(owner=owner, guideline_version=catalogue)
    set_policy(project, final_decision=FinalDecision.ADMIN)
    round_ = submitted(project)
    with pytest.raises(PermissionError, match="own project"):
        round_decide(actor=owner, round_=round_, meaning=Meaning.FINAL_REJECT, statement="No.", digest=round_.digest)


# ---- revision rounds ----------------------------------------------------------------------


def test_a_revision_is_a_new_round_reviewed_by_the_same_reviewers(project, round1, team, admin_user, items):
    technical, clinical = team
    review(round1, technical, verdict=Verdict.MUST_CHANGE)
    review(round1, clinical)
    sign(round1, clinical)  # an approval in round 1 ...
    sign(round1, technical, Meaning.REQUEST_CHANGES, statement="Report the subgroup shift.")
    assert reload(project).status == ProjectStatus.CHANGES_REQUESTED

    answer_save(
        actor=project.owner,
        project=project,
        item=items["EV-1"],
        status=AnswerStatus.MET,
        justification="",
        evidence_text="Phase 2: a reader study with three radiologists.",
    )
    with logged() as rows:
        round2 = project_submit(actor=project.owner, project=project)
    assert (Action.SUBMIT, "reviews.round") in rows
    assert round2.number == 2 and round2.digest != round1.digest
    assert reload(project).status == ProjectStatus.IN_REVIEW  # the accepted reviewers are kept
    assert set(Assignment.objects.values_list("status", flat=True)) == {AssignmentStatus.ACCEPTED}
    for reviewer in (technical, clinical):
        [resubmitted] = notices(reviewer, NotificationKind.RESUBMITTED)
        assert "round 2" in resubmitted.subject
    notify_resubmission(project=project, round_=round2)  # the same event again: nobody is told twice
    assert len(notices(technical, NotificationKind.RESUBMITTED)) == 1

    # ... stays attached to round 1 and does not count for round 2.
    assert Signature.objects.get(signer=clinical).round == round1
    assert policy_status(round2).counted == [] and policy_status(round2).signatures == []
    with pytest.raises(TransitionConflict, match="submitted round 2"):
        sign(round1, clinical, Meaning.APPROVE)
    with pytest.raises(TransitionConflict, match="submitted round 2"):
        review(round1, clinical)
    assert visible_reviews(round2, technical) == []

    ready_to_sign(round2, technical, clinical)
    sign(round2, technical)
    sign(round2, clinical)
    assert reload(project).status == ProjectStatus.APPROVED
    assert RoundOutcome.objects.get(round=round2).outcome == Outcome.APPROVED
    assert RoundOutcome.objects.get(round=round1).outcome == Outcome.CHANGES_REQUESTED


def test_an_amendment_reopens_an_approved_project_for_a_new_reviewed_round(project, admin_user, items):
    _, (technical, clinical) = approved_project(project, admin_user)
    with pytest.raises(TransitionConflict, match="Only an approved project"):
        project_amend(
            actor=project.owner, project=ProjectFactory(status=ProjectStatus.IN_REVIEW), reason="A second site joins."
        )

    with logged() as rows:
        amended = project_amend(actor=project.owner, project=project, reason="A second site joins.")
    assert rows == [(Action.AMEND, "reviews.project")]
    assert amended.status == ProjectStatus.AMENDMENT and amended.is_editable
    assert project.owner.has_perm("reviews.change_project", amended)
    with pytest.raises(TransitionConflict):
        project_amend(actor=project.owner, project=project, reason="A second site joins.")

    answer_save(
        actor=project.owner,
        project=project,
        item=items["DS-1"],
        status=AnswerStatus.MET,
        justification="",
        evidence_text="Released under CC BY-NC with a synthetic-data label.",
    )
    round2 = project_submit(actor=project.owner, project=project)
    assert round2.number == 2 and reload(project).status == ProjectStatus.IN_REVIEW
    assert policy_status(round2).counted == []
    ready_to_sign(round2, technical, clinical)
    sign(round2, technical)
    assert reload(project).status == ProjectStatus.IN_REVIEW
    sign(round2, clinical)
    assert reload(project).status == ProjectStatus.APPROVED
    assert list(RoundOutcome.objects.order_by("round__number").values_list("outcome", flat=True)) == [
        Outcome.APPROVED,
        Outcome.APPROVED,
    ]


# ---- withdrawal ---------------------------------------------------------------------------


def _project_in(status: str, project: Project, admin_user) -> tuple[Project, tuple]:
    """`project` driven through the services into `status`, with reviewers where it has any."""
    team: tuple = ()
    if status == ProjectStatus.DRAFT:
        return project, team
    if status == ProjectStatus.AMENDMENT:
        _, team = approved_project(project, admin_user)
        return project_amend(actor=project.owner, project=project, reason="A second site joins."), team
    round_ = submitted(project)
    if status == ProjectStatus.SUBMITTED:
        return reload(project), team
    team = reviewers_on(project, admin=admin_user)
    if status == ProjectStatus.CHANGES_REQUESTED:
        review(round_, team[0], verdict=Verdict.MUST_CHANGE)
        sign(round_, team[0], Meaning.REQUEST_CHANGES)
    return reload(project), team


@pytest.mark.parametrize(
    "status",
    [
        ProjectStatus.DRAFT,
        ProjectStatus.SUBMITTED,
        ProjectStatus.IN_REVIEW,
        ProjectStatus.CHANGES_REQUESTED,
        ProjectStatus.AMENDMENT,
    ],
)
def test_a_project_is_withdrawn_from_every_open_state(project, admin_user, status):
    project, team = _project_in(status, project, admin_user)
    assert project.status == status
    with logged() as rows:
        withdrawn = project_withdraw(actor=project.owner, project=project, reason="The study was stopped.")
    assert withdrawn.status == ProjectStatus.WITHDRAWN == reload(project).status
    object_type = "reviews.roundoutcome" if status in {"submitted", "in_review"} else "reviews.project"
    assert rows == [(Action.WITHDRAW, object_type)]
    entry = ActivityEntry.objects.get(action=Action.WITHDRAW)
    assert entry.old["status"] == status and entry.new["status"] == ProjectStatus.WITHDRAWN
    assert not project.owner.has_perm("reviews.change_project", withdrawn)
    if status in {"submitted", "in_review"}:
        ended = RoundOutcome.objects.get(round__project=project)
        assert (ended.outcome, ended.reasons) == (Outcome.WITHDRAWN, "The study was stopped.")
        for reviewer in team:
            [notice] = notices(reviewer, NotificationKind.WITHDRAWN)
            assert "withdrawn" in notice.subject
        assert not notices(project.owner, NotificationKind.WITHDRAWN)  # they did it themselves
    with pytest.raises(TransitionConflict, match="cannot be withdrawn"):
        project_withdraw(actor=project.owner, project=project, reason="Again.")


def test_an_approved_or_rejected_project_is_not_withdrawn(project, admin_user, catalogue):
    approved_project(project, admin_user)
    rejected = ProjectFactory(guideline_version=catalogue, status=ProjectStatus.REJECTED)
    for closed in (project, rejected):
        with pytest.raises(TransitionConflict, match="cannot be withdrawn"):
            project_withdraw(actor=closed.owner, project=closed, reason="Too late.")
        assert reload(closed).status in {ProjectStatus.APPROVED, ProjectStatus.REJECTED}
    assert not ActivityEntry.objects.filter(action=Action.WITHDRAW).exists()


# ---- the whole loop -----------------------------------------------------------------------


def test_the_whole_loop_logs_one_row_per_transition_and_notifies_each_event_once(project, admin_user):
    other_admin = AdminFactory(full_name="Abe Admin")
    researcher = project.owner
    round1 = submitted(project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    review(round1, technical, verdict=Verdict.MUST_CHANGE)
    sign(round1, technical, Meaning.REQUEST_CHANGES)
    round2 = submitted(project)
    ready_to_sign(round2, technical, clinical)
    sign(round2, technical)
    sign(round2, clinical)
    project_amend(actor=researcher, project=project, reason="A second site joins.")
    round3 = submitted(project)
    ready_to_sign(round3, clinical, technical)
    sign(round3, clinical)
    sign(round3, technical)

    actions = list(ActivityEntry.objects.filter(project=project).order_by("seq").values_list("action", flat=True))
    workflow_actions = [a for a in actions if a in {"submit", "assign", "respond", "review", "sign", "decide", "amend"}]
    assert workflow_actions == [
        "submit",
        "assign",
        "respond",
        "assign",
        "respond",
        "review",
        "sign",
        "decide",  # round 1: changes requested
        "submit",
        "review",
        "review",
        "sign",
        "sign",
        "decide",  # round 2: approved
        "amend",
        "submit",
        "review",
        "review",
        "sign",
        "sign",
        "decide",  # round 3: approved
    ]
    assert actions.count("waive") == 2 * len(ALL_AUDITS)

    kinds = sorted(n.kind for n in notices(researcher))
    assert kinds == ["approved", "approved", "changes_requested"]
    for admin in (admin_user, other_admin):
        assert len(notices(admin, NotificationKind.SUBMITTED)) == 1
        assert len(notices(admin, NotificationKind.RESUBMITTED)) == 2
        assert len(notices(admin, NotificationKind.SIGNED)) == 5
    assert len(notices(technical, NotificationKind.ASSIGNED)) == 1
    assert len(notices(technical, NotificationKind.RESUBMITTED)) == 2
    keys = list(Notification.objects.values_list("key", flat=True))
    assert len(keys) == len(set(keys))
    assert Round.objects.filter(project=project).count() == 3
    assert Signature.objects.count() == 5 and {s.round_digest for s in Signature.objects.all()} == {
        round1.digest,
        round2.digest,
        round3.digest,
    }
