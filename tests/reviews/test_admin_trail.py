"""Changes made through the Django admin are in the hash-chained activity log, like the app's own;
refused requests are logged with user, address and URL."""

from __future__ import annotations

import logging
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from reviews.models import ActivityEntry, GuidelineItem, GuidelineVersion, Stage
from reviews.services.catalogue import guideline_version_new_draft

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough admin password 7"


def _entries(obj) -> list[ActivityEntry]:
    return list(ActivityEntry.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).order_by("seq"))


def _verify_log() -> str:
    out = StringIO()
    call_command("verify_log", stdout=out)
    return out.getvalue()


@pytest.fixture
def draft(catalogue, admin_user) -> GuidelineVersion:
    return guideline_version_new_draft(source=catalogue, actor=admin_user)


def _item_form(item: GuidelineItem, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        name: getattr(item, name)
        for name in ("code", "order", "requirement", "rationale", "evidence", "basis", "basis_note")
    }
    data.update(
        version=item.version_id,
        stage=item.stage_id,
        automation=item.automation,
        automation_note=item.automation_note,
        audit=item.audit,
    )
    if item.required:
        data["required"] = "on"
    data.update(changes)
    return data


def test_an_admin_edit_of_a_guideline_item_is_in_the_chain_with_old_and_new_values(client, admin_user, draft):
    client.force_login(admin_user)
    item = draft.items.get(code="PF-1")
    before = item.requirement
    response = client.post(
        reverse("admin:reviews_guidelineitem_change", args=[item.pk]),
        _item_form(item, requirement="State the clinical problem the images serve.", order=item.order + 100),
    )
    assert response.status_code == 302
    entry = _entries(item)[-1]
    assert entry.action == "change" and entry.actor == admin_user and entry.actor_name == admin_user.display_name
    assert entry.old == {"requirement": before, "order": item.order}
    assert entry.new == {"requirement": "State the clinical problem the images serve.", "order": item.order + 100}
    assert "verify_log: OK, every chain and digest holds." in _verify_log()


def test_inline_stages_added_changed_and_deleted_in_the_admin_are_each_logged(client, admin_user, draft):
    client.force_login(admin_user)
    empty = Stage.objects.create(version=draft, order=90, code="ZZ", name="A stage without items")
    stages = list(draft.stages.order_by("order"))
    url = reverse("admin:reviews_guidelineversion_change", args=[draft.pk])
    data: dict[str, object] = {
        "guideline_set": draft.guideline_set_id,
        "number": draft.number,
        "notes": draft.notes,
        "stages-TOTAL_FORMS": len(stages) + 1,
        "stages-INITIAL_FORMS": len(stages),
        "stages-MIN_NUM_FORMS": 0,
        "stages-MAX_NUM_FORMS": 1000,
    }
    for index, stage in enumerate(stages):
        data.update(
            {
                f"stages-{index}-id": stage.pk,
                f"stages-{index}-version": draft.pk,
                f"stages-{index}-order": stage.order,
                f"stages-{index}-code": stage.code,
                f"stages-{index}-name": stage.name,
            }
        )
    data[f"stages-{0}-name"] = "Renamed first stage"
    new = len(stages)
    data.update({f"stages-{new}-version": draft.pk, f"stages-{new}-order": 99, f"stages-{new}-code": "XX"})
    data[f"stages-{new}-name"] = "An added stage"
    data[f"stages-{stages.index(empty)}-DELETE"] = "on"
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""

    renamed = _entries(stages[0])[-1]
    assert renamed.action == "change" and renamed.old == {"name": stages[0].name}
    assert renamed.new == {"name": "Renamed first stage"}
    added = Stage.objects.get(version=draft, code="XX")
    assert [e.action for e in _entries(added)] == ["create"] and _entries(added)[0].new["name"] == "An added stage"
    assert not Stage.objects.filter(pk=empty.pk).exists()
    (deleted,) = ActivityEntry.objects.filter(object_type="reviews.stage", object_id=str(empty.pk), action="delete")
    assert deleted.old["name"] == "A stage without items" and deleted.old["code"] == "ZZ"
    assert "verify_log: OK" in _verify_log()


def test_a_bulk_delete_in_the_admin_logs_each_item_before_it_goes(client, admin_user, draft):
    client.force_login(admin_user)
    doomed = list(draft.items.order_by("pk")[:2])
    response = client.post(
        reverse("admin:reviews_guidelineitem_changelist"),
        {"action": "delete_selected", "_selected_action": [item.pk for item in doomed], "post": "yes"},
    )
    assert response.status_code == 302
    assert not GuidelineItem.objects.filter(pk__in=[item.pk for item in doomed]).exists()
    for item in doomed:
        (entry,) = ActivityEntry.objects.filter(object_type="reviews.guidelineitem", object_id=str(item.pk))
        assert entry.action == "delete" and entry.old["code"] == item.code and entry.actor == admin_user
    assert "verify_log: OK" in _verify_log()


def test_a_password_set_in_the_admin_is_logged_as_changed_never_as_its_hash(client, admin_user, researcher):
    client.force_login(admin_user)
    url = reverse("admin:auth_user_password_change", args=[researcher.pk])
    response = client.post(url, {"password1": PASSWORD, "password2": PASSWORD, "usable_password": "true"})
    assert response.status_code == 302
    researcher.refresh_from_db()
    assert researcher.check_password(PASSWORD)
    entry = _entries(researcher)[-1]
    assert entry.action == "change" and entry.actor == admin_user
    assert entry.new == {"password": "changed"} and not entry.old
    hashed = researcher.password
    assert not ActivityEntry.objects.filter(new__icontains=hashed[-20:]).exists()
    assert not any(hashed[-20:] in str(e.old) + str(e.new) for e in ActivityEntry.objects.all())
    assert "verify_log: OK" in _verify_log()


def test_a_group_and_its_permissions_made_in_the_admin_are_logged(client, admin_user):
    client.force_login(admin_user)
    permission = Permission.objects.get(codename="view_guidelineitem")
    response = client.post(
        reverse("admin:auth_group_add"), {"name": "Catalogue readers", "permissions": [permission.pk]}
    )
    assert response.status_code == 302
    group = Group.objects.get(name="Catalogue readers")
    (entry,) = _entries(group)
    assert entry.action == "create" and entry.new == {
        "id": group.pk,
        "name": "Catalogue readers",
        "permissions": [permission.pk],
    }


def test_a_policy_change_in_the_admin_is_logged_once(client, admin_user, catalogue):
    from reviews.models import ReviewPolicy

    client.force_login(admin_user)
    response = client.post(
        reverse("admin:reviews_reviewpolicy_add"),
        {
            "version": catalogue.pk,
            "approvals_required": 3,
            "require_technical_and_non_technical": "on",
            "final_decision": ReviewPolicy._meta.get_field("final_decision").default,
            "review_days": 21,
            "reminder_days": 3,
        },
    )
    assert response.status_code == 302
    policy = ReviewPolicy.objects.get(version=catalogue)
    assert [entry.action for entry in _entries(policy)] == ["create"]
    assert _entries(policy)[0].new["approvals_required"] == 3


# Denials -------------------------------------------------------------------------------------


def _denials(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "reviews.security"]


def test_a_permission_denied_by_an_assigned_reviewer_is_logged(client, reviewer, project, caplog):
    from datetime import timedelta

    from django.utils import timezone

    project.assignments.create(
        reviewer=reviewer, assigned_by=reviewer, status="accepted", due_date=timezone.localdate() + timedelta(days=9)
    )
    client.force_login(reviewer)
    with caplog.at_level(logging.WARNING, logger="reviews.security"):
        response = client.post(
            reverse("project-edit", kwargs={"pk": project.pk}), {"title": "x"}, REMOTE_ADDR="203.0.113.9"
        )
    assert response.status_code == 403
    (line,) = _denials(caplog)
    assert line.startswith("denied status=403")
    assert f'user="{reviewer.username} (id {reviewer.pk})"' in line and 'address="203.0.113.9"' in line
    assert f'url="/projects/{project.pk}/edit/"' in line and 'method="POST"' in line


def test_probing_a_project_one_may_not_see_is_a_logged_denial_answered_as_not_found(client, reviewer, project, caplog):
    client.force_login(reviewer)  # not assigned: the project does not exist for her
    with caplog.at_level(logging.WARNING, logger="reviews.security"):
        response = client.get(reverse("project-detail", kwargs={"pk": project.pk}), REMOTE_ADDR="203.0.113.10")
        missing = client.get(reverse("project-detail", kwargs={"pk": project.pk + 1000}), REMOTE_ADDR="203.0.113.10")
    assert response.status_code == 404 and missing.status_code == 404
    (line,) = _denials(caplog)  # the project that does not exist is no denial
    assert line.startswith("denied status=404") and 'address="203.0.113.10"' in line
    assert f'user="{reviewer.username} (id {reviewer.pk})"' in line and f'url="/projects/{project.pk}/"' in line


@override_settings(TRUSTED_PROXY_HOPS=1)
def test_a_csrf_failure_is_logged_with_the_address_the_proxy_saw(researcher, caplog):
    client = Client(enforce_csrf_checks=True)
    client.force_login(researcher)
    with caplog.at_level(logging.WARNING, logger="reviews.security"):
        response = client.post(
            reverse("project-new"), {"title": "x"}, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7"
        )
    assert response.status_code == 403
    assert "reload the page and send it again" in response.content.decode()
    (line,) = _denials(caplog)
    assert 'reason="CSRF check failed: CSRF cookie not set."' in line
    assert f'user="{researcher.username} (id {researcher.pk})"' in line and 'address="198.51.100.7"' in line


def test_a_crafted_url_cannot_forge_a_log_line(client, reviewer, project, caplog):
    client.force_login(reviewer)
    with caplog.at_level(logging.WARNING, logger="reviews.security"):
        client.post(reverse("project-edit", kwargs={"pk": project.pk}) + "?x=%0Adenied%20status=200")
    assert all("\n" not in line for line in _denials(caplog))


def test_a_lockout_after_failed_logins_is_logged_with_the_address_and_url(client, researcher, caplog):
    with caplog.at_level(logging.WARNING, logger="reviews.security"):
        for _attempt in range(8):
            response = client.post(
                reverse("login"), {"username": researcher.username, "password": "wrong"}, REMOTE_ADDR="192.0.2.44"
            )
            if response.status_code == 429:
                break
    assert response.status_code == 429
    lines = _denials(caplog)
    assert lines and lines[-1].startswith("denied status=429")
    assert 'user="anonymous"' in lines[-1] and 'address="192.0.2.44"' in lines[-1]
    assert 'url="/accounts/login/"' in lines[-1]
