"""Portfolios for the board dashboard's tests, built straight in the database.

`small_world` is made by hand so that every figure has a known answer (medians, overdue
count, the item most often marked "must change", ...). `bulk_world` adds N projects of every
kind with bulk_create (a few queries per thousand rows), for the query-count tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC as TZ_UTC
from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone

from audits.enums import RunStatus
from audits.models import AuditRun
from reviews.enums import (
    AssignmentStatus,
    ExpertiseKind,
    Modality,
    Outcome,
    ProjectStatus,
    SynthesisTask,
    Verdict,
    VersionStatus,
)
from reviews.models import (
    Assignment,
    AuditWaiver,
    GuidelineItem,
    GuidelineVersion,
    ItemReview,
    Project,
    Round,
    RoundOutcome,
    RoundReview,
    User,
)
from tests.factories import AdminFactory, ProjectFactory, ResearcherFactory, ReviewerFactory

AUDITS = ("disclosure", "privacy", "memorization", "fidelity", "representation", "manifest")


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TZ_UTC)


def results(**statuses: str) -> dict[str, Any]:
    """An audit run's results with each audit's status (pass unless named)."""
    return {a: {"audit": a, "status": statuses.get(a, "pass"), "summary": f"{a} summary"} for a in AUDITS}


def second_version(catalogue: GuidelineVersion) -> GuidelineVersion:
    return GuidelineVersion.objects.create(
        guideline_set=catalogue.guideline_set,
        number=catalogue.number + 1,
        status=VersionStatus.PUBLISHED,
        published_at=timezone.now(),
        parent=catalogue,
    )


def submit(project: Project, when: datetime, *, number: int = 1) -> Round:
    return Round.objects.create(
        project=project,
        number=number,
        guideline_version=project.guideline_version,
        canonical_json="{}",
        digest="0" * 64,
        submitted_by=project.owner,
        submitted_at=when,
    )


def decide(round_: Round, outcome: str, when: datetime) -> RoundOutcome:
    return RoundOutcome.objects.create(round=round_, outcome=outcome, decided_at=when)


def assign(project: Project, reviewer: User, admin: User, *, status: str, due: date) -> Assignment:
    return Assignment.objects.create(project=project, reviewer=reviewer, assigned_by=admin, status=status, due_date=due)


def reviewed(
    round_: Round, reviewer: User, verdicts: dict[GuidelineItem, str], *, submitted: bool = True
) -> RoundReview:
    review = RoundReview.objects.create(
        round=round_, reviewer=reviewer, submitted_at=round_.submitted_at + timedelta(days=1) if submitted else None
    )
    ItemReview.objects.bulk_create(
        ItemReview(
            review=review, item=item, verdict=verdict, comment="" if verdict == Verdict.ACCEPTABLE else "Fix it."
        )
        for item, verdict in verdicts.items()
    )
    return review


def audit_run(
    project: Project, *, status: str = RunStatus.SUCCEEDED, created: datetime, **audit_statuses: str
) -> AuditRun:
    run = AuditRun.objects.create(
        project=project,
        status=status,
        reason="test",
        input_digest="0" * 64,
        results=results(**audit_statuses) if status == RunStatus.SUCCEEDED else None,
        error="" if status != RunStatus.FAILED else "worker lost",
    )
    AuditRun.objects.filter(pk=run.pk).update(created_at=created)
    return run


@dataclass
class SmallWorld:
    v1: GuidelineVersion
    v2: GuidelineVersion
    projects: dict[str, Project]
    reviewers: dict[str, User]
    admin: User
    expected: dict[str, Any] = field(default_factory=dict)


def small_world(catalogue: GuidelineVersion) -> SmallWorld:
    """Twelve projects on two versions with known figures (see `expected`)."""
    v1, v2 = catalogue, second_version(catalogue)
    owner = ResearcherFactory(full_name="Rosa Researcher")
    admin = AdminFactory(full_name="Ada Admin")
    tess = ReviewerFactory(full_name="Tess Technical", expertise=ExpertiseKind.TECHNICAL)
    carl = ReviewerFactory(full_name="Carl Clinical", expertise=ExpertiseKind.CLINICAL)
    ivy = ReviewerFactory(full_name="Ivy Idle", expertise=ExpertiseKind.ETHICS)
    items = {i.code: i for i in GuidelineItem.objects.filter(version=v1)}
    today = timezone.localdate()

    def project(
        name: str,
        status: str,
        *,
        version: GuidelineVersion = v1,
        modality: str = Modality.CT,
        task: str = SynthesisTask.AUGMENTATION,
    ) -> Project:
        return ProjectFactory(
            owner=owner,
            guideline_version=version,
            title=name,
            status=status,
            modalities=[modality],
            synthesis_task=task,
        )

    p: dict[str, Project] = {}
    # Four approved or rejected on v1, CT: 10, 20, 30 and 40 days from round 1 to decision,
    # submitted in January and February 2026. Median 25, 90th percentile 37.
    for name, start, days, outcome in (
        ("v1-a", date(2026, 1, 5), 10, Outcome.APPROVED),
        ("v1-b", date(2026, 1, 20), 20, Outcome.REJECTED),
        ("v1-c", date(2026, 2, 3), 30, Outcome.APPROVED),
        ("v1-d", date(2026, 2, 10), 40, Outcome.APPROVED),
    ):
        status = ProjectStatus.APPROVED if outcome == Outcome.APPROVED else ProjectStatus.REJECTED
        p[name] = project(name, status)
        decide(submit(p[name], at(start)), outcome, at(start + timedelta(days=days)))
    # Two decided on v2, MR: 4 and 6 days (median 5, 90th percentile 5.8), submitted in March.
    for name, start, days in (("v2-a", date(2026, 3, 2), 4), ("v2-b", date(2026, 3, 9), 6)):
        p[name] = project(
            name, ProjectStatus.APPROVED, version=v2, modality=Modality.MR, task=SynthesisTask.SUPER_RESOLUTION
        )
        decide(submit(p[name], at(start)), Outcome.APPROVED, at(start + timedelta(days=days)))
    # Waiting on reviewers (v1, CT, submitted in May): one in review with two overdue reviews
    # (Tess and Carl, due yesterday) and one not yet due; one submitted with nobody assigned
    # (Carl declined); one submitted with an unanswered invitation to Ivy, due in a week.
    p["review"] = project("in-review", ProjectStatus.IN_REVIEW)
    round_review = submit(p["review"], at(date(2026, 5, 4)))
    assign(p["review"], tess, admin, status=AssignmentStatus.ACCEPTED, due=today - timedelta(days=1))
    assign(p["review"], carl, admin, status=AssignmentStatus.ACCEPTED, due=today - timedelta(days=1))
    p["nobody"] = project("nobody", ProjectStatus.SUBMITTED)
    submit(p["nobody"], at(date(2026, 5, 11)))
    assign(p["nobody"], carl, admin, status=AssignmentStatus.DECLINED, due=today - timedelta(days=3))
    p["invited"] = project("invited", ProjectStatus.SUBMITTED)
    submit(p["invited"], at(date(2026, 5, 12)))
    assign(p["invited"], ivy, admin, status=AssignmentStatus.INVITED, due=today + timedelta(days=7))
    # An approved project whose accepted assignment's due date passed long ago: history, not overdue.
    assign(p["v1-a"], tess, admin, status=AssignmentStatus.ACCEPTED, due=date(2026, 1, 26))
    # Changes requested (v1, CT): Tess still holds it (open, not overdue: it waits on the researcher).
    p["changes"] = project("changes", ProjectStatus.CHANGES_REQUESTED)
    round_changes = submit(p["changes"], at(date(2026, 4, 1)))
    decide(round_changes, Outcome.CHANGES_REQUESTED, at(date(2026, 4, 8)))
    assign(p["changes"], tess, admin, status=AssignmentStatus.ACCEPTED, due=date(2026, 4, 20))
    # Two drafts (never submitted), one on v2.
    p["draft"] = project("draft", ProjectStatus.DRAFT)
    p["draft-v2"] = project("draft-v2", ProjectStatus.DRAFT, version=v2, modality=Modality.MR)

    # Verdicts: EV-5 must change in three submitted reviews (on two projects), PF-1 in one;
    # an unsubmitted review marks PF-1 and EV-1 must change (it does not count).
    reviewed(round_changes, tess, {items["EV-5"]: Verdict.MUST_CHANGE, items["PF-1"]: Verdict.MUST_CHANGE})
    reviewed(round_changes, carl, {items["EV-5"]: Verdict.MUST_CHANGE, items["EV-1"]: Verdict.CONCERN})
    first_v1b = Round.objects.get(project=p["v1-b"], number=1)
    reviewed(first_v1b, tess, {items["EV-5"]: Verdict.MUST_CHANGE, items["PF-1"]: Verdict.ACCEPTABLE})
    reviewed(
        round_review, carl, {items["PF-1"]: Verdict.MUST_CHANGE, items["EV-1"]: Verdict.MUST_CHANGE}, submitted=False
    )

    # Audits: v1-a's older run failed privacy, its latest succeeded run passes, and a newer run
    # failed to run (not a result): privacy does not count for it. v1-b's latest fails privacy
    # and disclosure; "review" fails disclosure. A reviewer waived memorization on v1-b and on
    # "changes", and twice (two reviewers) fidelity on "changes".
    audit_run(p["v1-a"], created=at(date(2026, 1, 1)), privacy="fail")
    audit_run(p["v1-a"], created=at(date(2026, 1, 2)))
    audit_run(p["v1-a"], created=at(date(2026, 1, 3)), status=RunStatus.FAILED)
    audit_run(p["v1-b"], created=at(date(2026, 1, 10)), privacy="fail", disclosure="fail")
    audit_run(p["review"], created=at(date(2026, 5, 1)), disclosure="fail", fidelity="warn")
    for round_, audit, who in (
        (first_v1b, "memorization", tess),
        (round_changes, "memorization", tess),
        (round_changes, "fidelity", tess),
        (round_changes, "fidelity", carl),
    ):
        AuditWaiver.objects.create(
            round=round_, audit=audit, audit_status="fail", reason="Judged acceptable.", waived_by=who
        )

    world = SmallWorld(v1=v1, v2=v2, projects=p, reviewers={"tess": tess, "carl": carl, "ivy": ivy}, admin=admin)
    world.expected = {
        "total": 12,
        "states": {"approved": 5, "rejected": 1, "in_review": 1, "submitted": 2, "changes_requested": 1, "draft": 2},
        "turnaround": {v1.pk: (4, 25.0, 37.0), v2.pk: (2, 5.0, 5.8)},
        "overdue_reviews": 2,
        "overdue_projects": 1,
        "unassigned": 1,
        "invitations": 1,
        # reviewer -> (open assignments, overdue, rounds reviewed)
        "load": {"Tess Technical": (2, 1, 2), "Carl Clinical": (1, 1, 1), "Ivy Idle": (1, 0, 0)},
        "items": [("EV-5", 3, 2), ("PF-1", 1, 1)],
        "failing": {"disclosure": 2, "privacy": 1},
        "waived": {"memorization": 2, "fidelity": 1},
        # month -> (first submissions, decisions): v1-b decided on 9 February, four in March.
        "months": {"2026-01": (2, 1), "2026-02": (2, 1), "2026-03": (2, 4), "2026-04": (1, 0), "2026-05": (3, 0)},
    }
    return world


def bulk_world(catalogue: GuidelineVersion, n: int) -> None:
    """n projects of every kind (drafts, waiting, decided), each decided one with a round, an
    outcome, an assignment, a submitted review with a must-change verdict, an audit run and a
    waiver: a few bulk inserts whatever n."""
    today = timezone.localdate()
    owner = ResearcherFactory()
    admin = AdminFactory()
    reviewers = [ReviewerFactory(expertise=ExpertiseKind.TECHNICAL) for _ in range(3)]
    item = GuidelineItem.objects.filter(version=catalogue).order_by("stage__order", "order").first()
    statuses = [
        ProjectStatus.DRAFT,
        ProjectStatus.SUBMITTED,
        ProjectStatus.IN_REVIEW,
        ProjectStatus.APPROVED,
        ProjectStatus.REJECTED,
        ProjectStatus.CHANGES_REQUESTED,
    ]
    projects = Project.objects.bulk_create(
        Project(
            owner=owner,
            title=f"Bulk project {i}",
            summary="s",
            synthesis_task=SynthesisTask.AUGMENTATION,
            modalities=[Modality.CT if i % 2 else Modality.MR],
            generator_family="diffusion",
            intended_use="u",
            prohibited_uses="p",
            data_sources="d",
            guideline_version=catalogue,
            status=statuses[i % len(statuses)],
        )
        for i in range(n)
    )
    submitted = [pr for pr in projects if pr.status != ProjectStatus.DRAFT]
    start = at(date(2025, 1, 1))
    rounds = Round.objects.bulk_create(
        Round(
            project=pr,
            number=1,
            guideline_version=catalogue,
            canonical_json="{}",
            digest="0" * 64,
            submitted_by=owner,
            submitted_at=start + timedelta(days=i % 500),
        )
        for i, pr in enumerate(submitted)
    )
    by_project = {r.project_id: r for r in rounds}
    outcomes = {
        ProjectStatus.APPROVED: Outcome.APPROVED,
        ProjectStatus.REJECTED: Outcome.REJECTED,
        ProjectStatus.CHANGES_REQUESTED: Outcome.CHANGES_REQUESTED,
    }
    RoundOutcome.objects.bulk_create(
        RoundOutcome(
            round=by_project[pr.pk],
            outcome=outcomes[pr.status],
            decided_at=by_project[pr.pk].submitted_at + timedelta(days=5 + i % 60),
        )
        for i, pr in enumerate(submitted)
        if pr.status in outcomes
    )
    Assignment.objects.bulk_create(
        Assignment(
            project=pr,
            reviewer=reviewers[i % 3],
            assigned_by=admin,
            due_date=today - timedelta(days=i % 7 - 3),
            status=AssignmentStatus.INVITED if i % 4 == 0 else AssignmentStatus.ACCEPTED,
        )
        for i, pr in enumerate(submitted)
        if i % 5
    )
    reviews = RoundReview.objects.bulk_create(
        RoundReview(round=r, reviewer=reviewers[i % 3], submitted_at=r.submitted_at + timedelta(days=2))
        for i, r in enumerate(rounds)
    )
    ItemReview.objects.bulk_create(
        ItemReview(review=rv, item=item, verdict=Verdict.MUST_CHANGE, comment="Fix it.") for rv in reviews
    )
    AuditRun.objects.bulk_create(
        AuditRun(
            project=pr,
            number=k,
            status=RunStatus.SUCCEEDED,
            reason="bulk",
            input_digest="0" * 64,
            results=results(privacy="fail" if (i + k) % 3 else "pass"),
        )
        for i, pr in enumerate(projects)
        for k in (1, 2)
    )
    AuditWaiver.objects.bulk_create(
        AuditWaiver(round=r, audit="memorization", audit_status="fail", reason="ok", waived_by=reviewers[0])
        for r in rounds[::3]
    )


def add_later_lives(world: SmallWorld) -> dict[str, Project]:
    """Three approved projects that moved on after their decision, so "decided" is no longer a
    current state (all v1 decisions, CT):

    - "amending": approved in January (12 days), its amendment (round 2) now in review;
    - "withdrawn": approved in February (8 days), withdrawn since;
    - "moved": approved in January (16 days), its amendment moved to v2 and back with the researcher.
    """
    owner = world.projects["draft"].owner
    v1, v2 = world.v1, world.v2
    added: dict[str, Project] = {}
    for name, status, start, days in (
        ("amending", ProjectStatus.IN_REVIEW, date(2026, 1, 12), 12),
        ("withdrawn", ProjectStatus.WITHDRAWN, date(2026, 2, 16), 8),
        ("moved", ProjectStatus.AMENDMENT, date(2026, 1, 26), 16),
    ):
        project = ProjectFactory(
            owner=owner,
            guideline_version=v1,
            title=name,
            status=status,
            modalities=[Modality.CT],
            synthesis_task=SynthesisTask.AUGMENTATION,
        )
        decide(submit(project, at(start)), Outcome.APPROVED, at(start + timedelta(days=days)))
        added[name] = project
    # The amendment's second round, submitted in April and not decided yet.
    submit(added["amending"], at(date(2026, 4, 20)), number=2)
    # The moved amendment now follows v2; its round 1 keeps v1 (Round.guideline_version).
    Project.objects.filter(pk=added["moved"].pk).update(guideline_version=v2)
    added["moved"].refresh_from_db()
    world.projects.update(added)
    return added


def decided_world(catalogue: GuidelineVersion, hours_to_decision: list[float]) -> User:
    """Approved projects on one version, each decided that many hours after its first submission
    (at 09:00 UTC on 2 March 2026, so that up to 14.9 hours is the same day); returns an admin."""
    owner = ResearcherFactory(full_name="Rosa Researcher")
    start = at(date(2026, 3, 2))
    for i, hours in enumerate(hours_to_decision):
        project = ProjectFactory(
            owner=owner, guideline_version=catalogue, title=f"decided-{i}", status=ProjectStatus.APPROVED
        )
        decide(submit(project, start), Outcome.APPROVED, start + timedelta(hours=hours))
    return AdminFactory(full_name="Ada Admin")
