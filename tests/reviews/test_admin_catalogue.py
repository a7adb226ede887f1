"""Admins keep the catalogue in the Django admin: draft versions change, published ones never do."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviews.enums import VersionStatus
from reviews.models import ActivityEntry, GuidelineItem, GuidelineVersion
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _item_form(item: GuidelineItem, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "version": item.version_id,
        "stage": item.stage_id,
        "code": item.code,
        "order": item.order,
        "requirement": item.requirement,
        "rationale": item.rationale,
        "evidence": item.evidence,
        "basis": item.basis,
        "basis_note": item.basis_note,
        "automation": item.automation,
        "automation_note": item.automation_note,
        "audit": item.audit,
    }
    if item.required:
        data["required"] = "on"
    data.update(changes)
    return data


def _action(client, action: str, version: GuidelineVersion):
    return client.post(
        reverse("admin:reviews_guidelineversion_changelist"),
        {"action": action, "_selected_action": [version.pk]},
        follow=True,
    )


def test_admin_drafts_edits_and_publishes_a_new_version_while_projects_keep_theirs(client, admin_user, catalogue):
    older_project = ProjectFactory(guideline_version=catalogue)
    client.force_login(admin_user)

    page = _action(client, "new_draft", catalogue)
    assert "created as a draft copy" in page.content.decode()
    draft = GuidelineVersion.objects.get(number=2)
    assert draft.status == VersionStatus.DRAFT
    assert draft.items.count() == 45 and draft.stages.count() == 7

    item = draft.items.get(code="PF-1")
    url = reverse("admin:reviews_guidelineitem_change", args=[item.pk])
    response = client.post(url, _item_form(item, requirement="State the clinical problem the images serve."))
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.requirement == "State the clinical problem the images serve."

    page = _action(client, "publish", draft)
    assert "is published" in page.content.decode()
    draft.refresh_from_db()
    assert draft.status == VersionStatus.PUBLISHED and draft.published_at is not None
    assert ActivityEntry.objects.filter(action="publish", object_id=str(draft.pk)).count() == 1

    # Frozen now: the change page is view-only and a forged POST changes nothing.
    assert b'name="_save"' not in client.get(url).content
    assert client.post(url, _item_form(item, requirement="Changed after publication")).status_code == 403
    item.refresh_from_db()
    assert item.requirement == "State the clinical problem the images serve."

    older_project.refresh_from_db()
    assert older_project.guideline_version == catalogue
    assert catalogue.items.get(code="PF-1").requirement.startswith("State the concrete clinical")


def test_a_published_version_refuses_admin_edits_and_a_second_publication(client, admin_user, catalogue):
    client.force_login(admin_user)
    item = catalogue.items.get(code="DS-2")
    url = reverse("admin:reviews_guidelineitem_change", args=[item.pk])
    assert client.post(url, _item_form(item, requirement="Anything")).status_code == 403
    delete_url = reverse("admin:reviews_guidelineitem_delete", args=[item.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert GuidelineItem.objects.filter(pk=item.pk, requirement__startswith="Mark every synthetic DICOM").exists()

    page = _action(client, "publish", catalogue)
    assert "already published" in page.content.decode()


def test_only_one_draft_at_a_time(client, admin_user, catalogue):
    client.force_login(admin_user)
    _action(client, "new_draft", catalogue)
    page = _action(client, "new_draft", catalogue)
    assert "already has a draft version" in page.content.decode()
    assert GuidelineVersion.objects.filter(status=VersionStatus.DRAFT).count() == 1


def test_researchers_and_reviewers_cannot_reach_the_catalogue_admin(client, researcher, reviewer, catalogue):
    for user in (researcher, reviewer):
        client.force_login(user)
        response = client.get(reverse("admin:reviews_guidelineitem_changelist"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_account_changes_in_the_django_admin_are_logged(client, admin_user, researcher):
    client.force_login(admin_user)
    url = reverse("admin:reviews_user_change", args=[researcher.pk])
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update(
        {
            "username": researcher.username,
            "full_name": researcher.full_name,
            "email": researcher.email,
            "role": "reviewer",
            "expertise": "clinical",
            "is_active": "on",
            "date_joined_0": researcher.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": researcher.date_joined.strftime("%H:%M:%S"),
        }
    )
    data.pop("groups", None)
    data.pop("user_permissions", None)
    data.pop("last_login", None)
    data.pop("date_joined", None)
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    entry = ActivityEntry.objects.filter(object_type="reviews.user", object_id=str(researcher.pk)).latest("pk")
    assert entry.actor == admin_user and entry.action == "change"
    assert entry.old == {"role": "researcher", "expertise": ""}
    assert entry.new == {"role": "reviewer", "expertise": "clinical"}
