"""Server-side review drafts (issue 10, point 1): what a reviewer types on the review page is
kept per reviewer and round, private to them, through a reload, a second tab or a waiver,
until they submit; a closed round takes no draft and says why."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from reviews.enums import Meaning, Verdict
from reviews.models import AuditWaiver, Round, RoundReview
from reviews.models.review import ReviewDraft
from reviews.services.review import TransitionConflict, review_draft_save
from tests.workflow import review, reviewers_on, sign, submitted

SECRET = "Private thought: the consent form looks copied from another study."


def client_of(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def review_url(round_: Round) -> str:
    return reverse("round-review", kwargs={"pk": round_.project_id, "number": round_.number})


def draft_url(round_: Round) -> str:
    return reverse("review-draft", kwargs={"pk": round_.project_id, "number": round_.number})


@pytest.fixture
def open_round(project, admin_user):  # type: ignore[no-untyped-def]
    round_ = submitted(project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    return round_, technical, clinical


def test_an_autosaved_draft_comes_back_on_reload_even_a_concern_without_its_comment_yet(open_round):
    round_, technical, _clinical = open_round
    client = client_of(technical)
    response = client.post(
        draft_url(round_),
        {
            "verdict_PF-1": Verdict.CONCERN,
            "comment_PF-1": "",
            "verdict_PF-2": Verdict.ACCEPTABLE,
            "declared_phase": "2",
        },
    )
    assert response.status_code == 200, response.content
    assert json.loads(response.content)["message"].startswith("Draft saved")

    form = client.get(review_url(round_)).context["form"]
    assert form.initial["verdict_PF-1"] == Verdict.CONCERN
    assert form.initial["verdict_PF-2"] == Verdict.ACCEPTABLE
    assert form.initial["declared_phase"] == "2"
    assert not RoundReview.objects.filter(round=round_, submitted_at__isnull=False).exists()


def test_a_draft_is_private_to_its_author(open_round, admin_user):
    round_, technical, clinical = open_round
    review_draft_save(actor=technical, round_=round_, fields={"verdict_PF-1": "concern", "comment_PF-1": SECRET})

    # The other reviewer, the admin and the researcher read the round: the draft is nowhere.
    for user in (clinical, admin_user, round_.project.owner):
        for url in (review_url(round_), round_.get_absolute_url()):
            response = client_of(user).get(url)
            assert SECRET not in response.content.decode(), (user, url)
    assert SECRET not in json.dumps(Round.objects.get(pk=round_.pk).snapshot)

    # The other reviewer's autosave writes their own draft, never the first reviewer's.
    response = client_of(clinical).post(draft_url(round_), {"verdict_PF-1": "acceptable"})
    assert response.status_code == 200
    assert ReviewDraft.objects.get(round=round_, reviewer=technical).data["comment_PF-1"] == SECRET
    assert ReviewDraft.objects.get(round=round_, reviewer=clinical).data["verdict_PF-1"] == "acceptable"
    # The researcher and the admin cannot write drafts at all.
    assert client_of(round_.project.owner).post(draft_url(round_), {"verdict_PF-1": "acceptable"}).status_code == 403
    assert client_of(admin_user).post(draft_url(round_), {"verdict_PF-1": "acceptable"}).status_code == 403
    assert ReviewDraft.objects.count() == 2


def test_a_draft_on_a_closed_round_is_refused_with_the_reason(open_round):
    round_, technical, clinical = open_round
    review(round_, technical, verdict=Verdict.MUST_CHANGE)
    sign(round_, technical, Meaning.REQUEST_CHANGES, "Fix the labels.")

    with pytest.raises(
        TransitionConflict, match=r"Round 1 is closed \(changes requested at .*UTC\)\. Nothing was saved"
    ):
        review_draft_save(actor=clinical, round_=round_, fields={"verdict_PF-1": "acceptable"})
    response = client_of(clinical).post(draft_url(round_), {"verdict_PF-1": "acceptable"})
    assert response.status_code == 409
    assert "Round 1 is closed" in json.loads(response.content)["error"]
    assert not ReviewDraft.objects.filter(reviewer=clinical).exists()


def test_a_value_no_field_could_hold_is_refused_naming_the_item(open_round):
    round_, technical, _clinical = open_round
    response = client_of(technical).post(draft_url(round_), {"verdict_PF-1": "maybe"})
    assert response.status_code == 400
    assert json.loads(response.content)["error"] == "Draft not saved: PF-1: choose acceptable, concern or must change."
    assert not ReviewDraft.objects.exists()


def test_a_waiver_keeps_the_verdicts_sent_with_it_even_when_the_waiver_is_refused(open_round):
    round_, technical, _clinical = open_round
    client = client_of(technical)
    url = reverse("audit-waive", kwargs={"pk": round_.project_id, "number": 1, "audit": "privacy"})
    typed = {"review_draft": "1", "verdict_PF-1": "must_change", "comment_PF-1": SECRET}

    refused = client.post(url, {**typed, "waive-privacy-reason": "   "})
    assert refused.status_code == 400
    assert ReviewDraft.objects.get(reviewer=technical).data["comment_PF-1"] == SECRET

    typed["comment_PF-2"] = "A second thought."
    done = client.post(url, {**typed, "waive-privacy-reason": "No images in this round."})
    assert done.status_code == 302 and AuditWaiver.objects.filter(audit="privacy").exists()
    page = client.get(review_url(round_))
    assert page.context["form"].initial["verdict_PF-1"] == "must_change"
    assert SECRET in page.content.decode() and "A second thought." in page.content.decode()


def test_a_refused_save_keeps_the_draft_and_submitting_removes_it(open_round):
    round_, technical, _clinical = open_round
    client = client_of(technical)
    # A concern without its comment cannot be saved as a verdict, but what was typed is kept.
    response = client.post(review_url(round_), {"action": "save", "verdict_PF-1": "concern", "comment_PF-2": SECRET})
    assert response.status_code == 400
    assert ReviewDraft.objects.get(reviewer=technical).data["comment_PF-2"] == SECRET

    review(round_, technical)  # submits every verdict through the service
    assert not ReviewDraft.objects.filter(reviewer=technical).exists()
    response = client.post(draft_url(round_), {"verdict_PF-1": "acceptable"})
    assert response.status_code == 409 and "there is no draft to save" in json.loads(response.content)["error"]


def test_an_autosave_from_a_second_tab_changes_only_what_was_edited_there(open_round):
    round_, technical, _clinical = open_round
    client = client_of(technical)
    # Tab 1 saves a comment; tab 2, loaded before it, changes another item's verdict.
    client.post(draft_url(round_), {"verdict_PF-1": "concern", "comment_PF-1": SECRET, "changed_field": "comment_PF-1"})
    stale_tab = {"verdict_PF-1": "", "comment_PF-1": "", "verdict_PF-2": "acceptable", "changed_field": "verdict_PF-2"}
    assert client.post(draft_url(round_), stale_tab).status_code == 200
    data = ReviewDraft.objects.get(reviewer=technical).data
    assert (data["verdict_PF-1"], data["comment_PF-1"], data["verdict_PF-2"]) == ("concern", SECRET, "acceptable")
    # A refused value in a field not edited is still refused: the whole form is checked.
    assert client.post(draft_url(round_), {**stale_tab, "verdict_PF-3": "maybe"}).status_code == 400


def test_a_null_character_is_refused_in_words_not_stored(open_round):
    round_, technical, _clinical = open_round
    response = client_of(technical).post(draft_url(round_), {"comment_PF-1": "a\x00b"})
    assert response.status_code == 400
    assert "The comment on PF-1 contains a null character" in json.loads(response.content)["error"]
    assert not ReviewDraft.objects.exists()
