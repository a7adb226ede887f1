"""The reviewer's side of the loop (issue 10): everyone told when a change request closes a
round, carry-forward into the next round, My reviews and the home page, fresh due dates per
round, and the signing password refused as an announced alert."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import ImageSet
from reviews.enums import AnswerStatus, AssignmentStatus, ExpertiseKind, Meaning, NotificationKind, Verdict
from reviews.models import Assignment, GuidelineItem, Notification, Project, Round
from reviews.selectors.carry import carry_forward
from reviews.services.assignments import assignment_create
from reviews.services.projects import answer_save, project_submit
from reviews.services.review import VerdictInput, round_review_save
from tests.factories import ReviewerFactory
from tests.reviews.test_review_services import finish_run, with_images
from tests.workflow import review, reviewers_on, sign, submitted

CHANGED = "DS-1"
NOTE = "PF-2 is fine, but say which cohort."


def client_of(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def closed_by_request(project, admin_user):  # type: ignore[no-untyped-def]
    """Round 1 closed by the technical reviewer's change request; the clinical reviewer had
    accepted, an ethics reviewer was still invited."""
    round_ = submitted(project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    invited = ReviewerFactory(full_name="Ivy Invited", expertise=ExpertiseKind.ETHICS)
    assignment_create(actor=admin_user, project=project, reviewer=invited)
    review(round_, technical, verdict=Verdict.MUST_CHANGE)
    sign(round_, technical, Meaning.REQUEST_CHANGES, "The consent forms are missing.")
    return round_, technical, clinical, invited


def test_the_other_reviewers_are_told_and_the_invitation_is_withdrawn(closed_by_request):
    round_, _technical, clinical, invited = closed_by_request
    project = round_.project

    [told] = Notification.objects.filter(recipient=clinical, kind=NotificationKind.CHANGES_REQUESTED)
    assert "closed by Tess Technical's change request" in told.subject
    assert "Nothing more is needed from you" in told.body
    assert told.url == reverse("round-review", kwargs={"pk": project.pk, "number": 1})

    assignment = Assignment.objects.get(project=project, reviewer=invited)
    assert assignment.status == AssignmentStatus.REMOVED
    assert not Notification.objects.filter(recipient=invited, kind=NotificationKind.CHANGES_REQUESTED).exists()
    [withdrawn] = Notification.objects.filter(recipient=invited, kind=NotificationKind.REMOVED)
    assert "Tess Technical requested changes" in withdrawn.body
    assert "consent forms" not in withdrawn.body  # the reasons are for those who accepted

    invitation = text_of(client_of(invited).get(reverse("assignment-respond", kwargs={"pk": project.pk})))
    assert "Invitation withdrawn." in invitation
    assert "Round 1 closed before you answered: Tess Technical requested changes" in invitation
    assert "Accept the review" not in invitation and "Accept or decline" not in invitation
    stale_accept = client_of(invited).post(
        reverse("assignment-respond", kwargs={"pk": project.pk}),
        {"decision": "accept", "conflict": "none"},
        follow=True,
    )
    assert "Round 1 closed before you answered" in text_of(stale_accept)
    assert Assignment.objects.get(pk=assignment.pk).status == AssignmentStatus.REMOVED
    assert "Accept or decline" not in text_of(client_of(invited).get(reverse("my-reviews")))

    page = text_of(client_of(clinical).get(reverse("round-review", kwargs={"pk": project.pk, "number": 1})))
    page = re.sub(r"</?strong>", "", page)
    assert "Round 1 is closed: Tess Technical requested changes" in page
    assert "Nothing more is needed from you on this round" in page
    assert "stay private until you submit" not in page


def test_round_two_starts_from_round_one_with_the_changed_item_undecided(project, admin_user):
    round1 = submitted(project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    items = list(GuidelineItem.objects.filter(version=round1.guideline_version_id).select_related("stage"))
    verdicts = [
        VerdictInput(
            item=item,
            verdict=Verdict.MUST_CHANGE if item.code == CHANGED else Verdict.ACCEPTABLE,
            comment="Say 'synthetic' everywhere." if item.code == CHANGED else (NOTE if item.code == "PF-2" else ""),
        )
        for item in items
    ]
    round_review_save(
        actor=technical,
        round_=round1,
        verdicts=verdicts,
        declared_phase=1,
        overclaim="within",
        overclaim_note="",
        submit=True,
    )
    sign(round1, technical, Meaning.REQUEST_CHANGES, "DS-1 must change.")
    answer_save(
        actor=project.owner,
        project=project,
        item=next(item for item in items if item.code == CHANGED),
        status=AnswerStatus.MET,
        justification="",
        evidence_text="Every caption now says 'synthetic'.",
    )
    round2 = project_submit(actor=project.owner, project=Project.objects.get(pk=project.pk))

    carry = carry_forward(round2, technical, items)
    assert carry is not None and list(carry.changed) == [CHANGED]
    assert carry.changed[CHANGED] == ["evidence text edited"]
    assert f"verdict_{CHANGED}" not in carry.initial
    assert carry.initial["verdict_PF-2"] == Verdict.ACCEPTABLE and carry.initial["comment_PF-2"] == NOTE
    assert carry.carried == len(items) - 1
    assert carry.initial["declared_phase"] == 1 and carry.initial["overclaim"] == "within"
    # A reviewer without a round-1 review starts blank, with the same item marked.
    clinical_carry = carry_forward(round2, clinical, items)
    assert clinical_carry is not None and clinical_carry.initial == {} and list(clinical_carry.changed) == [CHANGED]

    client = client_of(technical)
    url = reverse("round-review", kwargs={"pk": project.pk, "number": 2})
    response = client.get(url)
    page = text_of(response)
    assert response.context["form"].initial.get(f"verdict_{CHANGED}") is None
    assert "1 item changed since round 1" in page
    row = re.search(rf'id="item-{CHANGED}".*?</li>', page)
    assert row is not None and "Changed since round 1" in row.group(0) and "evidence text edited" in row.group(0)
    assert "Your round 1 verdict: Must change" in row.group(0)

    # The shortcut marks nothing changed: the one changed item stays for the reviewer.
    response = client.post(url, {"action": "accept_rest", "declared_phase": "1", "overclaim": "within"}, follow=True)
    assert (
        "Undecided items marked acceptable; draft saved. 44 items marked. 1 item changed since the round before is left"
        in (text_of(response))
    )
    assert response.context["form"].initial[f"verdict_{CHANGED}"] == ""
    assert response.context["form"].initial["verdict_PF-1"] == Verdict.ACCEPTABLE


def test_a_new_round_gets_a_fresh_due_date(project, admin_user):
    round1 = submitted(project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    Assignment.objects.filter(project=project).update(due_date=timezone.localdate() - timedelta(days=3))
    review(round1, technical, verdict=Verdict.MUST_CHANGE)
    sign(round1, technical, Meaning.REQUEST_CHANGES, "Fix it.")
    project_submit(actor=project.owner, project=Project.objects.get(pk=project.pk))
    fresh = timezone.localdate() + timedelta(days=21)  # the default policy's review days
    assert set(Assignment.objects.filter(project=project).values_list("due_date", flat=True)) == {fresh}
    [notice] = Notification.objects.filter(recipient=clinical, kind=NotificationKind.RESUBMITTED)
    assert f"due {fresh:%d %B %Y}" in notice.body


def test_my_reviews_buttons_say_what_they_do_and_signed_rounds_are_listed(project, admin_user):
    round1 = submitted(project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    my_reviews = reverse("my-reviews")
    page = text_of(client_of(clinical).get(my_reviews))
    assert "Open review" in page and "Continue review" not in page
    client_of(clinical).post(
        reverse("review-draft", kwargs={"pk": project.pk, "number": 1}), {"verdict_PF-1": "acceptable"}
    )
    assert "Continue review" in text_of(client_of(clinical).get(my_reviews))

    review(round1, technical)
    page = text_of(client_of(technical).get(my_reviews))
    sign_url = reverse("round-sign", kwargs={"pk": project.pk, "number": 1})
    assert f'href="{sign_url}"><i class="bi bi-pen" aria-hidden="true"></i> Sign round 1</a>' in page

    sign(round1, technical, Meaning.REQUEST_CHANGES, "Fix it.")
    project_submit(actor=project.owner, project=Project.objects.get(pk=project.pk))
    round2 = Round.objects.get(project=project, number=2)
    review(round2, technical)
    sign(round2, technical, Meaning.REQUEST_CHANGES, "Fix it again.")
    page = text_of(client_of(technical).get(my_reviews))
    assert "Rounds you signed" in page and "Nothing finished yet" not in page
    assert page.count('class="signed-round"') == 2


def test_pending_invitations_show_on_the_reviewers_home_page(project, admin_user):
    submitted(project)
    reviewer = ReviewerFactory(full_name="Ivy Invited", expertise=ExpertiseKind.ETHICS)
    assignment_create(actor=admin_user, project=project, reviewer=reviewer)
    page = text_of(client_of(reviewer).get(reverse("home")))
    assert "Review invitations waiting for your answer" in page and project.title in page
    assert reverse("assignment-respond", kwargs={"pk": project.pk}) in page
    assert "Review invitations" not in text_of(client_of(project.owner).get(reverse("home")))


def test_a_wrong_signing_password_is_an_announced_alert_on_the_field(project, admin_user):
    round1 = submitted(project)
    technical, _clinical = reviewers_on(project, admin=admin_user)
    review(round1, technical)
    response = client_of(technical).post(
        reverse("round-sign", kwargs={"pk": project.pk, "number": 1}),
        {"meaning": Meaning.REQUEST_CHANGES, "statement": "Fix it.", "digest": round1.digest, "password": "wrong"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    field = re.search(r'<input type="password"[^>]*>', page)
    assert field is not None
    assert 'aria-invalid="true"' in field.group(0)
    assert 'aria-describedby="error_1_id_password password-help"' in field.group(0)
    alert = re.search(r'<div class="alert[^"]*" role="alert" id="error_1_id_password">(.*?)</div>', page, re.S)
    assert alert is not None and "The password is not correct. Nothing was signed." in alert.group(1)


def test_an_item_whose_bound_audit_result_changed_is_marked(project, admin_user):
    image_set = with_images(project)
    round1 = submitted(project)
    technical, _clinical = reviewers_on(project, admin=admin_user)
    statuses = {audit: "pass" for audit in ("disclosure", "privacy", "memorization", "fidelity", "representation")}
    finish_run(round1, {**statuses, "manifest": "fail", "privacy": "fail"})
    review(round1, technical, verdict=Verdict.MUST_CHANGE)
    sign(round1, technical, Meaning.REQUEST_CHANGES, "Remove the identifying headers.")
    # The researcher uploads cleaned images: a new set, its run passes privacy; manifest still fails.
    ImageSet.objects.filter(pk=image_set.pk).update(digest="b" * 64)
    round2 = project_submit(actor=project.owner, project=Project.objects.get(pk=project.pk))
    finish_run(round2, {**statuses, "manifest": "fail"})

    items = list(GuidelineItem.objects.filter(version=round2.guideline_version_id).select_related("stage"))
    carry = carry_forward(round2, technical, items)
    assert carry is not None
    privacy_items = {item.code for item in items if item.audit == "privacy"}
    assert privacy_items and set(carry.changed) == privacy_items
    for code in privacy_items:
        assert carry.changed[code] == ["Privacy (PHI) audit failed → passed"]
        assert f"verdict_{code}" not in carry.initial
    manifest_items = [item.code for item in items if item.audit == "manifest"]
    assert manifest_items and all(carry.initial[f"verdict_{code}"] == Verdict.MUST_CHANGE for code in manifest_items)
