"""A1 disclosure.metadata: is every synthetic file machine-readably marked as synthetic?

Per file (AUDITS.md section 1a), from the headers the readers collected:

- DICOM: marked when Synthetic Data (0008,001C) is YES. NO is an explicit claim of a faithful
  acquisition. A Contributing Equipment item with purpose (109100, DCM, "Synthesizing
  Equipment") or free text (Derivation Description, Image Comments, Series Description)
  mentioning synthesis without SyntheticData counts as a weak ("text only") label.
  SyntheticData YES without synthesizing equipment is a warning. Image Type DERIVED is
  reported but is not a marker: many real files are DERIVED.
- PNG: marked when the IPTC DigitalSourceType (XMP packet, or a plain DigitalSourceType text
  key) is a synthetic source type (trainedAlgorithmicMedia and kin); text only when a text
  chunk merely mentions synthesis; unmarked otherwise.
- NIfTI: marked when a header extension or the BIDS sidecar holds a JSON flag
  ({"SyntheticData": "YES"}); text only when descrip, intent_name or a non-JSON extension
  mentions synthesis; unmarked otherwise.

Status (A1): fail when fewer than `warn_fraction` of the files carry any label, any DICOM says
SyntheticData = NO, or (with a reference set) a PatientID/PatientName matches a real file;
warn when fewer than `pass_fraction` carry a machine-readable label (some files unmarked or
only text-labelled) or a DICOM marked YES records no synthesizing equipment; pass otherwise.

Both fractions are the thresholds a person may set (THRESHOLDS, each in [0, 1]; defaults 1.0
and 0.95); the audit has no compute setting.
"""

from __future__ import annotations

import re
import time
from typing import Any

from . import ENGINE_VERSION
from .inputs import set_inputs
from .schema import Setting, check_thresholds
from .types import FLAGGED_LIMIT, AuditResult, FileRecord, ImageSet, Status, not_computable

AUDIT = "disclosure"

DEFAULT_PARAMS: dict[str, Any] = {"pass_fraction": 1.0, "warn_fraction": 0.95}

THRESHOLDS: dict[str, Setting] = {
    "pass_fraction": Setting(
        label="Share of files machine-readably marked needed to pass",
        kind="float",
        low=0.0,
        high=1.0,
        help="Below this share of files carrying a machine-readable synthetic label (SyntheticData YES, "
        "an IPTC source type, a JSON flag) the audit warns; 1 asks for every file.",
    ),
    "warn_fraction": Setting(
        label="Share of files labelled in any way below which the audit fails",
        kind="float",
        low=0.0,
        high=1.0,
        help="Free-text labels count here too; below this share the audit fails.",
    ),
}

METRIC_LABELS: dict[str, str] = {
    "n_files": "synthetic files checked",
    "n_rejected": "files rejected at upload (not checked)",
    "by_format": "files per format",
    "n_marked": "files machine-readably marked as synthetic",
    "n_text_only": "files labelled synthetic in free text only",
    "n_unmarked": "files with no synthetic label",
    "n_synthetic_yes": "DICOM files with Synthetic Data YES",
    "n_synthetic_no": "DICOM files with Synthetic Data NO (declared real acquisitions)",
    "n_synthetic_missing": "DICOM files without Synthetic Data",
    "n_synthesizing_equipment": "DICOM files recording the generating equipment",
    "n_synthetic_yes_without_equipment": "files marked synthetic without the generating equipment",
    "n_image_type_derived": "DICOM files with Image Type DERIVED (for information, not a label)",
    "n_burned_in_yes": "DICOM files with burned-in annotation",
    "n_patient_identity_removed_yes": "DICOM files that declare the patient identity removed",
    "n_nonempty_patient_name": "DICOM files with a patient name",
    "n_patient_id_matching_reference": "files whose patient ID or name is a real file's",
    "n_iptc_trained_algorithmic": "PNG files with the IPTC source type trained algorithmic media",
    "n_text_flag_only": "PNG files labelled in free text only",
    "n_png_unlabelled": "PNG files with no synthetic label",
    "n_c2pa_manifest": "PNG files with a C2PA manifest (not verified)",
    "n_json_extension_flag": "NIfTI files flagged synthetic in a JSON header extension",
    "n_sidecar_flag": "NIfTI files flagged synthetic in a JSON sidecar",
    "n_descrip_only": "NIfTI files labelled in free text only",
    "n_nifti_unlabelled": "NIfTI files with no synthetic label",
    "frac_labelled_machine_readable": "share of files machine-readably marked as synthetic",
    "frac_labelled_any": "share of files with any synthetic label",
    "n_flagged_total": "files flagged",
}

SYNTHETIC_SOURCE_TYPES = {
    "trainedalgorithmicmedia",
    "compositewithtrainedalgorithmicmedia",
    "algorithmicmedia",
    "compositesynthetic",
}
TRAINED_SOURCE_TYPES = {"trainedalgorithmicmedia", "compositewithtrainedalgorithmicmedia"}
UNMARKED_FILES_LIMIT = 500

# Free text that says "this is synthetic". Deliberately narrow: "generated" alone is common in real headers.
SYNTHETIC_TEXT = re.compile(
    r"synthe(tic|sis|sized|sised|sizing|sising)|\b(ai|computer|machine|algorithmically)[- _]?generated\b"
    r"|\bartificial(ly)?\b|\bsimulated\b|algorithmicmedia|\bnot real\b",
    re.I,
)
NEGATIVE_VALUES = {"no", "false", "0", "n", "off", "none"}
POSITIVE_VALUES = {"yes", "true", "1", "y", "on"}
FLAG_KEYS = {"syntheticdata", "synthetic", "is_synthetic", "issynthetic", "synthetic_data"}


def source_type_term(value: str) -> str:
    """'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia' -> 'trainedalgorithmicmedia'."""
    return value.strip().rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].strip().lower()


def _flag_in_json(data: Any) -> str:
    """'yes' when a JSON object declares the content synthetic, 'no' when it declares it not, else ''."""
    if not isinstance(data, dict):
        return ""
    answer = ""
    for key, value in data.items():
        folded = str(key).strip().lower()
        text = str(value).strip().lower() if not isinstance(value, bool) else ("true" if value else "false")
        if folded in FLAG_KEYS:
            if text in POSITIVE_VALUES:
                return "yes"
            if text in NEGATIVE_VALUES:
                answer = "no"
        elif (
            folded in ("digitalsourcetype", "iptc4xmpext:digitalsourcetype")
            and isinstance(value, str)
            and source_type_term(value) in SYNTHETIC_SOURCE_TYPES
        ):
            return "yes"
    return answer


def _mentions_synthesis(texts: list[tuple[str, str]]) -> list[str]:
    """Names of the (name, text) pairs whose text mentions synthesis."""
    return [name for name, text in texts if text and SYNTHETIC_TEXT.search(text)]


def classify(record: FileRecord) -> tuple[str, str, dict[str, bool]]:
    """(category, reason, counters) for one accepted file.

    category is "marked", "text_only" or "unmarked"; reason explains anything but a clean mark;
    counters are the per-file flags the metrics add up.
    """
    header = record.header
    flags: dict[str, bool] = {}
    if record.format == "dicom":
        value = str(header.get("SyntheticData") or "").strip().upper()
        image_type = [str(v).strip().upper() for v in header.get("ImageType") or []]
        equipment = bool(header.get("synthesizing_equipment"))
        flags.update(
            synthetic_yes=value == "YES",
            synthetic_no=value == "NO",
            synthetic_missing=not value,
            synthesizing_equipment=equipment,
            image_type_derived=bool(image_type) and image_type[0] == "DERIVED",
            burned_in_yes=str(header.get("BurnedInAnnotation") or "").strip().upper() == "YES",
            patient_identity_removed_yes=str(header.get("PatientIdentityRemoved") or "").strip().upper() == "YES",
            nonempty_patient_name=bool(str(header.get("PatientName") or "").strip()),
        )
        if value == "YES":
            flags["yes_without_equipment"] = not equipment
            if not equipment:
                return "marked", "SyntheticData is YES but no Synthesizing Equipment (109100, DCM) is recorded", flags
            return "marked", "", flags
        if value == "NO":
            return "unmarked", "SyntheticData (0008,001C) is NO: the file declares itself a faithful acquisition", flags
        if value:
            return "unmarked", f"SyntheticData (0008,001C) is {value[:40]!r}, not YES", flags
        texts = [(k, str(header.get(k) or "")) for k in ("DerivationDescription", "ImageComments", "SeriesDescription")]
        mentions = _mentions_synthesis(texts)
        if equipment:
            return (
                "text_only",
                "only a Synthesizing Equipment item (109100, DCM) marks the file; SyntheticData (0008,001C) is missing",
                flags,
            )
        if mentions:
            return (
                "text_only",
                f"only free text ({', '.join(mentions)}) mentions synthesis; SyntheticData (0008,001C) is missing",
                flags,
            )
        return "unmarked", "SyntheticData (0008,001C) is missing and nothing else marks the file", flags

    if record.format == "png":
        source = str(header.get("digital_source_type") or "")
        term = source_type_term(source) if source else ""
        flags.update(
            iptc_trained_algorithmic=term in TRAINED_SOURCE_TYPES,
            c2pa_manifest=bool(header.get("c2pa_manifest")),
        )
        if term in SYNTHETIC_SOURCE_TYPES:
            return "marked", "", flags
        text = header.get("text") or {}
        keyed = []
        for key, value in text.items():
            negative = str(value).strip().lower() in NEGATIVE_VALUES
            if (SYNTHETIC_TEXT.search(str(key)) and not negative) or SYNTHETIC_TEXT.search(str(value)):
                keyed.append(str(key))
        if keyed:
            flags["text_flag_only"] = True
            prefix = f"DigitalSourceType is {term!r}, not a synthetic source type; " if term else ""
            return "text_only", f"{prefix}only free text ({', '.join(keyed[:5])}) mentions synthesis", flags
        flags["unlabelled"] = True
        if term:
            return "unmarked", f"DigitalSourceType is {term!r}, not a synthetic source type", flags
        return "unmarked", "no IPTC DigitalSourceType and no text chunk mentions synthesis", flags

    if record.format == "nifti":
        extension_flags = [_flag_in_json(e.get("json")) for e in header.get("extensions") or []]
        sidecar_flag = _flag_in_json(header.get("sidecar"))
        flags.update(json_extension_flag="yes" in extension_flags, sidecar_flag=sidecar_flag == "yes")
        if "yes" in extension_flags or sidecar_flag == "yes":
            return "marked", "", flags
        declared_no = "no" in extension_flags or sidecar_flag == "no"
        texts = [("descrip", str(header.get("descrip") or "")), ("intent_name", str(header.get("intent_name") or ""))]
        texts += [
            (f"extension {e.get('name', e.get('code'))}", str(e.get("content") or ""))
            for e in header.get("extensions") or []
        ]
        sidecar = header.get("sidecar")
        if isinstance(sidecar, dict):
            texts += [(f"sidecar {k}", str(v)) for k, v in sidecar.items() if isinstance(v, str)]
        mentions = _mentions_synthesis(texts)
        if declared_no:
            return "unmarked", "a JSON flag declares the file not synthetic (SyntheticData NO)", flags
        if mentions:
            flags["descrip_only"] = True
            return "text_only", f"only free text ({', '.join(mentions[:5])}) mentions synthesis; no JSON flag", flags
        flags["unlabelled"] = True
        return "unmarked", "no JSON flag in a header extension or sidecar, and no text mentions synthesis", flags

    return "unmarked", f"format {record.format or 'unknown'!r} carries no header to mark it", flags


def resolve_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """DEFAULT_PARAMS updated with `params`; ValueError naming an unknown or invalid parameter."""
    given = dict(params or {})
    unknown = sorted(set(given) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"unknown disclosure parameter(s): {', '.join(unknown)}")
    return check_thresholds(AUDIT, THRESHOLDS, {**DEFAULT_PARAMS, **given})


def run(synthetic: ImageSet, params: dict[str, Any] | None = None, *, reference: ImageSet | None = None) -> AuditResult:
    """A1 on the synthetic set; pass `reference` to also fail on PatientID/PatientName copied from real headers."""
    started = time.perf_counter()
    effective = resolve_params(params)
    pass_fraction = float(effective["pass_fraction"])
    warn_fraction = float(effective["warn_fraction"])
    inputs = set_inputs(synthetic)
    if reference is not None:
        inputs.update(set_inputs(reference, "reference"))
    accepted = [record for record in synthetic.files if record.accepted]
    rejected = len(synthetic.files) - len(accepted)
    if not accepted:
        reason = (
            f"all {rejected} files of the synthetic set were rejected" if rejected else "the synthetic set has no files"
        )
        return not_computable(
            AUDIT,
            reason,
            "at least one readable synthetic DICOM, NIfTI or PNG file",
            inputs=inputs,
            params=effective,
            code_version=ENGINE_VERSION,
            timings={"total": time.perf_counter() - started},
        )

    by_format: dict[str, dict[str, int]] = {}
    counters: dict[str, int] = {}
    flagged_rows: list[tuple[int, dict[str, Any]]] = []
    unmarked_files: list[str] = []
    for record in accepted:
        category, reason, flags = classify(record)
        row = by_format.setdefault(record.format, {"marked": 0, "text_only": 0, "unmarked": 0})
        row[category] += 1
        for key, value in flags.items():
            counters[f"{record.format}:{key}"] = counters.get(f"{record.format}:{key}", 0) + int(value)
        if category == "unmarked":
            unmarked_files.append(record.name)
        if category != "marked" or flags.get("yes_without_equipment"):
            rank = (
                0 if flags.get("synthetic_no") else 1 if category == "unmarked" else 2 if category == "text_only" else 3
            )
            flagged_rows.append(
                (rank, {"file": record.name, "format": record.format, "label": category, "reason": reason})
            )

    def count(fmt: str, key: str) -> int:
        return counters.get(f"{fmt}:{key}", 0)

    n_files = len(accepted)
    n_marked = sum(row["marked"] for row in by_format.values())
    n_text_only = sum(row["text_only"] for row in by_format.values())
    n_unmarked = sum(row["unmarked"] for row in by_format.values())
    frac_machine = n_marked / n_files
    frac_any = (n_marked + n_text_only) / n_files

    identity_matches: int | None = None
    if reference is not None:
        from .privacy import shared_identifiers

        leaks = [hit for hit in shared_identifiers(synthetic, reference) if hit[1] in ("PatientID", "PatientName")]
        identity_matches = len({file for file, _attribute, _ref in leaks})
        for file, attribute, ref in leaks:
            leak: dict[str, Any] = {
                "file": file,
                "format": "dicom",
                "label": "identity_leak",
                "reason": f"{attribute} matches real file {ref}",
            }
            flagged_rows.append((0, leak))

    metrics: dict[str, Any] = {
        "n_files": n_files,
        "n_rejected": rejected,
        "by_format": {fmt: sum(row.values()) for fmt, row in sorted(by_format.items())},
        "n_marked": n_marked,
        "n_text_only": n_text_only,
        "n_unmarked": n_unmarked,
        # DICOM
        "n_synthetic_yes": count("dicom", "synthetic_yes"),
        "n_synthetic_no": count("dicom", "synthetic_no"),
        "n_synthetic_missing": count("dicom", "synthetic_missing"),
        "n_synthesizing_equipment": count("dicom", "synthesizing_equipment"),
        "n_synthetic_yes_without_equipment": count("dicom", "yes_without_equipment"),
        "n_image_type_derived": count("dicom", "image_type_derived"),
        "n_burned_in_yes": count("dicom", "burned_in_yes"),
        "n_patient_identity_removed_yes": count("dicom", "patient_identity_removed_yes"),
        "n_nonempty_patient_name": count("dicom", "nonempty_patient_name"),
        "n_patient_id_matching_reference": identity_matches,
        # PNG
        "n_iptc_trained_algorithmic": count("png", "iptc_trained_algorithmic"),
        "n_text_flag_only": count("png", "text_flag_only"),
        "n_png_unlabelled": count("png", "unlabelled"),
        "n_c2pa_manifest": count("png", "c2pa_manifest"),
        # NIfTI
        "n_json_extension_flag": count("nifti", "json_extension_flag"),
        "n_sidecar_flag": count("nifti", "sidecar_flag"),
        "n_descrip_only": count("nifti", "descrip_only"),
        "n_nifti_unlabelled": count("nifti", "unlabelled"),
        "frac_labelled_machine_readable": frac_machine,
        "frac_labelled_any": frac_any,
    }

    failures = []
    if frac_any < warn_fraction:
        failures.append(f"only {frac_any:.1%} of files carry any synthetic label (fail below {warn_fraction:.0%})")
    if metrics["n_synthetic_no"]:
        failures.append(f"{_count(metrics['n_synthetic_no'], 'DICOM file says', 'DICOM files say')} SyntheticData = NO")
    if identity_matches:
        failures.append(
            f"{_count(identity_matches, 'file carries', 'files carry')} a PatientID or PatientName of a real file"
        )
    warnings_ = []
    if frac_machine < pass_fraction:
        warnings_.append(f"{_count(n_files - n_marked, 'file lacks', 'files lack')} a machine-readable synthetic label")
    if metrics["n_synthetic_yes_without_equipment"]:
        warnings_.append(
            _count(
                metrics["n_synthetic_yes_without_equipment"],
                "DICOM file marked YES records",
                "DICOM files marked YES record",
            )
            + " no synthesizing equipment"
        )
    status = Status.FAIL if failures else Status.WARN if warnings_ else Status.PASS

    headline = f"{n_marked} of {n_files} synthetic files ({frac_machine:.0%}) are machine-readably marked as synthetic"
    details = []
    if n_text_only:
        details.append(f"{_count(n_text_only, 'carries', 'carry')} only free text")
    if n_unmarked:
        details.append(f"{_count(n_unmarked, 'carries', 'carry')} no label")
    summary = headline + ("; " + ", ".join(details) if details else "") + "."
    if failures or warnings_:
        problems = "; ".join(failures + warnings_)
        summary += " " + problems[0].upper() + problems[1:] + "."

    caveats = []
    if rejected:
        caveats.append(
            f"{_count(rejected, 'rejected file was', 'rejected files were')} not checked (see the file list for reasons)"
        )
    if metrics["n_image_type_derived"]:
        caveats.append("Image Type DERIVED is reported for information only: it is not a synthetic marker")
    if reference is None and by_format.get("dicom"):
        caveats.append("identity leaks against the real set are checked by the privacy audit")
    if metrics["n_c2pa_manifest"]:
        caveats.append("C2PA manifests were detected but their content and signatures were not verified")

    flagged_rows.sort(key=lambda item: item[0])
    flagged = [row for _rank, row in flagged_rows]
    metrics["n_flagged_total"] = len(flagged)
    order = [fmt for fmt in ("dicom", "nifti", "png") if fmt in by_format] + sorted(
        fmt for fmt in by_format if fmt not in ("dicom", "nifti", "png")
    )
    return AuditResult(
        audit=AUDIT,
        status=status,
        summary=summary,
        metrics=metrics,
        thresholds={
            "frac_labelled_machine_readable": {"warn": pass_fraction, "fail": None, "direction": "below"},
            "frac_labelled_any": {"warn": None, "fail": warn_fraction, "direction": "below"},
            "n_synthetic_no": {"warn": None, "fail": 0, "direction": "above"},
        },
        flagged=flagged[:FLAGGED_LIMIT],
        charts={
            "by_format": [{"format": fmt, **by_format[fmt]} for fmt in order],
            "unmarked_files": unmarked_files[:UNMARKED_FILES_LIMIT],
        },
        caveats=caveats,
        inputs=inputs,
        params=effective,
        code_version=ENGINE_VERSION,
        timings={"total": time.perf_counter() - started},
    )


def _count(n: int, singular: str, plural: str) -> str:
    """'1 file carries', '2 files carry': the summaries are read as sentences."""
    return f"{n} {singular if n == 1 else plural}"
