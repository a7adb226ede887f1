"""Privacy (PHI) audit: identifying DICOM attributes left in synthetic files, identifiers shared with real files.

Two checks on the headers the readers collected (FileRecord.header):

- identifying attributes (patient name, ID, birth date, address, accession number,
  institution, referring physician...) with a non-placeholder value in a synthetic file
  whose PatientIdentityRemoved (0012,0062) is not YES;
- identifiers and UIDs (Study, Series, SOP Instance, Frame of Reference UIDs, PatientID,
  PatientName, AccessionNumber) whose value also occurs in a file of the reference (real) set.

Status: fail if any identifier or UID is shared with the reference set; warn if identifying
attributes are present but not shared; pass otherwise. The result never repeats the values
themselves, only attribute and file names, so the report does not spread the PHI it found.
"""

from __future__ import annotations

import time
from typing import Any

from . import ENGINE_VERSION
from .inputs import set_inputs
from .types import FLAGGED_LIMIT, AuditResult, FileRecord, ImageSet, Status, not_computable

AUDIT = "privacy"

IDENTIFYING_ATTRIBUTES = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "PatientBirthDate",
    "PatientAddress",
    "AccessionNumber",
    "ReferringPhysicianName",
    "InstitutionName",
    "InstitutionAddress",
)
SHARED_ATTRIBUTES = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "PatientID",
    "PatientName",
    "AccessionNumber",
)
UID_ATTRIBUTES = {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"}

DEFAULT_PLACEHOLDERS = (
    "anonymous",
    "anonymized",
    "anonymised",
    "anon",
    "unknown",
    "none",
    "null",
    "n/a",
    "na",
    "removed",
    "redacted",
    "deidentified",
    "de-identified",
    "0",
)

DEFAULT_PARAMS: dict[str, Any] = {"placeholders": list(DEFAULT_PLACEHOLDERS)}


def _normalise(attribute: str, value: Any, placeholders: set[str]) -> str:
    """A comparable value, or "" when empty or a placeholder such as ANONYMOUS."""
    if value is None:
        return ""
    text = "\\".join(str(v) for v in value) if isinstance(value, list) else str(value)
    text = text.strip()
    if attribute in UID_ATTRIBUTES:
        return text.rstrip("\0 ")
    folded = " ".join(text.replace("^", " ").split()).lower()
    if not folded or folded in placeholders:
        return ""
    return folded


def _dicom(image_set: ImageSet | None) -> list[FileRecord]:
    if image_set is None:
        return []
    return [record for record in image_set.files if record.accepted and record.format == "dicom"]


def identity_removed(record: FileRecord) -> bool:
    return str(record.header.get("PatientIdentityRemoved") or "").strip().upper() == "YES"


def shared_identifiers(
    synthetic: ImageSet, reference: ImageSet | None, placeholders: set[str] | None = None
) -> list[tuple[str, str, str]]:
    """(synthetic file, attribute, first reference file with the same value) for every shared identifier."""
    marks = set(DEFAULT_PLACEHOLDERS) if placeholders is None else placeholders
    index: dict[str, dict[str, str]] = {attribute: {} for attribute in SHARED_ATTRIBUTES}
    for record in _dicom(reference):
        for attribute in SHARED_ATTRIBUTES:
            value = _normalise(attribute, record.header.get(attribute), marks)
            if value:
                index[attribute].setdefault(value, record.name)
    hits = []
    for record in _dicom(synthetic):
        for attribute in SHARED_ATTRIBUTES:
            value = _normalise(attribute, record.header.get(attribute), marks)
            if value and value in index[attribute]:
                hits.append((record.name, attribute, index[attribute][value]))
    return hits


def run(synthetic: ImageSet, reference: ImageSet | None, params: dict[str, Any] | None = None) -> AuditResult:
    started = time.perf_counter()
    effective = {**DEFAULT_PARAMS, **(params or {})}
    placeholders = {str(p).strip().lower() for p in effective["placeholders"]}
    inputs = set_inputs(synthetic)
    if reference is not None:
        inputs.update(set_inputs(reference, "reference"))
    synthetic_dicom = _dicom(synthetic)
    reference_dicom = _dicom(reference)
    inputs["n_synthetic_dicom"] = len(synthetic_dicom)
    inputs["n_reference_dicom"] = len(reference_dicom)
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

    present = dict.fromkeys(IDENTIFYING_ATTRIBUTES, 0)
    identifying_files: list[tuple[str, list[str]]] = []
    n_removed = 0
    for record in synthetic_dicom:
        found = [
            attribute
            for attribute in IDENTIFYING_ATTRIBUTES
            if _normalise(attribute, record.header.get(attribute), placeholders)
        ]
        for attribute in found:
            present[attribute] += 1
        if identity_removed(record):
            n_removed += 1
        elif found:
            identifying_files.append((record.name, found))

    hits = shared_identifiers(synthetic, reference, placeholders)
    shared_counts = dict.fromkeys(SHARED_ATTRIBUTES, 0)
    for _file, attribute, _ref in hits:
        shared_counts[attribute] += 1
    sharing_files = sorted({file for file, _a, _r in hits})

    flagged: list[dict[str, Any]] = []
    for file, attribute, ref in hits:
        kind = "UID" if attribute in UID_ATTRIBUTES else "identifier"
        flagged.append(
            {
                "file": file,
                "attribute": attribute,
                "reference_file": ref,
                "reason": f"{attribute} is the same as in real file {ref} (shared {kind})",
            }
        )
    for file, found in identifying_files:
        flagged.append(
            {
                "file": file,
                "attribute": ", ".join(found),
                "reason": f"identifying attributes present ({', '.join(found)}) and PatientIdentityRemoved is not YES",
            }
        )

    all_attributes = list(dict.fromkeys((*IDENTIFYING_ATTRIBUTES, *SHARED_ATTRIBUTES)))
    by_attribute = [
        {
            "attribute": attribute,
            "present": sum(1 for r in synthetic_dicom if _normalise(attribute, r.header.get(attribute), placeholders)),
            "shared_with_reference": shared_counts.get(attribute, 0),
        }
        for attribute in all_attributes
    ]
    metrics: dict[str, Any] = {
        "n_dicom_files": len(synthetic_dicom),
        "n_reference_dicom_files": len(reference_dicom),
        "n_patient_identity_removed_yes": n_removed,
        "n_files_with_identifying_attributes": len(identifying_files),
        "identifying_attributes_present": {k: v for k, v in present.items() if v},
        "n_files_sharing_identifiers": len(sharing_files),
        "n_shared_identifiers": len(hits),
        "shared_by_attribute": {k: v for k, v in shared_counts.items() if v},
        "n_flagged_total": len(flagged),
    }
    caveats = []
    if not reference_dicom:
        caveats.append("the reference set has no DICOM files: shared identifiers and UIDs were not checked")
    non_dicom = sum(1 for r in synthetic.files if r.accepted and r.format != "dicom")
    if non_dicom:
        caveats.append(f"{non_dicom} non-DICOM synthetic files carry no patient attributes and were not checked")
    if n_removed:
        caveats.append(
            f"{n_removed} files declare PatientIdentityRemoved = YES: their remaining attributes are taken as "
            "pseudonyms, but are still compared with the reference set"
        )

    if hits:
        status = Status.FAIL
        summary = (
            f"{len(sharing_files)} of {len(synthetic_dicom)} synthetic DICOM files share identifiers or UIDs "
            f"with real files ({len(hits)} matches)."
        )
    elif identifying_files:
        status = Status.WARN
        summary = (
            f"{len(identifying_files)} of {len(synthetic_dicom)} synthetic DICOM files keep identifying attributes "
            "(not shared with the reference set)."
        )
    else:
        status = Status.PASS
        summary = f"No identifying attributes or shared identifiers in {len(synthetic_dicom)} synthetic DICOM files."

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
        caveats=caveats,
        inputs=inputs,
        params=effective,
        code_version=ENGINE_VERSION,
        timings={"total": time.perf_counter() - started},
    )
