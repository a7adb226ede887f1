"""The change between two rounds (reviews.selectors.diff): snapshots in, dataclasses out.

Pure functions: no database. The page that shows them is tested in test_review_views.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reviews.selectors.diff import diff_audits, diff_snapshots, text_lines


def _file(name: str, digest: str, size: int = 10) -> dict[str, Any]:
    return {"name": name, "sha256": digest * 64, "size": size, "content_type": "text/plain"}


def _answer(code: str, status: str = "met", **extra: Any) -> dict[str, Any]:
    return {
        "stage": code.split("-")[0],
        "item": code,
        "required": True,
        "status": status,
        "justification": extra.get("justification", ""),
        "evidence_text": extra.get("evidence_text", f"Evidence for {code}."),
        "files": extra.get("files", []),
    }


def _snapshot(number: int) -> dict[str, Any]:
    return {
        "format": "misyn-round/1",
        "round": number,
        "guideline_version": {"set": "misyn", "number": 1},
        "project": {
            "id": 1,
            "owner": "rosa",
            "title": "Synthetic knee MRI",
            "summary": "Line one.\nLine two.",
            "synthesis_task": "augmentation",
            "modalities": ["MR"],
            "generator_family": "diffusion",
            "intended_use": "Training data.",
            "prohibited_uses": "Diagnosis.",
            "data_sources": "OAI.",
        },
        "answers": [
            _answer("PF-1", files=[_file("protocol.pdf", "a")]),
            _answer("EV-1", evidence_text="Phase 1 only."),
            _answer("EV-5", status="partly_met", justification="External data pending."),
        ],
        "image_sets": [
            {"role": "synthetic", "digest": "1" * 64, "files": 10, "accepted": 10, "images": 10,
             "metadata_sha256": "m" * 64, "manifest_sha256": "n" * 64},
            {"role": "reference", "digest": "2" * 64, "files": 12, "accepted": 12, "images": 12,
             "metadata_sha256": "m" * 64, "manifest_sha256": "n" * 64},
        ],
    }  # fmt: skip


@pytest.fixture
def before() -> dict[str, Any]:
    return _snapshot(1)


@pytest.fixture
def after(before) -> dict[str, Any]:
    later = copy.deepcopy(before)
    later["round"] = 2
    return later


def test_identical_rounds_differ_in_nothing(before, after):
    diff = diff_snapshots(before, after)

    assert diff.is_empty
    assert (diff.before_round, diff.after_round) == (1, 2)
    assert diff.changed_answers == []
    assert [a.code for a in diff.unchanged_answers] == ["PF-1", "EV-1", "EV-5"]
    assert diff.project_fields == [] and diff.image_sets == []


def test_a_changed_status_justification_and_evidence_show_line_by_line(before, after):
    after["answers"][2].update(
        status="met", justification="", evidence_text="Validated on the external cohort.\nAUC 0.91."
    )

    diff = diff_snapshots(before, after)

    [change] = diff.changed_answers
    assert change.code == "EV-5"
    assert (change.status_before, change.status_after) == ("partly_met", "met")
    assert (change.status_before_label, change.status_after_label) == ("Partly met", "Met")
    assert change.justification is not None
    assert [(line.kind, line.text) for line in change.justification.lines] == [("removed", "External data pending.")]
    assert change.evidence_text is not None
    assert [(line.kind, line.text) for line in change.evidence_text.lines] == [
        ("removed", "Evidence for EV-5."),
        ("added", "Validated on the external cohort."),
        ("added", "AUC 0.91."),
    ]
    assert [a.code for a in diff.unchanged_answers] == ["PF-1", "EV-1"]


def test_files_are_matched_by_digest_not_by_name(before, after):
    after["answers"][0]["files"] = [
        _file("protocol-v1.pdf", "a"),  # same bytes, new name: renamed, not replaced
        _file("protocol.pdf", "b"),  # same name, other bytes: a new file
    ]

    [change] = diff_snapshots(before, after).changed_answers

    assert change.code == "PF-1"
    assert not change.status_changed and change.justification is None and change.evidence_text is None
    assert [f["sha256"] for f in change.files_added] == ["b" * 64]
    assert change.files_removed == []
    assert change.files_renamed == [("protocol.pdf", "protocol-v1.pdf")]


def test_a_removed_file_is_listed(before, after):
    after["answers"][0]["files"] = []

    [change] = diff_snapshots(before, after).changed_answers

    assert [f["name"] for f in change.files_removed] == ["protocol.pdf"]
    assert change.files_added == []


def test_project_fields_show_with_labels_and_multi_line_text_as_lines(before, after):
    after["project"]["title"] = "Synthetic knee MRI, revised"
    after["project"]["summary"] = "Line one.\nLine two, clarified."
    after["project"]["modalities"] = ["MR", "CT"]

    fields = {change.name: change for change in diff_snapshots(before, after).project_fields}

    assert set(fields) == {"title", "summary", "modalities"}
    assert (fields["title"].before, fields["title"].after) == ("Synthetic knee MRI", "Synthetic knee MRI, revised")
    assert fields["title"].lines == []
    assert (fields["modalities"].before, fields["modalities"].after) == ("MRI", "MRI, CT")
    assert [(line.kind, line.text) for line in fields["summary"].lines] == [
        ("same", "Line one."),
        ("removed", "Line two."),
        ("added", "Line two, clarified."),
    ]


def test_image_sets_replaced_added_and_removed(before, after):
    after["image_sets"][0].update(digest="3" * 64, files=11, accepted=11, images=11)
    del after["image_sets"][1]
    after["image_sets"].append({"role": "holdout", "digest": "4" * 64, "files": 5})

    changes = {change.role: change for change in diff_snapshots(before, after).image_sets}

    assert changes["synthetic"].kind == "changed"
    assert changes["synthetic"].fields == ["digest", "files", "accepted", "images"]
    assert changes["reference"].kind == "removed" and changes["reference"].after is None
    assert changes["holdout"].kind == "added" and changes["holdout"].before is None


def test_items_that_appear_or_disappear_between_versions(before, after):
    after["guideline_version"]["number"] = 2
    after["answers"] = [*after["answers"][:2], _answer("EV-11")]

    diff = diff_snapshots(before, after)

    assert diff.version_changed and diff.version_after == "misyn v2"
    changed = {change.code: change for change in diff.changed_answers}
    assert changed["EV-11"].is_new and changed["EV-11"].status_before == ""
    assert changed["EV-5"].is_gone and changed["EV-5"].status_after == ""
    assert [a.code for a in diff.answers] == ["PF-1", "EV-1", "EV-11", "EV-5"]


def test_snapshots_without_image_sets_or_project_compare():
    diff = diff_snapshots({"round": 1, "answers": []}, {"round": 2, "answers": [_answer("PF-1")]})

    assert diff.image_sets == [] and diff.project_fields == []
    assert [a.code for a in diff.changed_answers] == ["PF-1"]


def test_audit_metrics_before_after_and_delta():
    changes = diff_audits(
        audits={"memorization": "Memorization", "fidelity": "Fidelity", "privacy": "Privacy (PHI)"},
        status_before={"memorization": "fail", "fidelity": "pass", "privacy": "not_computable"},
        status_after={"memorization": "pass", "fidelity": "pass", "privacy": "pass"},
        metrics_before={"memorization": {"flagged_share": 0.25, "n_flagged": 5.0}, "fidelity": {"fd_ratio": 1.5}},
        metrics_after={"memorization": {"flagged_share": 0.05, "n_flagged": 1.0}, "fidelity": {"fd_ratio": 1.5},
                       "privacy": {"phi_found": 0.0}},
    )  # fmt: skip

    by_audit = {change.audit: change for change in changes}
    assert [change.audit for change in changes] == ["memorization", "fidelity", "privacy"]
    memorization = by_audit["memorization"]
    assert memorization.label == "Memorization" and memorization.status_changed and memorization.changed
    share = memorization.metrics[0]
    assert (share.name, share.before, share.after) == ("flagged_share", 0.25, 0.05)
    assert share.delta == pytest.approx(-0.20)
    assert (share.before_text, share.after_text, share.delta_text) == ("0.25", "0.05", "-0.2")
    fidelity = by_audit["fidelity"]
    assert not fidelity.status_changed and not fidelity.changed and fidelity.metrics[0].delta == 0
    privacy = by_audit["privacy"]
    assert privacy.status_changed
    assert (privacy.metrics[0].before, privacy.metrics[0].after, privacy.metrics[0].delta) == (None, 0.0, None)
    assert (privacy.metrics[0].before_text, privacy.metrics[0].delta_text) == ("—", "—")
    assert fidelity.metrics[0].delta_text == "0"


def test_text_lines_of_empty_texts():
    assert text_lines("", "") == []
    assert [(line.kind, line.text) for line in text_lines("", "new")] == [("added", "new")]
    assert [(line.kind, line.text) for line in text_lines("old", "")] == [("removed", "old")]
