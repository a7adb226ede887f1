"""Opening an amendment asks why; the reason is kept in the chained log and shown; the
overview keeps showing the approval while the amendment is open."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from reviews.enums import Action, ProjectStatus
from reviews.models import ActivityEntry, Project, RoundOutcome
from reviews.services.chain import chain_verify
from reviews.services.decisions import project_amend
from tests.workflow import reviewers_on, submitted

pytestmark = pytest.mark.django_db

REASON = "A second hospital joins: its scanners add 300 synthetic slices to the set."


@pytest.fixture
def approved(project, admin_user) -> Project:
    round_ = submitted(project)
    reviewers_on(project, admin=admin_user)
    RoundOutcome.objects.create(round=round_, outcome="approved", decided_at=timezone.now(), decided_by=admin_user)
    Project.objects.filter(pk=project.pk).update(status=ProjectStatus.APPROVED)
    project.refresh_from_db()
    return project


def test_the_service_refuses_an_amendment_without_a_reason(approved) -> None:
    with pytest.raises(ValueError, match="Say why the project is amended"):
        project_amend(actor=approved.owner, project=approved, reason="   ")
    approved.refresh_from_db()
    assert approved.status == ProjectStatus.APPROVED
    assert not ActivityEntry.objects.filter(action=Action.AMEND).exists()


def test_the_overview_asks_for_a_reason_and_refuses_none(client, approved) -> None:
    client.force_login(approved.owner)
    url = reverse("project-detail", kwargs={"pk": approved.pk})
    page = client.get(url).content.decode()
    assert "Why amend the approved project?" in page and 'name="reason"' in page
    assert 'data-confirm="Open an amendment?' in page  # the browser asks for confirmation first

    response = client.post(reverse("project-amend", kwargs={"pk": approved.pk}), {"reason": "  "})
    assert response.status_code == 400
    assert "Say why the project is amended." in response.content.decode()
    approved.refresh_from_db()
    assert approved.status == ProjectStatus.APPROVED
    assert not ActivityEntry.objects.filter(action=Action.AMEND).exists()


def test_the_reason_is_logged_shown_in_the_history_and_the_approval_stays_in_the_header(client, approved) -> None:
    client.force_login(approved.owner)
    response = client.post(reverse("project-amend", kwargs={"pk": approved.pk}), {"reason": f"  {REASON} "})
    assert response.status_code == 302 and response["Location"].endswith(f"/projects/{approved.pk}/checklist/")
    approved.refresh_from_db()
    assert approved.status == ProjectStatus.AMENDMENT

    entry = ActivityEntry.objects.get(action=Action.AMEND)
    assert entry.new == {"status": ProjectStatus.AMENDMENT, "reason": REASON}
    assert list(chain_verify(ActivityEntry)) == []

    history = client.get(reverse("project-history", kwargs={"pk": approved.pk})).content.decode()
    assert REASON in history

    overview = client.get(reverse("project-detail", kwargs={"pk": approved.pk})).content.decode()
    decided = RoundOutcome.objects.get().decided_at
    assert f"Approved</span> on {decided:%Y-%m-%d} in" in overview and "round 1</a>; the approval stands" in overview
