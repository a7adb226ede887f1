"""Projects driven to the states the register cares about, with the real services (for tests)."""

from __future__ import annotations

from django.utils import timezone

from audits.enums import RunStatus, SetRole
from audits.models import AuditRun, ImageSet
from public.models import Listing, RegisterSettings
from reviews.enums import Meaning, ProjectStatus
from reviews.models import Project, Round, User
from reviews.services.projects import project_submit
from tests.factories import ProjectFactory
from tests.workflow import answer_everything, review, reviewers_on, sign, waive_all

DISCLOSURE_SUMMARY = "12 of 12 synthetic files (100%) are machine-readably marked as synthetic."


def set_listing(listing: str, *, show_signer_names: bool = False) -> None:
    RegisterSettings.objects.update_or_create(
        pk=1, defaults={"listing": listing, "show_signer_names": show_signer_names}
    )


def submit(project: Project, *, listed: bool | None) -> Round:
    answer_everything(project)
    return project_submit(actor=project.owner, project=project, public_listing=listed)


def decide(round_: Round, meaning: str = Meaning.APPROVE, *, admin: User | None = None) -> None:
    """Two reviewers review and sign the round with `meaning` (the first signature ends a
    rejection or a change request)."""
    team = reviewers_on(round_.project, admin=admin)
    for reviewer in team:
        review(round_, reviewer)
    waive_all(round_, team[0])
    for reviewer in team:
        sign(round_, reviewer, meaning)
        round_.project.refresh_from_db()
        if round_.project.status != ProjectStatus.IN_REVIEW:
            break


def approved(
    owner: User, catalogue, *, title: str, listed: bool = True, admin: User | None = None, **fields
) -> Project:  # type: ignore[no-untyped-def]
    project = ProjectFactory(owner=owner, guideline_version=catalogue, title=title, **fields)
    decide(submit(project, listed=listed), admin=admin)
    project.refresh_from_db()
    assert project.status == ProjectStatus.APPROVED
    return project


def with_audited_images(project: Project) -> None:
    """A current synthetic set, so that the submission queues a run; finish_run completes it."""
    ImageSet.objects.create(
        project=project, role=SetRole.SYNTHETIC, uploaded_by=project.owner, digest="a" * 64, n_files=12, n_accepted=12
    )


def finish_run(round_: Round, statuses: dict[str, str]) -> AuditRun:
    """The run queued at submission finishes, as a worker would leave it."""
    run = AuditRun.objects.get(project=round_.project, input_digest=round_.snapshot["audit_input_digest"])
    results = {
        audit: {
            "status": status,
            "summary": DISCLOSURE_SUMMARY if audit == "disclosure" else f"SECRET-AUDIT-SENTENCE {audit} is {status}.",
        }
        for audit, status in statuses.items()
    }
    now = timezone.now()
    AuditRun.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED, results=results, progress=100, started_at=now, finished_at=now
    )
    return run


__all__ = ["Listing", "approved", "decide", "finish_run", "set_listing", "submit", "with_audited_images"]
