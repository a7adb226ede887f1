"""The history tab reads as words: codes of choices become their labels, flags yes or no."""

from __future__ import annotations

from types import SimpleNamespace

from reviews.templatetags.review_tags import changes


def test_codes_and_flags_read_as_words():
    entry = SimpleNamespace(
        old={"status": "awaiting_researcher", "publish_text": False, "meaning": "approve_with_conditions"},
        new={"status": "upheld", "publish_text": True, "meaning": "approve"},
    )
    assert changes(entry) == [
        ("Status", "Awaiting researcher", "Upheld"),
        ("Text shown on the register", "no", "yes"),
        ("Meaning", "Approve with conditions", "Approve"),
    ]


def test_free_text_is_never_rewritten():
    entry = SimpleNamespace(old=None, new={"reason": "Consent_form missing", "status": "in_review"})
    assert changes(entry) == [("Reason", "", "Consent_form missing"), ("Status", "", "In review")]
