"""The researcher's to-do list on the project overview: who sees it, what it leaves out."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from audits.enums import RunStatus, SetRole
from audits.models import AuditRun, ImageSet
from audits.selectors import AUDITS
from audits.services.runs import audit_run_request
from reviews.enums import Meaning, OverclaimFinding, ProjectStatus, Verdict
from reviews.models import GuidelineItem, Project
from reviews.services.review import VerdictInput, audit_waive, round_review_save
from tests.audits.test_pages import make_result
from tests.workflow import reviewers_on, sign, submitted

pytestmark = pytest.mark.django_db

NOTE = "The summary promises clinical use; the evaluation stops at phase 1."


def _failing_disclosure(project: Project) -> None:
    ImageSet.objects.create(
        project=project, role=SetRole.SYNTHETIC, uploaded_by=project.owner, digest="a" * 64, n_files=1, n_accepted=1
    )
    run = audit_run_request(project=project, actor=project.owner, reason="synthetic set uploaded")
    results = {audit: make_result(audit, "fail" if audit == "disclosure" else "pass") for audit in AUDITS}
    AuditRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, results=results, finished_at=timezone.now())


def _review(round_, reviewer, *, must_change: str = "", overclaim: str = OverclaimFinding.WITHIN) -> None:
    round_review_save(
        actor=reviewer,
        round_=round_,
        verdicts=[
            VerdictInput(item=item, verdict=Verdict.MUST_CHANGE, comment="Say how.")
            if item.code == must_change
            else VerdictInput(item=item, verdict=Verdict.ACCEPTABLE, comment="")
            for item in GuidelineItem.objects.filter(version=round_.guideline_version_id)
        ],
        declared_phase=1,
        overclaim=overclaim,
        overclaim_note=NOTE if overclaim == OverclaimFinding.OVERCLAIM else "",
        submit=True,
    )


def _overview(client, user, project) -> str:
    client.force_login(user)
    return client.get(reverse("project-detail", kwargs={"pk": project.pk})).content.decode()


def test_a_failing_audit_is_on_the_owners_list_until_a_reviewer_waives_it(client, project, admin_user) -> None:
    _failing_disclosure(project)
    page = _overview(client, project.owner, project)
    assert "What you need to do" in page and "Disclosure audit</a>" in page
    assert "Correct the images and upload them again" in page

    round_ = submitted(project)
    technical, _clinical = reviewers_on(project, admin=admin_user)
    page = _overview(client, project.owner, project)
    assert "Disclosure audit</a>" in page and "the images cannot change now" in page
    assert "What you need to do" not in _overview(client, technical, project)  # the owner's list only
    assert "What you need to do" not in _overview(client, admin_user, project)

    audit_waive(actor=technical, round_=round_, audit="disclosure", reason="Marked in the sidecar.", status="fail")
    assert "What you need to do" not in _overview(client, project.owner, project)


def test_findings_show_only_once_the_round_has_ended(client, project, admin_user) -> None:
    round_ = submitted(project)
    technical, _clinical = reviewers_on(project, admin=admin_user)
    _review(round_, technical, must_change="EV-5", overclaim=OverclaimFinding.OVERCLAIM)
    page = _overview(client, project.owner, project)
    assert "What you need to do" not in page and NOTE not in page  # reviews stay private until the round ends

    sign(round_, technical, Meaning.REQUEST_CHANGES)
    project.refresh_from_db()
    assert project.status == ProjectStatus.CHANGES_REQUESTED
    page = _overview(client, project.owner, project)
    assert "Revise EV-5</a>" in page and NOTE in page
    round_page = client.get(round_.get_absolute_url()).content.decode()
    assert 'id="overclaim"' in round_page and NOTE in round_page
    claims_page = client.get(reverse("answer-edit", kwargs={"pk": project.pk, "code": "EV-10"})).content.decode()
    assert NOTE in claims_page
    other_item = client.get(reverse("answer-edit", kwargs={"pk": project.pk, "code": "PF-1"})).content.decode()
    assert NOTE not in other_item
