"""The guideline editor in the app: drafts, their diff and impact, publication, and a
researcher's move to the newer version (reviews.services.catalogue, .versions,
reviews.selectors.catalogue, reviews.views.catalogue)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from reviews.enums import Action, AnswerStatus, ProjectStatus, VersionStatus
from reviews.models import (
    ActivityEntry,
    Answer,
    EvidenceFile,
    GuidelineItem,
    GuidelineVersion,
    Notification,
    Project,
    ReviewPolicy,
    Stage,
)
from reviews.selectors import project_checklist, submission_problems
from reviews.selectors.catalogue import move_plan, reread_items, version_diff, version_impact
from reviews.services.catalogue import (
    CatalogueError,
    guideline_version_new_draft,
    guideline_version_publish,
    item_add,
    item_move,
    item_remove,
    item_update,
    stage_remove,
)
from reviews.services.projects import answer_save, project_submit
from reviews.services.versions import project_move_version
from reviews.validators import LONG_TEXT, validate_evidence_file
from tests.factories import ProjectFactory

CHANGED_REQUIREMENT = "State the clinical problem, the people it serves and the decision it informs."
NEW_REQUIREMENT = "Name who may stop the project and how they are reached."


def _item_data(item: GuidelineItem, **changes: Any) -> dict[str, Any]:
    data = {
        name: getattr(item, name)
        for name in (
            "stage",
            "requirement",
            "rationale",
            "evidence",
            "required",
            "audit",
            "automation",
            "automation_note",
        )
    }
    return {**data, **changes}


def _hand_made_draft(catalogue: GuidelineVersion, admin: Any) -> GuidelineVersion:
    """v2 from v1: PF-1 reworded (changed), PF-9 added (required), DC-1 removed, DD-1 moved to EV."""
    draft = guideline_version_new_draft(source=catalogue, actor=admin)
    items = {item.code: item for item in GuidelineItem.objects.filter(version=draft)}
    item_update(item=items["PF-1"], actor=admin, data=_item_data(items["PF-1"], requirement=CHANGED_REQUIREMENT))
    pf = Stage.objects.get(version=draft, code="PF")
    item_add(
        version=draft,
        actor=admin,
        code="PF-9",
        data=_item_data(items["PF-2"], stage=pf, requirement=NEW_REQUIREMENT, required=True, audit=""),
    )
    item_remove(item=items["DC-1"], actor=admin)
    ev = Stage.objects.get(version=draft, code="EV")
    item_update(item=items["DD-1"], actor=admin, data=_item_data(items["DD-1"], stage=ev))
    return draft


def _answer(project: Project, code: str, **kwargs: Any) -> Answer:
    item = GuidelineItem.objects.get(version=project.guideline_version_id, code=code)
    values = {"status": AnswerStatus.MET, "justification": "", "evidence_text": f"Evidence for {code}.", **kwargs}
    return answer_save(actor=project.owner, project=project, item=item, **values)


@pytest.fixture
def answered_project(catalogue, researcher):
    project = ProjectFactory(owner=researcher, guideline_version=catalogue, title="Synthetic knee CT")
    _answer(project, "PF-1", justification="Our radiologists asked for it.")
    _answer(project, "PF-2")
    _answer(project, "DD-1")
    upload = SimpleUploadedFile("consent-forms.txt", b"CONSENT-BYTES", content_type="text/plain")
    _answer(project, "DC-1", evidence_text="Consent forms attached.", files=[validate_evidence_file(upload)])
    _answer(project, "DC-2", files=[validate_evidence_file(SimpleUploadedFile("dua.txt", b"DUA", "text/plain"))])
    return project


# ---------------------------------------------------------------------------------------
# Services and selectors


def test_the_diff_names_each_kind_of_change(catalogue, admin_user):
    draft = _hand_made_draft(catalogue, admin_user)
    assert draft.parent_id == catalogue.pk

    diff = version_diff(old=catalogue, new=draft)

    assert [item.code for item in diff.added] == ["PF-9"]
    assert [item.code for item in diff.removed] == ["DC-1"]
    assert [change.code for change in diff.changed] == ["PF-1"]
    assert [(c.code, c.stage_before, c.stage_after) for c in diff.moved] == [("DD-1", "DD", "EV")]
    [requirement] = diff.changed[0].fields
    assert requirement.label == "Requirement"
    assert ("added", CHANGED_REQUIREMENT) in [(line.kind, line.text) for line in requirement.lines]
    assert diff.summary()["items_changed"] == ["PF-1"]
    assert not diff.stages_added and not diff.stages_removed


def test_the_impact_maps_each_open_projects_answers_by_code(catalogue, admin_user, answered_project, researcher):
    closed = ProjectFactory(owner=researcher, guideline_version=catalogue, status=ProjectStatus.WITHDRAWN)
    draft = _hand_made_draft(catalogue, admin_user)

    impact = version_impact(version=draft)

    assert [row.project for row in impact.projects] == [answered_project]  # the withdrawn one is not concerned
    assert closed not in [row.project for row in impact.projects]
    mapping = impact.projects[0].mapping
    assert sorted(mapping.unchanged) == ["DC-2", "DD-1", "PF-2"]  # DD-1 moved, its answer stands
    assert mapping.changed == ["PF-1"]
    assert mapping.new == mapping.new_required == ["PF-9"]
    assert mapping.removed == ["DC-1"]
    assert impact.totals == {"unchanged": 3, "changed": 1, "new": 1, "new_required": 1, "removed": 1}


def test_publishing_logs_the_diff_tells_owners_of_editable_projects_and_freezes(
    catalogue, admin_user, answered_project, researcher
):
    submitted = ProjectFactory(owner=researcher, guideline_version=catalogue, title="Under review")
    Project.objects.filter(pk=submitted.pk).update(status=ProjectStatus.SUBMITTED)
    draft = _hand_made_draft(catalogue, admin_user)

    guideline_version_publish(version=draft, actor=admin_user)

    draft.refresh_from_db()
    assert draft.status == VersionStatus.PUBLISHED
    entry = ActivityEntry.objects.get(action=Action.PUBLISH, object_id=str(draft.pk))
    assert entry.new["diff"]["items_added"] == ["PF-9"] and entry.new["diff"]["items_removed"] == ["DC-1"]
    told = Notification.objects.filter(recipient=researcher, kind="version_published")
    assert [n.project_id for n in told] == [answered_project.pk]  # not the submitted one
    assert told[0].url == reverse("project-version-move", kwargs={"pk": answered_project.pk})

    with pytest.raises(CatalogueError, match="already published"):
        guideline_version_publish(version=draft, actor=admin_user)
    item = GuidelineItem.objects.get(version=draft, code="PF-2")
    with pytest.raises(CatalogueError, match="published and can no longer change"):
        item_update(item=item, actor=admin_user, data=_item_data(item, requirement="Sneaky"))
    assert GuidelineItem.objects.get(pk=item.pk).requirement != "Sneaky"


def test_a_draft_starts_only_from_a_published_version_and_one_at_a_time(catalogue, admin_user):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    with pytest.raises(CatalogueError, match="already has a draft"):
        guideline_version_new_draft(source=catalogue, actor=admin_user)
    with pytest.raises(CatalogueError):
        guideline_version_new_draft(source=draft, actor=admin_user)


def test_orders_stay_contiguous_and_a_stage_with_items_stays(catalogue, admin_user):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    first, second = GuidelineItem.objects.filter(version=draft, stage__code="PF").order_by("order")[:2]
    item_move(item=second, actor=admin_user, step=-1)
    codes = list(GuidelineItem.objects.filter(version=draft, stage__code="PF").order_by("order"))
    assert [c.code for c in codes[:2]] == [second.code, first.code]
    assert [c.order for c in codes] == list(range(1, len(codes) + 1))
    item_move(item=second, actor=admin_user, step=-1)  # already first: stays
    assert GuidelineItem.objects.get(pk=second.pk).order == 1
    with pytest.raises(CatalogueError, match="still has items"):
        stage_remove(stage=Stage.objects.get(version=draft, code="PF"), actor=admin_user)


def test_moving_a_project_carries_answers_drops_removed_ones_and_asks_for_changed_ones(
    catalogue, admin_user, answered_project, researcher
):
    draft = _hand_made_draft(catalogue, admin_user)
    guideline_version_publish(version=draft, actor=admin_user)
    plan = move_plan(project=answered_project, target=draft)
    assert [answer.item.code for answer in plan.dropped] == ["DC-1"]
    dropped_file = EvidenceFile.objects.get(answer__item__code="DC-1", answer__project=answered_project)

    project_move_version(project=answered_project, actor=researcher, target=draft)

    answered_project.refresh_from_db()
    assert answered_project.guideline_version_id == draft.pk
    answers = {a.item.code: a for a in Answer.objects.filter(project=answered_project).select_related("item")}
    assert set(answers) == {"PF-1", "PF-2", "DD-1", "DC-2"}
    assert all(a.item.version_id == draft.pk for a in answers.values())
    assert answers["PF-2"].status == AnswerStatus.MET and answers["PF-2"].evidence_text == "Evidence for PF-2."
    assert answers["PF-1"].status == "" and answers["PF-1"].justification == "Our radiologists asked for it."
    assert [f.original_name for f in answers["DC-2"].files.all()] == ["dua.txt"]  # files re-attached
    assert not EvidenceFile.objects.filter(pk=dropped_file.pk).exists()
    problems = {row.item.code for row in submission_problems(checklist=project_checklist(project=answered_project))}
    assert {"PF-1", "PF-9"} <= problems
    entry = ActivityEntry.objects.filter(project=answered_project, action=Action.CHANGE).latest("pk")
    assert entry.old["guideline_version"] == str(catalogue) and entry.new["guideline_version"] == str(draft)
    assert entry.old["dropped_answers"]["DC-1"]["evidence_text"] == "Consent forms attached."
    assert entry.new["reread"] == ["PF-1"] and entry.new["dropped"] == ["DC-1"]
    assert reread_items(project=answered_project) == {"PF-1": draft.number}

    _answer(answered_project, "PF-1", justification="Read again; still true.")
    assert reread_items(project=answered_project) == {}


def test_only_an_editable_project_moves_and_only_to_the_newest_version(catalogue, admin_user, researcher):
    project = ProjectFactory(owner=researcher, guideline_version=catalogue)
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    with pytest.raises(CatalogueError, match="newest published"):
        project_move_version(project=project, actor=researcher, target=draft)
    guideline_version_publish(version=draft, actor=admin_user)
    Project.objects.filter(pk=project.pk).update(status=ProjectStatus.SUBMITTED)
    with pytest.raises(CatalogueError, match="only a draft"):
        project_move_version(project=project, actor=researcher, target=draft)


def test_frozen_rounds_keep_their_version(catalogue, admin_user, researcher):
    project = ProjectFactory(owner=researcher, guideline_version=catalogue)
    for item in GuidelineItem.objects.filter(version=catalogue, required=True):
        answer_save(actor=researcher, project=project, item=item, status="met", justification="", evidence_text="")
    round_ = project_submit(actor=researcher, project=project)
    Project.objects.filter(pk=project.pk).update(status=ProjectStatus.CHANGES_REQUESTED)
    draft = _hand_made_draft(catalogue, admin_user)
    guideline_version_publish(version=draft, actor=admin_user)
    project_move_version(project=project, actor=researcher, target=draft)
    round_.refresh_from_db()
    assert round_.guideline_version_id == catalogue.pk
    assert Project.objects.get(pk=project.pk).guideline_version_id == draft.pk


# ---------------------------------------------------------------------------------------
# Views


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_researchers_read_published_versions_only_without_internals(catalogue, admin_user, researcher):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    client = _client(researcher)
    listing = client.get(reverse("catalogue-list")).content.decode()
    assert f"v{catalogue.number}" in listing and f"v{draft.number}" not in listing
    assert client.get(reverse("catalogue-detail", kwargs={"pk": draft.pk})).status_code == 404
    page = client.get(reverse("catalogue-detail", kwargs={"pk": catalogue.pk})).content.decode()
    assert "Start a new draft" not in page and "Needs human review" not in page
    assert "Review policy" in page

    admin_page = _client(admin_user).get(reverse("catalogue-detail", kwargs={"pk": catalogue.pk})).content.decode()
    assert "Needs human review" in admin_page and f"Edit {draft}" in admin_page


@pytest.mark.parametrize(
    "name",
    ["catalogue-settings", "catalogue-stage-add", "catalogue-item-add", "catalogue-diff", "catalogue-publish"],
)
def test_non_admins_are_refused_the_editor_with_a_reason(catalogue, admin_user, researcher, name):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    response = _client(researcher).get(reverse(name, kwargs={"pk": draft.pk}))
    assert response.status_code == 403
    assert "only administrators edit and publish guideline versions" in response.content.decode()


def test_an_admin_edits_an_item_and_the_log_keeps_old_and_new(catalogue, admin_user):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    item = GuidelineItem.objects.get(version=draft, code="EV-2")
    data = {**_item_data(item, requirement="Report the metrics with confidence intervals."), "stage": item.stage_id}
    response = _client(admin_user).post(reverse("catalogue-item-edit", kwargs={"pk": draft.pk, "code": "EV-2"}), data)
    assert response.status_code == 302
    assert GuidelineItem.objects.get(pk=item.pk).requirement == "Report the metrics with confidence intervals."
    entry = ActivityEntry.objects.filter(object_type="reviews.guidelineitem", object_id=str(item.pk)).latest("pk")
    assert entry.old["requirement"] == item.requirement
    assert entry.new["requirement"] == "Report the metrics with confidence intervals."


def _add_item(client: Client, draft: GuidelineVersion, **changes: Any) -> Any:
    stage = Stage.objects.get(version=draft, code="OV")
    data = {"code": "OV-20", "stage": stage.pk, "requirement": "A new oversight item.", "automation": "manual"}
    return client.post(reverse("catalogue-item-add", kwargs={"pk": draft.pk}), {**data, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"code": "PF-1"}, "An item with the code PF-1 already exists in this version."),
        ({"code": "pf 1;x"}, "is not a valid code: use the form EV-12"),
        ({"requirement": "   "}, "Write the requirement"),
        ({"requirement": "x" * (LONG_TEXT + 1)}, "Requirement is too long: at most 20,000 characters"),
        ({"stage": "999999999"}, "Select a valid choice"),
        ({"stage": "not-a-number"}, "Select a valid choice"),
        ({"audit": "telepathy"}, "Select a valid choice"),
        ({"automation": ""}, "This field is required"),
    ],
    ids=[
        "duplicate-code",
        "malformed-code",
        "blank-requirement",
        "too-long",
        "foreign-stage",
        "junk-stage",
        "unknown-audit",
        "no-automation",
    ],
)
def test_bad_item_input_is_named_and_nothing_is_saved(catalogue, admin_user, changes, message):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    before = GuidelineItem.objects.filter(version=draft).count()
    response = _add_item(_client(admin_user), draft, **changes)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert GuidelineItem.objects.filter(version=draft).count() == before


def test_an_item_from_another_versions_stage_cannot_be_smuggled_in(catalogue, admin_user):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    published_stage = Stage.objects.get(version=catalogue, code="OV")
    response = _add_item(_client(admin_user), draft, stage=str(published_stage.pk))
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()


def test_an_admin_adds_an_item_and_it_lands_at_the_end_of_its_stage(catalogue, admin_user):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    response = _add_item(_client(admin_user), draft, code="ov-20")
    assert response.status_code == 302
    item = GuidelineItem.objects.get(version=draft, code="OV-20")
    assert item.order == GuidelineItem.objects.filter(stage=item.stage).count()


def test_editing_a_published_version_is_refused_with_a_reason(catalogue, admin_user):
    client = _client(admin_user)
    item = GuidelineItem.objects.get(version=catalogue, code="PF-1")
    for url in (
        reverse("catalogue-item-edit", kwargs={"pk": catalogue.pk, "code": "PF-1"}),
        reverse("catalogue-item-remove", kwargs={"pk": catalogue.pk, "code": "PF-1"}),
        reverse("catalogue-publish", kwargs={"pk": catalogue.pk}),
    ):
        response = client.post(url, {**_item_data(item), "stage": item.stage_id, "confirm": "on"})
        assert response.status_code == 403
        assert "is published and never changes" in response.content.decode()
    assert GuidelineItem.objects.filter(pk=item.pk).exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"policy-approvals_required": "0"}, "At least 1 of the approvals"),
        ({"policy-review_days": "abc"}, "Enter a whole number"),
        ({"policy-reminder_days": "30"}, "Reminders come before the due date"),
        ({"policy-approvals_required": "99999999999"}, "at most 365"),
        ({"policy-final_decision": "coin-flip"}, "Select a valid choice"),
    ],
    ids=["no-approvals", "junk-days", "reminder-after-due", "huge", "unknown-decision"],
)
def test_bad_policy_input_is_named(catalogue, admin_user, changes, message):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    data = {"notes-notes": "", "policy-approvals_required": "2", "policy-require_technical_and_non_technical": "on",
            "policy-final_decision": "policy", "policy-review_days": "21", "policy-reminder_days": "3", **changes}  # fmt: skip
    response = _client(admin_user).post(reverse("catalogue-settings", kwargs={"pk": draft.pk}), data)
    assert response.status_code == 400
    assert message.lower() in response.content.decode().lower()


def test_the_policy_of_a_draft_is_edited_and_logged(catalogue, admin_user):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    data = {"notes-notes": "Second edition.", "policy-approvals_required": "3", "policy-final_decision": "admin",
            "policy-review_days": "14", "policy-reminder_days": "2"}  # fmt: skip
    response = _client(admin_user).post(reverse("catalogue-settings", kwargs={"pk": draft.pk}), data)
    assert response.status_code == 302
    policy = ReviewPolicy.objects.get(version=draft)
    assert (policy.approvals_required, policy.final_decision, policy.review_days) == (3, "admin", 14)
    assert policy.require_technical_and_non_technical is False
    entry = ActivityEntry.objects.filter(object_type="reviews.reviewpolicy").latest("pk")
    assert entry.new["approvals_required"] == 3
    page = _client(admin_user).get(reverse("catalogue-detail", kwargs={"pk": draft.pk})).content.decode()
    assert "An administrator records the final decision" in page


def test_the_publish_page_shows_the_impact_and_publishes_only_when_confirmed(catalogue, admin_user, answered_project):
    draft = _hand_made_draft(catalogue, admin_user)
    client = _client(admin_user)
    url = reverse("catalogue-publish", kwargs={"pk": draft.pk})
    page = client.get(url).content.decode()
    assert answered_project.title in page and reverse("project-detail", kwargs={"pk": answered_project.pk}) in page
    assert "PF-9" in page and "DC-1" in page

    refused = client.post(url, {})
    assert refused.status_code == 400 and "Tick the box to confirm." in refused.content.decode()
    assert GuidelineVersion.objects.get(pk=draft.pk).status == VersionStatus.DRAFT
    assert client.post(url, {"confirm": "on"}).status_code == 302
    assert GuidelineVersion.objects.get(pk=draft.pk).status == VersionStatus.PUBLISHED


def test_an_admin_discards_an_unused_draft(catalogue, admin_user):
    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    response = _client(admin_user).post(reverse("catalogue-discard", kwargs={"pk": draft.pk}))
    assert response.status_code == 302
    assert not GuidelineVersion.objects.filter(pk=draft.pk).exists()
    assert ActivityEntry.objects.filter(action=Action.DELETE, object_type="reviews.guidelineversion").exists()


def test_the_researcher_sees_the_notice_and_moves_their_draft(catalogue, admin_user, answered_project, researcher):
    draft = _hand_made_draft(catalogue, admin_user)
    client = _client(researcher)
    overview = reverse("project-detail", kwargs={"pk": answered_project.pk})
    assert "A newer guideline version is available" not in client.get(overview).content.decode()
    guideline_version_publish(version=draft, actor=admin_user)
    assert "A newer guideline version is available" in client.get(overview).content.decode()

    url = reverse("project-version-move", kwargs={"pk": answered_project.pk})
    page = client.get(url).content.decode()
    assert page.index("Answers that will be dropped") < page.index("Items that changed")
    assert "Consent forms attached." in page and "consent-forms.txt" in page
    response = client.post(url, {"confirm": "on"}, follow=True)
    assert "Changed in version 2, answer again: PF-1" in response.content.decode()
    assert Project.objects.get(pk=answered_project.pk).guideline_version_id == draft.pk
    assert "A newer guideline version is available" not in client.get(overview).content.decode()
    # The checklist marks the changed item until it is answered again, and only that one.
    checklist_url = reverse("project-checklist", kwargs={"pk": answered_project.pk})
    checklist = client.get(checklist_url).content.decode()
    assert checklist.count("Changed in version 2: read again") == 1
    pf1 = GuidelineItem.objects.get(version=draft, code="PF-1")
    client.post(
        reverse("answer-edit", kwargs={"pk": answered_project.pk, "code": "PF-1"}),
        {"status": "met", "justification": "", "evidence_text": "Read again and still met."},
    )
    assert Answer.objects.get(project=answered_project, item=pf1).status == "met"
    assert "read again" not in client.get(checklist_url).content.decode()
    # Moved already: the page sends the researcher back with why.
    again = client.get(url, follow=True).content.decode()
    assert "already follows the newest published guideline version" in again


# ---------------------------------------------------------------------------------------
# Concurrent edits (real PostgreSQL, threads on their own connections)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_edits_of_a_draft_keep_orders_and_codes_whole(catalogue, admin_user):
    from tests.reviews.test_concurrency import run_together

    draft = guideline_version_new_draft(source=catalogue, actor=admin_user)
    stage = Stage.objects.get(version=draft, code="PF")
    template = GuidelineItem.objects.get(version=draft, code="PF-2")
    last = GuidelineItem.objects.filter(stage=stage).order_by("-order").first()
    assert last is not None

    def add(code: str) -> Any:
        return lambda: item_add(version=draft, actor=admin_user, code=code, data=_item_data(template, stage=stage))

    results = run_together(
        add("PF-20"),
        add("PF-21"),
        add("PF-20"),  # the same code twice: one wins, the other is told
        lambda: item_move(item=last, actor=admin_user, step=-1),
        lambda: item_move(item=template, actor=admin_user, step=1),
    )

    errors = [str(r.error) for r in results if not r.ok]
    assert errors == ["An item with the code PF-20 already exists in this version."]
    orders = list(GuidelineItem.objects.filter(stage=stage).order_by("order").values_list("order", flat=True))
    assert orders == list(range(1, len(orders) + 1))
    assert GuidelineItem.objects.filter(version=draft, code="PF-20").count() == 1
