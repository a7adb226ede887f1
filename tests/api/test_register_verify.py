"""Letter verification through the API, for journals: anyone holding a decision letter asks
whether its round is real and intact, what was decided and whether the approval stands today.
Signers are named by role and number, never by name, like /verify/<digest>/."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from api.throttling import ApiAnonThrottle
from letters.selectors import letter_fingerprint
from reviews.models import Round, RoundOutcome, Signature
from reviews.services.decisions import project_amend, project_suspend
from tests.api.client import api_client
from tests.factories import ProjectFactory
from tests.letters.builders import CONDITION, EVIDENCE_TEXT, Decided, approved_round, tampering
from tests.workflow import submitted

pytestmark = pytest.mark.django_db


@pytest.fixture
def decided(catalogue, researcher, admin_user) -> Decided:
    return approved_round(owner=researcher, admin=admin_user)


def _verify(digest: str):  # type: ignore[no-untyped-def]
    return api_client(None).get(reverse("api:verify", kwargs={"digest": digest}))


def test_an_untouched_letter_is_intact_and_says_what_was_decided(decided: Decided):
    response = _verify(decided.round.digest)
    assert response.status_code == 200
    data = response.json()
    signatures = list(Signature.objects.filter(round=decided.round).order_by("signed_at", "pk"))
    assert data["intact"] is True and data["content_intact"] is True
    assert all(check["ok"] for check in data["checks"])
    assert (data["project"], data["title"], data["round"]) == (decided.project.pk, decided.project.title, 1)
    assert (data["outcome"], data["outcome_display"]) == ("approved", "Approved")
    assert data["current_standing"] == "approved"
    assert data["fingerprint"] == letter_fingerprint(decided.round.digest, signatures)
    assert [(s["position"], s["signer"], s["meaning"]) for s in data["signatures"]] == [
        (1, "technical reviewer", "Approve with conditions"),
        (2, "clinical reviewer", "Approve"),
    ]


def test_no_signer_is_named_and_nothing_beyond_the_letter_shows(decided: Decided, researcher):
    body = _verify(decided.round.digest).content.decode()
    for private in (
        "Tess", "Carl", decided.technical.username, decided.clinical.username, researcher.email,
        researcher.username, EVIDENCE_TEXT, CONDITION, decided.project.summary,
    ):  # fmt: skip
        assert private not in body, private


def test_the_standing_today_follows_a_suspension_and_an_amendment(decided: Decided, researcher, admin_user):
    project_suspend(actor=admin_user, project=decided.project, reason="Consent unclear.")
    data = _verify(decided.round.digest).json()
    assert (data["outcome"], data["current_standing"]) == ("approved", "suspended")
    project_amend(actor=researcher, project=decided.project, reason="Answering the suspension.")
    assert _verify(decided.round.digest).json()["current_standing"] == "suspended"  # still, until reinstated


def test_an_altered_signature_is_flagged(decided: Decided):
    with tampering("reviews_signature"):
        Signature.objects.filter(round=decided.round, signer=decided.clinical).update(statement="Approved unread.")
    data = _verify(decided.round.digest).json()
    assert data["intact"] is False and data["content_intact"] is True
    broken = [check for check in data["checks"] if not check["ok"]]
    assert [check["label"] for check in broken] == ["Signature 2 (clinical reviewer, approve)"]
    assert "altered after signing" in broken[0]["detail"]


def test_a_changed_round_and_a_changed_decision_are_flagged(decided: Decided):
    tampered = decided.round.canonical_json.replace("Synthetic knee CT", "Synthetic knee MRI")
    with tampering("reviews_round"):
        Round.objects.filter(pk=decided.round.pk).update(canonical_json=tampered)
    with tampering("reviews_roundoutcome"):
        RoundOutcome.objects.filter(round=decided.round).update(reasons="No conditions.")
    data = _verify(decided.round.digest).json()
    assert data["intact"] is False and data["content_intact"] is False
    details = " ".join(check["detail"] for check in data["checks"])
    assert "The round's content has changed since it was signed" in details
    assert "The decision differs from the one recorded in the activity log" in details


def test_an_uppercase_digest_is_the_same_letter(decided: Decided):
    assert _verify(decided.round.digest.upper()).json()["digest"] == decided.round.digest


def test_an_unknown_digest_is_404_with_a_sentence_and_a_malformed_one_400(decided: Decided, catalogue, researcher):
    unknown = _verify("0" * 64)
    assert unknown.status_code == 404 and "No decided round has this digest" in unknown.json()["detail"]
    undecided = submitted(ProjectFactory(owner=researcher, title="Undecided private project"))
    response = _verify(undecided.digest)
    assert response.status_code == 404 and "Undecided private project" not in response.content.decode()
    for malformed in ("not-a-digest", "g" * 64, "a" * 65):
        response = _verify(malformed)
        assert response.status_code == 400, malformed
        assert "64 hexadecimal characters" in response.json()["errors"]["digest"][0]


def test_anonymous_verification_is_throttled_per_address(decided: Decided, monkeypatch):
    monkeypatch.setattr(ApiAnonThrottle, "THROTTLE_RATES", {**ApiAnonThrottle.THROTTLE_RATES, "api-anonymous": "2/min"})
    cache.clear()
    assert _verify(decided.round.digest).status_code == 200
    assert _verify(decided.round.digest).status_code == 200
    response = _verify(decided.round.digest)
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
