"""The privacy audit's run: matches and unmatched identifiers turned into metrics, flags and a status."""

from __future__ import annotations

import time
from typing import Any

from .. import ENGINE_VERSION
from ..inputs import set_inputs
from ..schema import Setting
from ..types import FLAGGED_LIMIT, AuditResult, FileRecord, ImageSet, Status, not_computable
from .matching import Match, comparable_values, dicom_records, find_matches, identity_removed
from .normalise import ATTRIBUTES, FAMILIES, header_texts, placeholder_words, values

AUDIT = "privacy"
DEFAULT_PARAMS: dict[str, Any] = {"placeholders": []}

# The one parameter, extra placeholder words, is a list of words: schema.Setting has no list
# kind, and no number decides this audit (any real identifier in a synthetic file fails), so
# nothing here is a threshold for the form. `placeholders` is a compute setting.
THRESHOLDS: dict[str, Setting] = {}

METRIC_LABELS: dict[str, str] = {
    "n_dicom_files": "synthetic DICOM files checked",
    "n_reference_dicom_files": "real training (reference) DICOM files compared",
    "n_holdout_dicom_files": "real held-out DICOM files compared",
    "n_shared_identifiers": "identifiers of real files found in synthetic files",
    "n_files_sharing_identifiers": "synthetic files carrying an identifier of a real file",
    "n_files_sharing_with_reference": "synthetic files carrying an identifier of a training file",
    "n_files_sharing_with_holdout": "synthetic files carrying an identifier of a held-out file",
    "shared_by_attribute": "synthetic files with a real file's value, per attribute",
    "shared_by_set": "identifiers found, per real set",
    "n_times_on_other_days": "real times of day found in files dated another day (may be chance; they fail)",
    "n_files_with_identifying_attributes": "synthetic files keeping a name, ID or birth date found in no real file",
    "identifying_attributes_present": "synthetic files with a non-placeholder value, per attribute",
    "n_placeholder_values": "placeholder values (SYNTHETIC, ANONYMOUS, empty...) ignored",
    "n_patient_identity_removed_yes": "files declaring Patient Identity Removed = YES (checked all the same)",
    "n_flagged_total": "flags raised",
}

SET_LABELS = {"reference": "reference", "holdout": "held-out"}


def resolve_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """DEFAULT_PARAMS updated with `params`; ValueError naming the problem on a bad value."""
    given = dict(params or {})
    unknown = sorted(set(given) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"unknown privacy parameter(s): {', '.join(unknown)}")
    words = given.get("placeholders", [])
    if not isinstance(words, list | tuple) or not all(isinstance(word, str) for word in words):
        raise ValueError(f"privacy parameter placeholders must be a list of words, got {words!r}")
    return {**DEFAULT_PARAMS, "placeholders": [word.strip() for word in words if word.strip()]}


def _interleaved(matches: list[Match]) -> list[Match]:
    """Matches ordered so that the first flags cover every attribute: the first match of each
    attribute, then the second of each, and so on (the flagged list is capped)."""
    rank: dict[str, int] = {}
    keyed = []
    for match in matches:
        rank[match.attribute] = rank.get(match.attribute, -1) + 1
        keyed.append(((rank[match.attribute], ATTRIBUTES.index(match.attribute)), match))
    return [match for _key, match in sorted(keyed, key=lambda item: item[0])]


def _match_flag(match: Match) -> dict[str, Any]:
    where = f"{SET_LABELS[match.real_set]} file {match.real_file}"
    if match.other_day:
        reason = (
            f"{match.attribute} is the time of day of {match.real_attribute} in {where}, on another day"
            " (a time alone can recur by chance: check the dates)"
        )
    elif match.real_attribute == match.attribute:
        reason = f"{match.attribute} is the same as in {where}"
    else:
        reason = f"{match.attribute} holds the {match.real_attribute} of {where}"
    return {
        "file": match.file,
        "attribute": match.attribute,
        "real_set": SET_LABELS[match.real_set],
        "real_file": match.real_file,
        "level": "fail",
        "reason": reason,
    }


def _placeholders(records: list[FileRecord], words: frozenset[str]) -> int:
    """Header entries with text that normalises to nothing (SYNTHETIC, ANONYMOUS, ^, 19000101...)."""
    count = 0
    for record in records:
        for name, family in FAMILIES.items():
            for attribute in family.attributes:
                texts = [text for text in header_texts(record.header.get(attribute)) if text.strip()]
                if texts and not comparable_values(name, attribute, record.header, words):
                    count += 1
    return count


def _files_per_attribute(matches: list[Match]) -> dict[str, int]:
    """Synthetic files with a real file's value (in either set), per attribute, in ATTRIBUTES order."""
    files: dict[str, set[str]] = {}
    for m in matches:
        files.setdefault(m.attribute, set()).add(m.file)
    return {attribute: len(files[attribute]) for attribute in ATTRIBUTES if attribute in files}


def _by_attribute(synthetic: list[FileRecord], failing: list[Match], words: frozenset[str]) -> list[dict[str, Any]]:
    """Per attribute: synthetic files with a non-placeholder value, and with a real file's value per set."""
    files: dict[tuple[str, str], set[str]] = {}
    for m in failing:
        files.setdefault((m.real_set, m.attribute), set()).add(m.file)
    rows: dict[str, dict[str, Any]] = {}
    for family in FAMILIES.values():
        for attribute in family.attributes:
            if attribute in rows:
                continue
            present = sum(1 for r in synthetic if values(family.kind, attribute, r.header.get(attribute), words))
            rows[attribute] = {"attribute": attribute, "present": present} | {
                f"shared_with_{role}": len(files.get((role, attribute), ())) for role in SET_LABELS
            }
    return list(rows.values())


def run(
    synthetic: ImageSet,
    reference: ImageSet | None,
    params: dict[str, Any] | None = None,
    holdout: ImageSet | None = None,
) -> AuditResult:
    """Compare every synthetic DICOM header with every real set given (reference, held-out)."""
    started = time.perf_counter()
    effective = resolve_params(params)
    words = placeholder_words(effective["placeholders"])
    inputs = set_inputs(synthetic)
    real_sets = {role: s for role, s in (("reference", reference), ("holdout", holdout)) if s is not None}
    for role, image_set in real_sets.items():
        inputs.update(set_inputs(image_set, role))
    synthetic_dicom = dicom_records(synthetic)
    real = {role: dicom_records(image_set) for role, image_set in real_sets.items()}
    inputs["n_synthetic_dicom"] = len(synthetic_dicom)
    for role, records in real.items():
        inputs[f"n_{role}_dicom"] = len(records)
    if not synthetic_dicom:
        return not_computable(
            AUDIT,
            "no DICOM files: header privacy checks apply to DICOM only",
            "synthetic files in DICOM format (PNG and NIfTI carry no patient attributes to check)",
            inputs=inputs,
            params=effective,
            code_version=ENGINE_VERSION,
            timings={"total": time.perf_counter() - started},
        )

    matches, unmatched = find_matches(synthetic_dicom, {r: recs for r, recs in real.items() if recs}, words)
    failing = matches  # every match fails, a time on another day included (its flag says so)
    failing_files = {m.file for m in failing}
    flagged = [_match_flag(m) for m in _interleaved(failing)]
    for file, attributes in sorted(unmatched.items()):
        flagged.append(
            {
                "file": file,
                "attribute": ", ".join(attributes),
                "real_set": "",
                "real_file": "",
                "level": "warn",
                "reason": "identifying value(s) kept that match no real file: a pseudonym, or a leak from a set "
                "that was not uploaded",
            }
        )
    n_removed = sum(1 for record in synthetic_dicom if identity_removed(record))
    by_attribute = _by_attribute(synthetic_dicom, failing, words)
    metrics: dict[str, Any] = {
        "n_dicom_files": len(synthetic_dicom),
        "n_reference_dicom_files": len(real.get("reference", [])),
        "n_holdout_dicom_files": len(real.get("holdout", [])),
        "n_shared_identifiers": len(failing),
        "n_files_sharing_identifiers": len(failing_files),
        "n_files_sharing_with_reference": len({m.file for m in failing if m.real_set == "reference"}),
        "n_files_sharing_with_holdout": len({m.file for m in failing if m.real_set == "holdout"}),
        "shared_by_attribute": _files_per_attribute(failing),
        "shared_by_set": {SET_LABELS[role]: sum(1 for m in failing if m.real_set == role) for role in real},
        "n_times_on_other_days": sum(1 for m in failing if m.other_day),
        "n_files_with_identifying_attributes": len(unmatched),
        "identifying_attributes_present": {row["attribute"]: row["present"] for row in by_attribute if row["present"]},
        "n_placeholder_values": _placeholders(synthetic_dicom, words),
        "n_patient_identity_removed_yes": n_removed,
        "n_flagged_total": len(flagged),
    }
    status, summary = _verdict(metrics, real)
    return AuditResult(
        audit=AUDIT,
        status=status,
        summary=summary,
        metrics=metrics,
        thresholds={
            "n_shared_identifiers": {"warn": None, "fail": 0, "direction": "above"},
            "n_files_with_identifying_attributes": {"warn": 0, "fail": None, "direction": "above"},
        },
        flagged=flagged[:FLAGGED_LIMIT],
        charts={"by_attribute": by_attribute},
        caveats=_caveats(synthetic, real, n_removed, metrics["n_times_on_other_days"]),
        inputs=inputs,
        params=effective,
        code_version=ENGINE_VERSION,
        timings={"total": time.perf_counter() - started},
    )


def _verdict(metrics: dict[str, Any], real: dict[str, list[FileRecord]]) -> tuple[Status, str]:
    n = metrics["n_dicom_files"]
    if metrics["n_shared_identifiers"]:
        per_set = ", ".join(
            f"{count} with the {label} set" for label, count in metrics["shared_by_set"].items() if count
        )
        return Status.FAIL, (
            f"{metrics['n_files_sharing_identifiers']} of {n} synthetic DICOM files carry identifiers of real files "
            f"({metrics['n_shared_identifiers']} matches: {per_set})."
        )
    if metrics["n_files_with_identifying_attributes"]:
        return Status.WARN, (
            f"{metrics['n_files_with_identifying_attributes']} of {n} synthetic DICOM files keep identifying values "
            "found in no real file."
        )
    compared = " and ".join(f"the {SET_LABELS[role]} set" for role, records in real.items() if records)
    against = f" against {compared}" if compared else ""
    return Status.PASS, f"No identifier of a real file{against} in {n} synthetic DICOM files."


def _caveats(synthetic: ImageSet, real: dict[str, list[FileRecord]], n_removed: int, other_days: int) -> list[str]:
    caveats = []
    if other_days:
        caveats.append(
            f"{other_days} matched times of day are in files dated another day than the real exam: with thousands "
            "of real exams a time alone can recur by chance, so these flags say so; they fail all the same"
        )
    for role, records in real.items():
        if not records:
            caveats.append(f"the {SET_LABELS[role]} set has no DICOM files: its identifiers were not compared")
    if not real.get("reference"):
        caveats.append(
            "no real DICOM headers to compare with: only identifying values left in synthetic files were checked"
        )
    if "holdout" not in real:
        caveats.append("no held-out set was uploaded: identifiers were compared with the reference set only")
    non_dicom = sum(1 for r in synthetic.files if r.accepted and r.format != "dicom")
    if non_dicom:
        caveats.append(f"{non_dicom} non-DICOM synthetic files carry no patient attributes and were not checked")
    if n_removed:
        caveats.append(
            f"{n_removed} synthetic files declare PatientIdentityRemoved = YES: the declaration hides nothing, "
            "their values were compared all the same"
        )
    return caveats
