"""Concurrent transitions on real PostgreSQL: threads, each on its own connection, released
together by a barrier, acting as the application's database role (misyn_app).

Each test states what must hold whatever order the database picked: one effect, a clear
TransitionConflict for the others, no signature on a closed round, one outcome per round,
each notification once, and hash chains that still verify.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection, connections, transaction

from audits.enums import RunStatus
from audits.models import AuditRun
from audits.services.runs import run_fail
from reviews.enums import Action, AnswerStatus, Meaning, NotificationKind, Outcome, ProjectStatus
from reviews.models import (
    ActivityEntry,
    GuidelineItem,
    Notification,
    Project,
    ReviewPolicy,
    Round,
    RoundOutcome,
    Signature,
    User,
)
from reviews.services.activity import activity_record
from reviews.services.chain import chain_verify
from reviews.services.notifications import admins
from reviews.services.projects import ProjectNotEditable, answer_save, project_create, project_submit
from reviews.services.review import TransitionConflict, lock_project
from tests.factories import AdminFactory, ProjectFactory, ResearcherFactory
from tests.workflow import review, reviewers_on, sign, submitted, waive_all

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

APP_ROLE = "misyn_app"
TIMEOUT = 20  # seconds; a hung thread fails the test instead of hanging the run


@dataclass
class Result:
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_together(*calls: Callable[[], Any]) -> list[Result]:
    """Run each call in its own thread and connection, all released at the same instant."""
    barrier = threading.Barrier(len(calls))
    results = [Result() for _ in calls]

    def worker(index: int, call: Callable[[], Any]) -> None:
        try:
            with connection.cursor() as cursor:  # connect (and become the app role) before the start line
                cursor.execute(f"SET ROLE {APP_ROLE}")
            barrier.wait(timeout=TIMEOUT)
            results[index].value = call()
        except BaseException as exc:  # noqa: BLE001 (every outcome is recorded, and asserted on)
            results[index].error = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, call), daemon=True) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


def _unexpected(results: list[Result], *allowed: type[BaseException]) -> list[BaseException]:
    return [r.error for r in results if r.error is not None and not isinstance(r.error, allowed)]


def _ready_round(*, approvals: int = 2, both_kinds: bool = True) -> tuple[Round, User, User]:
    """A round under review whose two reviewers (technical, clinical) have reviewed and waived."""
    project = ProjectFactory(owner=ResearcherFactory())
    if (approvals, both_kinds) != (2, True):
        ReviewPolicy.objects.update_or_create(
            version=project.guideline_version,
            defaults={"approvals_required": approvals, "require_technical_and_non_technical": both_kinds},
        )
    round_ = submitted(project)
    technical, clinical = reviewers_on(project, admin=AdminFactory())
    for reviewer in (technical, clinical):
        review(round_, reviewer)
        waive_all(round_, reviewer)
    return round_, technical, clinical


def _signer(round_pk: int, reviewer_pk: int, meaning: str) -> Callable[[], Signature]:
    """What one browser's POST does: load the round it showed, sign with the digest it showed."""

    def call() -> Signature:
        round_ = Round.objects.get(pk=round_pk)
        reviewer = User.objects.get(pk=reviewer_pk)
        return sign(round_, reviewer, meaning)

    return call


def _chains_hold() -> None:
    assert list(chain_verify(ActivityEntry)) == []
    assert list(chain_verify(Signature)) == []


def _assert_round_ended_once(round_: Round) -> RoundOutcome:
    """One outcome; the project's status agrees with it; no signature after it."""
    outcomes = list(RoundOutcome.objects.filter(round=round_))
    assert len(outcomes) == 1
    outcome = outcomes[0]
    project = Project.objects.get(pk=round_.project_id)
    expected = {
        Outcome.APPROVED: ProjectStatus.APPROVED,
        Outcome.CHANGES_REQUESTED: ProjectStatus.CHANGES_REQUESTED,
        Outcome.REJECTED: ProjectStatus.REJECTED,
    }[Outcome(outcome.outcome)]
    if project.rounds.count() == round_.number:
        assert project.status == expected
    for signature in Signature.objects.filter(round=round_):
        assert signature.signed_at <= outcome.decided_at, "a signature was written after its round closed"
    assert ActivityEntry.objects.filter(object_type="reviews.roundoutcome", object_id=str(outcome.pk)).count() == 1
    return outcome


# --- 1. one reviewer, many clicks ---------------------------------------------------------


@pytest.mark.parametrize("clicks", [2, 8])
def test_the_same_approval_at_once_gives_one_signature(clicks):
    round_, technical, _clinical = _ready_round()

    results = run_together(*[_signer(round_.pk, technical.pk, Meaning.APPROVE) for _ in range(clicks)])

    assert _unexpected(results, TransitionConflict) == []
    assert [r.ok for r in results].count(True) == 1
    for failure in (r.error for r in results if not r.ok):
        assert "already signed round 1" in str(failure) and "nothing was changed" in str(failure).lower()
    signatures = list(Signature.objects.filter(round=round_))
    assert len(signatures) == 1 and signatures[0].signer_id == technical.pk
    assert ActivityEntry.objects.filter(action=Action.SIGN).count() == 1
    signed = Notification.objects.filter(kind=NotificationKind.SIGNED).values_list("recipient", flat=True)
    assert sorted(signed) == sorted(user.pk for user in admins())  # one notice, to each admin, once
    assert not RoundOutcome.objects.filter(round=round_).exists()  # one of two approvals: still in review
    assert Project.objects.get(pk=round_.project_id).status == ProjectStatus.IN_REVIEW
    _chains_hold()


# --- 2. two reviewers disagree at the same moment -----------------------------------------


@pytest.mark.parametrize(
    ("approvals", "both_kinds"),
    [(2, True), (1, False)],
    ids=["approval-cannot-end-the-round", "approval-alone-ends-the-round"],
)
def test_request_changes_and_approve_at_once_end_the_round_once(approvals, both_kinds):
    """With one approval enough, the approval and the change request race to end the round:
    exactly one does, and the other reviewer is told the round closed. With two needed, the
    approval may land first (while the round is open) but the change request always ends it."""
    seen = set()
    for _ in range(3):
        round_, technical, clinical = _ready_round(approvals=approvals, both_kinds=both_kinds)
        results = run_together(
            _signer(round_.pk, technical.pk, Meaning.REQUEST_CHANGES), _signer(round_.pk, clinical.pk, Meaning.APPROVE)
        )
        changes, approval = results
        assert _unexpected(results, TransitionConflict) == []
        outcome = _assert_round_ended_once(round_)
        signed = {s.signer_id: s.meaning for s in Signature.objects.filter(round=round_)}
        assert len(signed) == [r.ok for r in results].count(True)
        if outcome.outcome == Outcome.CHANGES_REQUESTED:
            assert changes.ok and signed[technical.pk] == Meaning.REQUEST_CHANGES
            assert outcome.reasons == "See the item comments."
            if not approval.ok:
                assert "is closed" in str(approval.error)
        else:
            assert approvals == 1 and outcome.outcome == Outcome.APPROVED
            assert approval.ok and not changes.ok and "is closed" in str(changes.error)
            assert signed == {clinical.pk: Meaning.APPROVE}
        if approvals == 2:
            assert outcome.outcome == Outcome.CHANGES_REQUESTED
        kinds = Notification.objects.filter(key__startswith=f"outcome:{round_.pk}:").values_list("recipient", flat=True)
        assert sorted(Counter(kinds).values()) == [1] * len(kinds)
        seen.add((outcome.outcome, len(signed)))
    _chains_hold()
    assert seen  # which orders happened is up to the database; every one satisfied the invariants


# --- 3. the last two approvals at once ------------------------------------------------------


def test_the_last_two_approvals_at_once_approve_the_project_once():
    round_, technical, clinical = _ready_round()
    project = Project.objects.select_related("owner").get(pk=round_.project_id)

    results = run_together(
        _signer(round_.pk, technical.pk, Meaning.APPROVE), _signer(round_.pk, clinical.pk, Meaning.APPROVE)
    )

    assert [r.error for r in results] == [None, None]  # both approvals count; neither conflicts
    outcome = _assert_round_ended_once(round_)
    assert outcome.outcome == Outcome.APPROVED and outcome.decided_by is None
    assert project.__class__.objects.get(pk=project.pk).status == ProjectStatus.APPROVED
    assert sorted(Signature.objects.filter(round=round_).values_list("signer_id", flat=True)) == sorted(
        [technical.pk, clinical.pk]
    )
    approved = Counter(Notification.objects.filter(kind=NotificationKind.APPROVED).values_list("recipient", flat=True))
    assert set(approved) == {project.owner_id, technical.pk, clinical.pk, *(user.pk for user in admins())}
    assert set(approved.values()) == {1}
    assert ActivityEntry.objects.filter(action=Action.DECIDE).count() == 1
    _chains_hold()


# --- 4. a resubmission races a signature on the old round -----------------------------------


def _changed_answer(project: Project) -> None:
    item = GuidelineItem.objects.filter(version=project.guideline_version_id).order_by("stage__order", "order").first()
    assert item is not None
    answer_save(
        actor=project.owner,
        project=project,
        item=item,
        status=AnswerStatus.MET,
        justification="",
        evidence_text="Revised after review: the protocol now states the clinical question.",
    )


def _resubmitter(project_pk: int, *, tries: int = 1) -> Callable[[], Round]:
    """The researcher's submit button; with tries > 1, pressed again while it says "not editable"."""

    def call() -> Round:
        project = Project.objects.select_related("owner").get(pk=project_pk)
        for _ in range(tries - 1):
            try:
                return project_submit(actor=project.owner, project=project)
            except ProjectNotEditable:
                time.sleep(0.01)
        return project_submit(actor=project.owner, project=project)

    return call


def test_a_stale_signature_on_the_old_round_never_lands_while_the_researcher_resubmits():
    round_, technical, clinical = _ready_round()
    sign(round_, technical, Meaning.REQUEST_CHANGES)
    project = Project.objects.get(pk=round_.project_id)
    _changed_answer(project)

    resubmitted, stale = run_together(_resubmitter(project.pk), _signer(round_.pk, clinical.pk, Meaning.APPROVE))

    assert resubmitted.ok, resubmitted.error
    assert isinstance(stale.error, TransitionConflict)
    assert "is closed" in str(stale.error) or "no longer under review" in str(stale.error)
    assert not Signature.objects.filter(round=round_, signer=clinical).exists()
    _assert_round_ended_once(round_)
    assert resubmitted.value.number == 2
    assert Project.objects.get(pk=project.pk).status == ProjectStatus.IN_REVIEW
    _chains_hold()


def test_a_change_request_an_approval_and_a_resubmission_at_once():
    """All three at once. The resubmission succeeds only after the change request closed
    round 1; the approval lands only while round 1 is open; nothing lands on a closed round."""
    outcomes: Counter[tuple[bool, bool]] = Counter()
    for attempt in range(3):
        round_, technical, clinical = _ready_round()
        project = Project.objects.get(pk=round_.project_id)
        results = run_together(
            _signer(round_.pk, technical.pk, Meaning.REQUEST_CHANGES),
            _signer(round_.pk, clinical.pk, Meaning.APPROVE),
            _resubmitter(project.pk, tries=1 if attempt == 0 else 50),
        )
        changes, approval, resubmission = results
        assert _unexpected(results, TransitionConflict, ProjectNotEditable) == []
        assert changes.ok
        outcome = _assert_round_ended_once(round_)
        assert outcome.outcome == Outcome.CHANGES_REQUESTED
        if approval.ok:
            assert approval.value.signed_at <= outcome.decided_at
        else:
            assert "is closed" in str(approval.error) or "no longer under review" in str(approval.error)
            assert not Signature.objects.filter(round=round_, signer=clinical).exists()
        assert resubmission.ok or attempt == 0  # pressed again, it goes through once the round closed
        if resubmission.ok:
            second = resubmission.value
            assert second.number == 2 and second.submitted_at >= outcome.decided_at
            assert Project.objects.get(pk=project.pk).status == ProjectStatus.IN_REVIEW
            assert not Signature.objects.filter(round=second).exists()
        else:
            assert isinstance(resubmission.error, ProjectNotEditable)
            assert Project.objects.get(pk=project.pk).status == ProjectStatus.CHANGES_REQUESTED
            assert project.rounds.count() == 1
        outcomes[(approval.ok, resubmission.ok)] += 1
    _chains_hold()
    assert sum(outcomes.values()) == 3


# --- 5. the hash chain under concurrent appends --------------------------------------------


def test_concurrent_appends_keep_the_activity_chain_whole():
    version = ProjectFactory().guideline_version
    items = list(GuidelineItem.objects.filter(version=version).order_by("stage__order", "order")[:6])
    own = [ProjectFactory(owner=ResearcherFactory(), guideline_version=version) for _ in range(6)]
    shared = ProjectFactory(owner=ResearcherFactory(), guideline_version=version)
    before = ActivityEntry.objects.count()

    def saver(project_pk: int, tag: str) -> Callable[[], int]:
        def call() -> int:
            project = Project.objects.select_related("owner").get(pk=project_pk)
            for n, item in enumerate(items):
                answer_save(
                    actor=project.owner,
                    project=project,
                    item=item,
                    status=AnswerStatus.MET,
                    justification="",
                    evidence_text=f"{tag}: revision {n}",
                )
            return len(items)

        return call

    # Six projects with one writer each, plus two writers on one shared project.
    calls = [saver(p.pk, f"own {i}") for i, p in enumerate(own)] + [saver(shared.pk, f"shared {i}") for i in range(2)]
    results = run_together(*calls)

    assert [r.error for r in results] == [None] * 8
    # Every save changed the text, so every save logged exactly one row.
    assert ActivityEntry.objects.count() - before == 8 * len(items)
    seqs = list(ActivityEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert list(chain_verify(ActivityEntry)) == []


# --- 6. row locks that take more than the project row -----------------------------------------


def _backend_waits_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row and row[0] == "Lock")


@pytest.mark.parametrize(
    "other", ["new-project-on-the-same-version", "owner-edits-another-project", "worker-fails-a-run-of-the-project"]
)
def test_a_transition_and_an_unrelated_write_do_not_deadlock(other):
    round_, technical, _clinical = _ready_round()
    owner = Project.objects.get(pk=round_.project_id).owner
    draft = ProjectFactory(owner=owner)
    item = GuidelineItem.objects.filter(version=draft.guideline_version_id).order_by("stage__order", "order").first()
    assert item is not None
    run = AuditRun.objects.create(
        project_id=round_.project_id, status=RunStatus.RUNNING, reason="test", input_digest="0" * 64, attempts=1
    )
    locked, go, done = threading.Event(), threading.Event(), threading.Event()
    other_pid: list[int] = []

    def transition() -> None:
        """What every review transition does: lock the project, check, then log (round_sign,
        assignment_create, ...), with the pause a slow request has between the two."""
        with transaction.atomic():
            lock_project(round_.project_id)
            locked.set()
            assert go.wait(TIMEOUT)
            activity_record(actor=technical, action=Action.REVIEW, obj=round_, project=round_.project)

    def unrelated() -> None:
        assert locked.wait(TIMEOUT)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            other_pid.append(cursor.fetchone()[0])
        if other == "new-project-on-the-same-version":
            data = {name: getattr(draft, name) for name in ("title", "summary", "synthesis_task", "modalities",
                    "generator_family", "intended_use", "prohibited_uses", "data_sources")}  # fmt: skip
            project_create(actor=ResearcherFactory(), data=data)
        elif other == "owner-edits-another-project":
            answer_save(
                actor=owner, project=draft, item=item, status=AnswerStatus.MET, justification="", evidence_text="x"
            )
        else:  # an audit worker ends a run of the project under review, and logs that on the project
            assert run_fail(run_id=run.pk, reason="The worker was lost.")
        done.set()

    def release() -> None:
        """Let the transition go on once the unrelated write waits at its commit."""
        try:
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline and not done.is_set():
                if other_pid and _backend_waits_on_a_lock(other_pid[0]):
                    break
                time.sleep(0.02)
            go.set()
        finally:
            connections.close_all()

    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    results = run_together(transition, unrelated)
    releaser.join(TIMEOUT)
    assert [repr(r.error) for r in results if r.error] == []
    _chains_hold()
