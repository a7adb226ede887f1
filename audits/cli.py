"""The audit suite on local folders or archives, without the database: `manage.py audit`.

`audit_paths` loads the sets the way an upload does (archives through the same safe
extraction, every file validated by content, metadata CSVs and DICOM headers merged as the
worker merges them), runs `engine.suite.run_suite` and returns plain JSON-safe data;
`format_report` turns that into the text report. Neither touches the database, so the
command works on a machine with no migrated database, and tests call both directly.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audits.archives import ArchiveRejected, archive_kind, extract_archive
from audits.engine import ENGINE_VERSION
from audits.engine.inputs import metadata_from_headers, parse_manifest, parse_metadata_csv, parse_value_map
from audits.engine.preprocess import Preprocessing
from audits.engine.readers import read_folder, read_set
from audits.engine.suite import AUDITS, run_suite
from audits.engine.types import AuditResult, ImageSet, Status, worst

MIN_SIZE, MAX_SIZE = 16, 512
FLAGGED_SHOWN = 10
NAMES_SHOWN = 3

STATUS_LABEL = {
    Status.PASS: "PASS",
    Status.WARN: "WARN",
    Status.FAIL: "FAIL",
    Status.NOT_COMPUTABLE: "NOT COMPUTABLE",
}

# Metrics worth a line in the text report besides those with a threshold (the JSON has them all).
KEY_METRICS: dict[str, tuple[str, ...]] = {
    "disclosure": (
        "n_files",
        "n_marked",
        "n_text_only",
        "n_unmarked",
        "n_synthetic_no",
        "n_patient_id_matching_reference",
        "frac_labelled_machine_readable",
    ),
    "privacy": (
        "n_dicom_files",
        "n_shared_identifiers",
        "n_files_sharing_identifiers",
        "n_files_with_identifying_attributes",
    ),
    "memorization": (
        "baseline",
        "baseline_n",
        "n_synthetic_used",
        "n_exact_duplicates",
        "n_probable_copies",
        "frac_probable_copies",
        "ncc_threshold",
        "expected_over_threshold",
        "excess_p_value",
        "transforms_found",
        "train_images_copied",
    ),
    "fidelity": ("units", "w1_ratio", "fd", "fd_ratio", "precision", "recall", "density", "coverage"),
    "representation": ("max_tvd", "max_tvd_attribute", "n_attributes_computed"),
    "manifest": ("n_files", "n_listed", "n_unlisted", "n_incomplete", "coverage", "complete_coverage"),
}


class AuditInputError(Exception):
    """A path or side file the audit cannot use; the message names it and says why."""


@dataclass(frozen=True)
class _Source:
    role: str
    path: Path
    option: str  # how the user named it: "SYNTHETIC", "--reference", ...


def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise AuditInputError(f"{what} {path}: no such file")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AuditInputError(f"{what} {path}: not UTF-8 text (invalid byte at position {exc.start})") from None
    except OSError as exc:
        raise AuditInputError(f"{what} {path}: cannot be read ({exc.strerror})") from None


def _load_set(source: _Source, params: Preprocessing, workdir: Path) -> ImageSet:
    """A folder as it is, or an archive through the upload's safe extraction into `workdir`."""
    path = source.path
    if path.is_dir():
        return read_folder(path, source.role, params)
    if not path.exists():
        raise AuditInputError(f"{source.option} {path}: no such folder or archive")
    if not path.is_file():
        raise AuditInputError(f"{source.option} {path}: not a folder or a regular file")
    with open(path, "rb") as handle:
        if archive_kind(handle) is None:
            raise AuditInputError(f"{source.option} {path}: not a folder, and not a zip or tar archive")
        try:
            members = extract_archive(handle, workdir)
        except ArchiveRejected as exc:
            raise AuditInputError(f"{source.option} {path}: the archive was refused: {exc.reason}") from None
    return read_set(members, source.role, params)


def _metadata_csv(path: Path | None, option: str, notes: list[str]) -> dict[str, dict[str, str]] | None:
    if path is None:
        return None
    try:
        mapping, warnings = parse_metadata_csv(_read_text(path, option))
    except ValueError as exc:
        raise AuditInputError(f"{option} {path}: {exc}") from None
    notes.extend(f"{option} {path.name}, {warning}" for warning in warnings)
    return mapping


def _attach_metadata(
    image_set: ImageSet, mapping: dict[str, dict[str, str]] | None, what: str, notes: list[str]
) -> None:
    """CSV values first, then subgroup values from DICOM headers, as the worker merges them."""
    if mapping is not None:
        image_set.metadata = mapping
        _compare_names(set(mapping), image_set, what, notes)
    image_set.metadata = metadata_from_headers(image_set)


def _compare_names(listed: set[str], image_set: ImageSet, what: str, notes: list[str]) -> None:
    accepted = {record.name for record in image_set.files if record.accepted}
    unknown = sorted(listed - accepted)
    if unknown:
        shown = ", ".join(unknown[:NAMES_SHOWN])
        notes.append(f"{what} names {len(unknown)} file(s) that are not accepted files of the set: {shown}")
    missing = sorted(accepted - listed)
    if missing:
        shown = ", ".join(missing[:NAMES_SHOWN])
        notes.append(f"{what} has no row for {len(missing)} accepted file(s): {shown}")


def _value_map(path: Path | None) -> dict[str, dict[str, str]]:
    if path is None:
        return {}
    try:
        return parse_value_map(_read_text(path, "--value-map"))
    except ValueError as exc:
        raise AuditInputError(f"--value-map {path}: {exc}") from None


def _manifest(path: Path) -> list[dict[str, Any]]:
    try:
        return parse_manifest(_read_text(path, "--manifest"), path.name)
    except ValueError as exc:
        raise AuditInputError(f"--manifest {path}: {exc}") from None


def _set_summary(image_set: ImageSet, source: Path) -> dict[str, Any]:
    accepted = sum(1 for record in image_set.files if record.accepted)
    return {
        "source": str(source),
        "n_files": len(image_set.files),
        "n_accepted": accepted,
        "n_rejected": len(image_set.files) - accepted,
        "n_images": len(image_set.images),
        "n_blank": sum(1 for image in image_set.images if image.blank),
        "digest": image_set.digest(),
    }


def audit_paths(
    *,
    synthetic: Path,
    reference: Path | None,
    holdout: Path | None = None,
    metadata: Path | None = None,
    reference_metadata: Path | None = None,
    manifest: Path | None = None,
    size: int = 64,
    params: dict[str, dict[str, Any]] | None = None,
    value_map: Path | None = None,
) -> dict[str, Any]:
    """Run the audit suite on folders or zip/tar archives; JSON-safe report data.

    Keys: engine_version, size, overall (worst status), sets (per role: source, counts,
    digest), rejected ([{set, file, reason}]), notes (side-file remarks), results (audit
    name -> AuditResult.as_dict()). Raises AuditInputError for a missing path, a file that is
    not an archive, a refused archive, or a malformed metadata CSV, value mapping or manifest.
    The value mapping (audits.engine.inputs.parse_value_map) applies to every set. Extracted
    archives live in a temporary folder that is removed whatever happens.
    """
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise AuditInputError(f"--size {size}: must be between {MIN_SIZE} and {MAX_SIZE} pixels")
    sources = [_Source("synthetic", Path(synthetic), "SYNTHETIC")]
    if reference is not None:
        sources.append(_Source("reference", Path(reference), "--reference"))
    if holdout is not None:
        sources.append(_Source("holdout", Path(holdout), "--holdout"))
    if reference_metadata is not None and reference is None:
        raise AuditInputError("--reference-metadata needs --reference")
    notes: list[str] = []
    # Side files are parsed and paths checked before the slow part, so a typo fails at once.
    manifest_entries = _manifest(Path(manifest)) if manifest is not None else None
    metadata_rows = _metadata_csv(Path(metadata) if metadata else None, "--metadata", notes)
    side = Path(reference_metadata) if reference_metadata else None
    reference_rows = _metadata_csv(side, "--reference-metadata", notes)
    mapping = _value_map(Path(value_map) if value_map else None)
    for source in sources:
        if not source.path.exists():
            raise AuditInputError(f"{source.option} {source.path}: no such folder or archive")

    preprocessing = Preprocessing(size=size)
    with tempfile.TemporaryDirectory(prefix="misyn-audit-") as workdir:
        sets = {source.role: _load_set(source, preprocessing, Path(workdir)) for source in sources}
    _attach_metadata(sets["synthetic"], metadata_rows, f"--metadata {metadata}", notes)
    for role, rows in (("reference", reference_rows), ("holdout", None)):
        if role in sets:
            _attach_metadata(sets[role], rows, f"--reference-metadata {reference_metadata}", notes)
    for image_set in sets.values():
        image_set.value_map = mapping

    results = run_suite(
        synthetic=sets["synthetic"],
        reference=sets.get("reference"),
        holdout=sets.get("holdout"),
        manifest=manifest_entries,
        params=params,
    )
    return {
        "engine_version": ENGINE_VERSION,
        "size": size,
        "overall": str(overall_status(results)),
        "sets": {source.role: _set_summary(sets[source.role], source.path) for source in sources},
        "rejected": [
            {"set": role, "file": record.name, "reason": record.error}
            for role, image_set in sets.items()
            for record in image_set.files
            if not record.accepted
        ],
        "notes": notes,
        "results": {name: results[name].as_dict() for name in AUDITS if name in results},
    }


def report_json(report: dict[str, Any]) -> str:
    """The report as strict JSON: a non-finite number (NaN, infinity) becomes null rather than invalid JSON."""
    return json.dumps(_finite(report), indent=2, ensure_ascii=False, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def overall_status(results: dict[str, AuditResult]) -> Status:
    return worst([result.status for result in results.values()])


def any_failed(report: dict[str, Any]) -> bool:
    return any(result["status"] == Status.FAIL for result in report["results"].values())


# --------------------------------------------------------------------------- text report


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if isinstance(value, bool) else "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (int, str)):
        return str(value)
    return "…"


def _threshold_text(rule: dict[str, Any]) -> str:
    word = "below" if rule.get("direction") == "below" else "above"
    parts = [f"{kind} {word} {_number(rule[kind])}" for kind in ("warn", "fail") if rule.get(kind) is not None]
    for name, value in (rule.get("warn_also_needs") or {}).items():
        parts.append(f"warn only while {name} > {_number(value)}")
    return ", ".join(parts)


def _metric_lines(result: dict[str, Any]) -> list[str]:
    """Key metrics, each with its thresholds; then thresholds that apply per attribute or per image."""
    metrics = result.get("metrics") or {}
    thresholds = result.get("thresholds") or {}
    lines = []
    shown: set[str] = set()
    for name in (*thresholds, *KEY_METRICS.get(result["audit"], ())):
        if name in shown or name not in metrics or isinstance(metrics[name], (dict, list)):
            continue
        shown.add(name)
        rule = thresholds.get(name)
        limit = _threshold_text(rule) if isinstance(rule, dict) else ""
        lines.append(f"    {name} = {_number(metrics[name])}" + (f"  ({limit})" if limit else ""))
    attributes = metrics.get("attributes")
    if result["audit"] == "representation" and isinstance(attributes, dict):
        for attribute, values in attributes.items():
            if not isinstance(values, dict):
                continue
            continuous = values.get("kind") == "continuous"
            measure = f"W1 {_number(values.get('w1'))} years" if continuous else f"TVD {_number(values.get('tvd'))}"
            lines.append(f"    {attribute}: {str(values.get('status', '')).upper()} ({measure})")
    others = [
        f"    {name}: {_threshold_text(rule)}"
        for name, rule in thresholds.items()
        if name not in shown and isinstance(rule, dict) and _threshold_text(rule)
    ]
    if others:
        lines += ["  Thresholds:", *others]
    return lines


def _first(item: dict[str, Any], keys: tuple[str, ...]) -> str:
    return next((str(item[key]) for key in keys if item.get(key) not in (None, "")), "")


def _flagged_line(item: dict[str, Any]) -> str:
    """One flagged item, whatever the audit: what, the real image it resembles, why, its score."""
    what = _first(item, ("file", "synthetic", "synthetic_id", "attribute", "category"))
    other = _first(item, ("reference", "reference_file", "reference_id"))
    if other and other != what:
        what = f"{what} ~ {other}"
    detail = _first(item, ("reason", "kind"))
    if item.get("ncc") is not None:
        detail = f"{detail} (NCC {_number(item['ncc'])}, L2 ratio {_number(item.get('ratio'))})"
    elif item.get("score") is not None:
        detail = f"{detail} (score {_number(item['score'])})"
    return f"    - {what}: {detail}" if what else f"    - {detail}"


def _audit_block(result: dict[str, Any]) -> list[str]:
    status = STATUS_LABEL.get(Status(result["status"]), result["status"].upper())
    lines = [f"{result['audit']}: {status}", f"  {result['summary']}"]
    if result["status"] == Status.NOT_COMPUTABLE and result.get("needed"):
        lines.append(f"  Needed: {result['needed']}")
    metric_lines = _metric_lines(result)
    if metric_lines and metric_lines[0] != "  Thresholds:":
        lines.append("  Metrics:")
    lines += metric_lines
    flagged = result.get("flagged") or []
    total = (result.get("metrics") or {}).get("n_flagged_total", len(flagged))
    if flagged:
        total = max(int(total or 0), len(flagged))
        lines.append(f"  Flagged ({min(len(flagged), FLAGGED_SHOWN)} of {total} shown):")
        lines += [_flagged_line(item) for item in flagged[:FLAGGED_SHOWN]]
    caveats = result.get("caveats") or []
    if caveats:
        lines += ["  Caveats:", *(f"    - {caveat}" for caveat in caveats)]
    return lines


def format_report(report: dict[str, Any]) -> str:
    """The readable report of `audit_paths`' data: sets, overall status, one block per audit, rejected files."""
    counts: dict[str, int] = {}
    for result in report["results"].values():
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    size = report["size"]
    lines = [f"MISyn Review audit report (engine {report['engine_version']}, images compared at {size}x{size})", ""]
    lines.append("Sets:")
    for role, info in report["sets"].items():
        lines.append(
            f"  {role:<10} {info['source']}: {info['n_files']} files, {info['n_accepted']} accepted, "
            f"{info['n_rejected']} rejected; {info['n_images']} 2-D images ({info['n_blank']} blank)"
        )
    overall = STATUS_LABEL.get(Status(report["overall"]), report["overall"])
    tally = ", ".join(f"{counts.get(status, 0)} {label.lower()}" for status, label in STATUS_LABEL.items())
    lines += ["", f"Overall: {overall} ({tally})", ""]
    for result in report["results"].values():
        lines += [*_audit_block(result), ""]
    rejected = report.get("rejected") or []
    lines.append(f"Rejected files: {len(rejected) or 'none'}")
    lines += [f"  - {item['set']}/{item['file']}: {item['reason']}" for item in rejected]
    if report.get("notes"):
        lines += ["", "Notes:", *(f"  - {note}" for note in report["notes"])]
    return "\n".join(lines) + "\n"
