"""Manifest audit: is every synthetic file listed in the generation manifest with generator, version and seed?

Input: the synthetic ImageSet and the entries of `inputs.parse_manifest` (each has 'file').
A manifest name matches a set file by its full relative name, or else by its base name when
that base name is unique in the set (uploads often add a top folder).

Metrics: coverage (share of the set's accepted files listed), complete coverage (listed with
generator, version and seed; files the manifest declares real need none of them), entries
missing each field, entries naming files not in the set, duplicate entries (conflicting or
not) and, when entries carry a `synthetic` flag or a `provenance` / `source` value, the
mixing ratio of real to synthetic files.

Status: pass when complete coverage reaches `pass_coverage` (1.0) and there are no duplicate
or stray entries; warn when it reaches `warn_coverage` (0.95) or there are duplicates or
stray entries; fail below. Both coverages are the thresholds a person may set (THRESHOLDS,
each in [0, 1], `warn_coverage` not above `pass_coverage`); the audit has no compute setting.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from . import ENGINE_VERSION
from .inputs import MANIFEST_REQUIRED, normalise_name, set_inputs
from .schema import Setting, check_thresholds
from .types import FLAGGED_LIMIT, AuditResult, ImageSet, Status, not_computable

AUDIT = "manifest"

DEFAULT_PARAMS: dict[str, Any] = {"pass_coverage": 1.0, "warn_coverage": 0.95}

THRESHOLDS: dict[str, Setting] = {
    "pass_coverage": Setting(
        label="Share of files fully listed needed to pass",
        kind="float",
        low=0.0,
        high=1.0,
        help="A file is fully listed when its manifest entry names the generator, its version and the seed; "
        "below this share the audit warns.",
    ),
    "warn_coverage": Setting(
        label="Share of files fully listed below which the audit fails",
        kind="float",
        low=0.0,
        high=1.0,
        help="Must not be above the share needed to pass.",
    ),
}

METRIC_LABELS: dict[str, str] = {
    "n_files": "synthetic files",
    "n_entries": "manifest entries",
    "n_listed": "files listed in the manifest",
    "n_unlisted": "files missing from the manifest",
    "coverage": "share of files listed in the manifest",
    "n_complete": "files listed with generator, version and seed",
    "n_incomplete": "files whose entry lacks the generator, version or seed",
    "complete_coverage": "share of files listed with generator, version and seed",
    "missing_by_field": "entries missing each field",
    "n_entries_not_in_set": "entries naming a file that is not in the set",
    "n_duplicate_entries": "duplicate entries",
    "n_conflicting_duplicates": "duplicate entries that disagree",
    "n_matched_by_basename": "entries matched by file name only (without the folder)",
    "n_generators": "generators named",
    "provenance_declared": "the manifest says which files are real or synthetic",
    "n_declared_real": "files the manifest declares real",
    "n_declared_synthetic": "files the manifest declares synthetic",
    "n_provenance_unknown": "files declared neither real nor synthetic",
    "mixing_ratio_real": "share of the declared files that are real",
    "n_flagged_total": "files and entries flagged",
}


def resolve_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """DEFAULT_PARAMS updated with `params`; ValueError naming an unknown, invalid or inconsistent one."""
    given = dict(params or {})
    unknown = sorted(set(given) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"unknown manifest parameter(s): {', '.join(unknown)}")
    checked = check_thresholds(AUDIT, THRESHOLDS, {**DEFAULT_PARAMS, **given})
    if checked["warn_coverage"] > checked["pass_coverage"]:
        fail, passing = THRESHOLDS["warn_coverage"].label, THRESHOLDS["pass_coverage"].label
        raise ValueError(
            f"{AUDIT}: {fail} (warn_coverage, {checked['warn_coverage']:g}) must not be above "
            f"{passing.lower()} (pass_coverage, {checked['pass_coverage']:g})"
        )
    return checked


REAL_WORDS = {"real", "acquired", "original", "patient", "clinical", "authentic", "natural", "measured"}
SYNTHETIC_WORDS = {"synthetic", "generated", "generator", "ai", "ai-generated", "fake", "simulated", "model", "synth"}
TRUE_WORDS = {"yes", "true", "1", "y"}
FALSE_WORDS = {"no", "false", "0", "n"}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def provenance(entry: dict[str, Any]) -> str:
    """'real', 'synthetic' or '' (not declared) from an entry's synthetic / provenance / source keys."""
    flag = entry.get("synthetic")
    if isinstance(flag, bool):
        return "synthetic" if flag else "real"
    if flag is not None:
        text = str(flag).strip().lower()
        if text in TRUE_WORDS:
            return "synthetic"
        if text in FALSE_WORDS:
            return "real"
    for key in ("provenance", "source"):
        value = entry.get(key)
        if isinstance(value, str):
            text = value.strip().lower()
            if text in REAL_WORDS:
                return "real"
            if text in SYNTHETIC_WORDS:
                return "synthetic"
    return ""


def _declares_provenance(entry: dict[str, Any]) -> bool:
    return any(key in entry and not _missing(entry[key]) for key in ("synthetic", "provenance", "source"))


def _signature(entry: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(entry.get(key, "")).strip() for key in (*MANIFEST_REQUIRED, "synthetic", "provenance", "source"))


def run(
    synthetic: ImageSet, manifest: list[dict[str, Any]] | None, params: dict[str, Any] | None = None
) -> AuditResult:
    started = time.perf_counter()
    effective = resolve_params(params)
    pass_coverage = float(effective["pass_coverage"])
    warn_coverage = float(effective["warn_coverage"])
    inputs = set_inputs(synthetic)
    extra: dict[str, Any] = {"inputs": inputs, "params": effective, "code_version": ENGINE_VERSION}
    if manifest is None:
        return not_computable(
            AUDIT,
            "no generation manifest was supplied",
            "a generation manifest (CSV or JSON) with file, generator, version, seed",
            timings={"total": time.perf_counter() - started},
            **extra,
        )
    inputs["n_manifest_entries"] = len(manifest)
    files = [record.name for record in synthetic.files if record.accepted]
    if not files:
        return not_computable(
            AUDIT,
            "the synthetic set has no readable files to compare with the manifest",
            "at least one readable synthetic DICOM, NIfTI or PNG file",
            timings={"total": time.perf_counter() - started},
            **extra,
        )

    in_set = set(files)
    by_base: dict[str, list[str]] = {}
    for name in files:
        by_base.setdefault(name.rsplit("/", 1)[-1], []).append(name)

    flagged_rows: list[tuple[int, dict[str, Any]]] = []
    first_entry: dict[str, dict[str, Any]] = {}
    duplicates: list[tuple[str, dict[str, Any], bool]] = []
    not_in_set: list[dict[str, Any]] = []
    by_basename = 0
    for entry in manifest:
        raw_name = normalise_name(str(entry.get("file", "")))
        target = raw_name if raw_name in in_set else None
        if target is None:
            candidates = by_base.get(raw_name.rsplit("/", 1)[-1], [])
            if len(candidates) == 1:
                target = candidates[0]
                by_basename += 1
        if target is None:
            not_in_set.append(entry)
            continue
        if target in first_entry:
            conflicting = _signature(first_entry[target]) != _signature(entry)
            duplicates.append((target, entry, conflicting))
            continue
        first_entry[target] = entry

    missing_by_field = dict.fromkeys(MANIFEST_REQUIRED, 0)
    provenance_counts: Counter[str] = Counter()
    incomplete: list[tuple[str, list[str]]] = []
    generators: Counter[tuple[str, str]] = Counter()
    declared = any(_declares_provenance(entry) for entry in manifest)
    for name in files:
        if name not in first_entry:
            continue
        entry = first_entry[name]
        kind = provenance(entry)
        provenance_counts[kind or "unknown"] += 1
        if kind == "real":
            continue
        missing = [key for key in MANIFEST_REQUIRED if _missing(entry.get(key))]
        for key in missing:
            missing_by_field[key] += 1
        if missing:
            incomplete.append((name, missing))
        generator = "(missing)" if _missing(entry.get("generator")) else str(entry.get("generator")).strip()
        version = "(missing)" if _missing(entry.get("version")) else str(entry.get("version")).strip()
        generators[(generator, version)] += 1

    n_files = len(files)
    n_listed = len(first_entry)
    unlisted = [name for name in files if name not in first_entry]
    n_complete = n_listed - len(incomplete)
    coverage = n_listed / n_files
    complete_coverage = n_complete / n_files
    n_real = provenance_counts.get("real", 0)
    n_synth = provenance_counts.get("synthetic", 0)
    mixing_ratio = n_real / (n_real + n_synth) if declared and (n_real + n_synth) else None

    for name in unlisted:
        flagged_rows.append((0, {"file": name, "reason": "not listed in the manifest"}))
    for name, missing in incomplete:
        row = first_entry[name].get("_row", "")
        flagged_rows.append((1, {"file": name, "entry": row, "reason": f"manifest entry lacks {', '.join(missing)}"}))
    for target, entry, conflicting in duplicates:
        first_row = first_entry[target].get("_row", "")
        what = "conflicting duplicate" if conflicting else "duplicate"
        reason = f"{what} of the entry on {first_row}" if first_row else f"{what} entry for this file"
        flagged_rows.append((2, {"file": target, "entry": entry.get("_row", ""), "reason": reason}))
    for entry in not_in_set:
        flagged_rows.append(
            (
                3,
                {
                    "file": entry.get("file", ""),
                    "entry": entry.get("_row", ""),
                    "reason": "names a file not in the set",
                },
            )
        )
    flagged_rows.sort(key=lambda item: item[0])
    flagged = [row for _rank, row in flagged_rows]

    metrics: dict[str, Any] = {
        "n_files": n_files,
        "n_entries": len(manifest),
        "n_listed": n_listed,
        "n_unlisted": len(unlisted),
        "coverage": coverage,
        "n_complete": n_complete,
        "n_incomplete": len(incomplete),
        "complete_coverage": complete_coverage,
        "missing_by_field": missing_by_field,
        "n_entries_not_in_set": len(not_in_set),
        "n_duplicate_entries": len(duplicates),
        "n_conflicting_duplicates": sum(1 for _t, _e, conflicting in duplicates if conflicting),
        "n_matched_by_basename": by_basename,
        "n_generators": len({generator for generator, _v in generators if generator != "(missing)"}),
        "provenance_declared": declared,
        "n_declared_real": n_real,
        "n_declared_synthetic": n_synth,
        "n_provenance_unknown": provenance_counts.get("unknown", 0) if declared else None,
        "mixing_ratio_real": mixing_ratio,
        "n_flagged_total": len(flagged),
    }

    if complete_coverage < warn_coverage:
        status = Status.FAIL
    elif complete_coverage < pass_coverage or duplicates or not_in_set:
        status = Status.WARN
    else:
        status = Status.PASS

    summary = f"{n_complete} of {n_files} synthetic files ({complete_coverage:.0%}) are listed"
    summary += " with generator, version and seed"
    details = []
    if unlisted:
        details.append(f"{len(unlisted)} unlisted")
    if incomplete:
        details.append(f"{len(incomplete)} with incomplete entries")
    if duplicates:
        details.append(f"{len(duplicates)} duplicate entries")
    if not_in_set:
        details.append(f"{len(not_in_set)} entries name files not in the set")
    summary += ("; " + ", ".join(details) if details else "") + "."
    if mixing_ratio is not None:
        summary += (
            f" The manifest declares {n_real} real and {n_synth} synthetic files (real share {mixing_ratio:.0%})."
        )

    caveats = []
    if by_basename:
        caveats.append(f"{by_basename} manifest entries matched a file by its base name only")
    if n_real:
        caveats.append(f"{n_real} files are declared real: they need no generator, version or seed")
    rejected = len(synthetic.files) - n_files
    if rejected:
        caveats.append(f"{rejected} rejected files of the set were not compared with the manifest")

    return AuditResult(
        audit=AUDIT,
        status=status,
        summary=summary,
        metrics=metrics,
        thresholds={"complete_coverage": {"warn": pass_coverage, "fail": warn_coverage, "direction": "below"}},
        flagged=flagged[:FLAGGED_LIMIT],
        charts={
            "coverage": {"listed": n_complete, "unlisted": len(unlisted), "incomplete": len(incomplete)},
            "by_generator": [
                {"generator": generator, "version": version, "files": count}
                for (generator, version), count in sorted(generators.items(), key=lambda item: (-item[1], item[0]))
            ],
        },
        caveats=caveats,
        timings={"total": time.perf_counter() - started},
        **extra,
    )
