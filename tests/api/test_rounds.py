"""A project's rounds through the API: the frozen snapshot whose digest a client recomputes, and
no more of reviews, decisions and signatures than the round page shows the same user."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from letters.selectors import canonical_text, letter_fingerprint
from reviews.enums import Meaning, ProjectStatus, Verdict
from reviews.models import Project, Round, Signature
from reviews.services.projects import project_submit
from tests.api.client import api_client
from tests.factories import ProjectFactory
from tests.letters.builders import CONCERN, CONCERN_ITEM, CONDITION, Decided, approved_round
from tests.workflow import review, reviewers_on, sign, submitted


@pytest.fixture
def decided(catalogue, researcher, admin_user) -> Decided:
    return approved_round(owner=researcher, admin=admin_user)


def _url(name: str, round_: Round) -> str:
    return reverse(f"api:{name}", kwargs={"id": round_.project_id, "number": round_.number})


def _get(user, url):  # type: ignore[no-untyped-def]
    response = api_client(user).get(url)
    return response, response.content.decode("utf-8")


def test_the_snapshot_hashes_to_the_digest_as_the_field_says(decided: Decided, researcher):
    response, body = _get(researcher, _url("project-round", decided.round))
    assert response.status_code == 200
    data = json.loads(body)
    # What the digest's description tells a client to do, on the JSON the client received.
    recomputed = hashlib.sha256(
        json.dumps(data["snapshot"], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    ).hexdigest()
    assert recomputed == data["round"]["digest"] == decided.round.digest
    assert canonical_text(data["snapshot"]) == decided.round.canonical_json  # the stored bytes themselves
    assert data["round"]["status"] == "approved" and data["round"]["outcome"]["outcome"] == "approved"
    assert data["round"]["submitted_by"] == researcher.display_name


def test_the_owner_reads_the_decision_and_every_review_once_the_round_ended(decided: Decided, researcher):
    data = _get(researcher, _url("project-round", decided.round))[0].json()
    assert data["decisions_visible"] is True and data["sign_off"]["met"] is True
    assert sorted(review["reviewer"] for review in data["reviews"]) == ["Carl Clinical", "Tess Technical"]
    technical = next(review for review in data["reviews"] if review["reviewer"] == "Tess Technical")
    concern = next(verdict for verdict in technical["verdicts"] if verdict["item"] == CONCERN_ITEM)
    assert concern == {"item": CONCERN_ITEM, "verdict": Verdict.CONCERN, "comment": CONCERN}


def test_signatures_as_the_letter_shows_them(decided: Decided, researcher):
    response, _body = _get(researcher, _url("project-round-signatures", decided.round))
    assert response.status_code == 200
    data = response.json()
    stored = list(Signature.objects.filter(round=decided.round).order_by("signed_at", "pk"))
    assert data["visible"] is True and data["digest"] == decided.round.digest
    assert data["fingerprint"] == letter_fingerprint(decided.round.digest, stored)
    assert [
        (s["position"], s["printed_name"], s["signer"], s["meaning_display"], s["statement"])
        for s in data["signatures"]
    ] == [
        (1, "Tess Technical", "technical reviewer", "Approve with conditions", CONDITION),
        (2, "Carl Clinical", "clinical reviewer", "Approve", ""),
    ]
    for answered, signature in zip(data["signatures"], stored, strict=True):
        assert answered["signed_at"].endswith("Z")  # server time, UTC
        assert (answered["round_digest"], answered["covers_round"]) == (decided.round.digest, True)
        assert (answered["seq"], answered["prev_hash"], answered["hash"]) == (
            signature.seq, signature.prev_hash, signature.hash,
        )  # fmt: skip


@pytest.fixture
def under_review(catalogue, researcher, admin_user):  # type: ignore[no-untyped-def]
    """Round 1 under review: the technical reviewer submitted a review with a concern; the
    clinical one accepted but has not submitted theirs; nobody signed."""
    project = ProjectFactory(owner=researcher, guideline_version=catalogue, title="Round under review")
    round_ = submitted(project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    review(round_, technical, verdict=Verdict.CONCERN)
    sign(round_, technical, Meaning.APPROVE)
    project.refresh_from_db()
    assert project.status == ProjectStatus.IN_REVIEW
    return round_, technical, clinical


def test_a_reviewer_reads_nothing_of_the_others_before_submitting_their_own(client, under_review, researcher):
    round_, _technical, clinical = under_review
    secret = "The evidence does not show this."  # the technical reviewer's comment (tests/workflow.review)
    response, body = _get(clinical, _url("project-round", round_))
    assert response.status_code == 200
    data = response.json()
    assert data["reviews"] == [] and data["decisions_visible"] is False and data["sign_off"] is None
    assert data["round"]["status"] == "under_review" and data["round"]["outcome"] is None
    assert secret not in body and "Tess Technical" not in body
    response, body = _get(clinical, _url("project-round-signatures", round_))
    assert response.json() == {
        "number": 1, "digest": round_.digest, "visible": False, "signatures": None, "fingerprint": None,
    }  # fmt: skip
    # The round page shows them no more: neither the comment nor the signature.
    client.force_login(clinical)
    page = client.get(reverse("round-detail", kwargs={"pk": round_.project_id, "number": 1})).content.decode()
    assert secret not in page and "signature-record" not in page

    # Once they submitted their own, both reviews and the signature show, as on the page.
    review(round_, clinical)
    data = _get(clinical, _url("project-round", round_))[0].json()
    assert sorted(r["reviewer"] for r in data["reviews"]) == ["Carl Clinical", "Tess Technical"]
    assert data["decisions_visible"] is True
    signatures = _get(clinical, _url("project-round-signatures", round_))[0].json()["signatures"]
    assert [s["printed_name"] for s in signatures] == ["Tess Technical"]


def test_the_researcher_hears_nothing_until_the_round_ends_and_admins_read_all(under_review, researcher, admin_user):
    round_, _technical, _clinical = under_review
    mine = _get(researcher, _url("project-round", round_))[0].json()
    assert mine["reviews"] == [] and mine["decisions_visible"] is False
    assert _get(researcher, _url("project-round-signatures", round_))[0].json()["signatures"] is None
    assert mine["snapshot"]["project"]["title"] == "Round under review"  # the frozen content is theirs

    admins = _get(admin_user, _url("project-round", round_))[0].json()
    assert [r["reviewer"] for r in admins["reviews"]] == ["Tess Technical"]
    assert admins["decisions_visible"] is True and admins["sign_off"]["met"] is False
    assert [
        s["printed_name"] for s in _get(admin_user, _url("project-round-signatures", round_))[0].json()["signatures"]
    ] == ["Tess Technical"]


def test_outsiders_get_404_and_read_nothing(decided: Decided, other_researcher, reviewer):
    for user in (other_researcher, reviewer):
        for name in ("project-round", "project-round-signatures"):
            response, body = _get(user, _url(name, decided.round))
            assert response.status_code == 404
            assert decided.project.title not in body and decided.round.digest not in body
        response, body = _get(user, reverse("api:project-rounds", kwargs={"id": decided.project.pk}))
        assert response.status_code == 404 and decided.round.digest not in body
    response = api_client(None).get(_url("project-round", decided.round))
    assert response.status_code == 401 and "Bearer" in response["WWW-Authenticate"]


def test_a_round_number_of_no_round_is_404(decided: Decided, researcher, project):
    assert (
        _get(researcher, reverse("api:project-round", kwargs={"id": decided.project.pk, "number": 2}))[0].status_code
        == 404
    )
    # A draft has no round at all.
    assert _get(researcher, reverse("api:project-round", kwargs={"id": project.pk, "number": 1}))[0].status_code == 404


def test_nothing_is_signed_through_the_api(decided: Decided, under_review):
    round_, _technical, clinical = under_review
    review(round_, clinical)
    before = Signature.objects.count()
    client = api_client(clinical)
    url = _url("project-round-signatures", round_)
    body = {"meaning": "approve", "statement": "", "digest": round_.digest}
    for method in (client.post, client.put, client.patch):
        assert method(url, body, format="json").status_code == 405
    assert Signature.objects.count() == before


def _cycle(project: Project, technical, rounds: int) -> None:  # type: ignore[no-untyped-def]
    """Resubmit after changes are requested, `rounds` times (each round ends with a change request)."""
    for _ in range(rounds):
        round_ = project.rounds.order_by("-number").first()
        assert round_ is not None
        review(round_, technical, verdict=Verdict.CONCERN)
        sign(round_, technical, Meaning.REQUEST_CHANGES, "Change it.")
        project.refresh_from_db()
        project_submit(actor=project.owner, project=project)


def test_the_list_of_rounds_says_how_each_ended_in_a_fixed_number_of_queries(catalogue, researcher, admin_user):
    one, many = (ProjectFactory(owner=researcher, guideline_version=catalogue) for _ in range(2))
    submitted(one)
    submitted(many)
    technical, _clinical = reviewers_on(many, admin=admin_user)
    _cycle(many, technical, 2)
    client = api_client(researcher)
    client.get(reverse("api:project-rounds", kwargs={"id": one.pk}))  # the first use of a token writes once more
    counts = []
    for project in (one, many):
        url = reverse("api:project-rounds", kwargs={"id": project.pk})
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        counts.append(len(captured))
        assert response.status_code == 200
    assert counts[0] == counts[1]
    data = response.json()
    assert data["count"] == 3
    assert [(r["number"], r["status"]) for r in data["results"]] == [
        (1, "changes_requested"), (2, "changes_requested"), (3, "under_review"),
    ]  # fmt: skip
    assert data["results"][0]["outcome"]["outcome"] == "changes_requested"
    assert [r["digest"] for r in data["results"]] == list(
        many.rounds.order_by("number").values_list("digest", flat=True)
    )


def test_a_round_answers_in_a_fixed_number_of_queries_whatever_its_reviews(decided: Decided, under_review, admin_user):
    client = api_client(admin_user)
    client.get(_url("project-round", decided.round))
    counts = []
    for round_ in (under_review[0], decided.round):  # one submitted review, then two
        with CaptureQueriesContext(connection) as captured:
            assert client.get(_url("project-round", round_)).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]
