"""The representation audit itself: `run` compares every shared attribute and builds the result."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from audits.engine import ENGINE_VERSION
from audits.engine.representation.categorical import compare_categorical
from audits.engine.representation.common import is_identifier_attribute, resolve_params
from audits.engine.representation.continuous import _ages, age_band, compare_continuous, is_age_attribute, parse_age
from audits.engine.representation.gaps import _subgroup_gaps
from audits.engine.representation.report import _charts, _flags, _summary, _thresholds
from audits.engine.representation.sides import _Side, _side, _values
from audits.engine.types import FLAGGED_LIMIT, AuditResult, ImageSet, Status, not_computable, worst

AUDIT = "representation"


NEEDED_METADATA = (
    "a metadata CSV with a file column and subgroup columns such as sex, age, site, scanner "
    "(or DICOM headers with PatientSex, PatientAge, InstitutionName, Manufacturer)"
)


def run(
    synthetic: ImageSet,
    reference: ImageSet,
    params: dict | None = None,
    per_image: dict | None = None,
) -> AuditResult:
    """Compare the subgroup make-up of `synthetic` with `reference` (see the module docstring).

    `params` overrides DEFAULT_PARAMS (ValueError for a non-numeric or inconsistent value;
    unknown keys are ignored with a caveat). `per_image` (optional): {"copy": {synthetic
    Image.label -> bool}, "coverage": {attribute -> {category -> coverage}}} for the
    per-subgroup gaps (A9).
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    p, caveats = resolve_params(params)
    synth = _side(synthetic, "synthetic")
    real = _side(reference, "reference")
    timings["read_metadata"] = round(time.perf_counter() - started, 4)
    inputs: dict[str, Any] = {
        "n_synthetic_images": synth.n_images,
        "n_reference_images": real.n_images,
        "n_synthetic_files": sum(1 for f in synthetic.files if f.accepted),
        "n_reference_files": sum(1 for f in reference.files if f.accepted),
        "unit_synthetic": synth.unit,
        "unit_reference": real.unit,
        "n_synthetic_metadata_rows": synth.n_metadata_rows,
        "n_reference_metadata_rows": real.n_metadata_rows,
        "n_synthetic_blank_images": synth.n_blank_images,
        "n_reference_blank_images": real.n_blank_images,
        "synthetic_digest": synthetic.digest(),
        "reference_digest": reference.digest(),
        "per_image_given": sorted(k for k in ("copy", "coverage") if (per_image or {}).get(k)),
    }
    envelope: dict[str, Any] = {
        "inputs": inputs,
        "params": dict(p),
        "code_version": ENGINE_VERSION,
        "thresholds": _thresholds(p),
    }

    def stop(reason: str, needed: str) -> AuditResult:
        timings["total"] = round(time.perf_counter() - started, 4)
        return not_computable(AUDIT, reason, needed, caveats=caveats, timings=timings, **envelope)

    # 1. Is there anything to compare?
    without = [side.label for side in (synth, real) if not side.columns or not side.has_values]
    if without:
        return stop(
            f"no subgroup metadata for the {' and '.join(without)} set{'s' if len(without) > 1 else ''}",
            NEEDED_METADATA,
        )
    for side in (synth, real):
        if not side.rows:
            return stop(
                f"the metadata of the {side.label} set names none of its files "
                f"({side.n_metadata_rows} rows, {len(side.weights)} files)",
                "a metadata CSV whose file column holds the file paths inside the uploaded set",
            )
    shared = [key for key in real.columns if key in synth.columns]
    only_synth = [synth.columns[k] for k in synth.columns if k not in real.columns]
    only_real = [real.columns[k] for k in real.columns if k not in synth.columns]
    if only_synth:
        caveats.append(f"Only in the synthetic metadata, not compared: {', '.join(only_synth)}.")
    if only_real:
        caveats.append(f"Only in the reference metadata, not compared: {', '.join(only_real)}.")
    for side in (synth, real):
        if side.n_images_without_row:
            caveats.append(
                f"{side.n_images_without_row} {side.label} images ({side.n_files_without_row} files) have no "
                "metadata row; their attributes count as missing."
            )
        if side.n_rows_unmatched:
            caveats.append(f"{side.n_rows_unmatched} {side.label} metadata rows name no file of the set.")
    if synth.unit != "images" or real.unit != "images":
        caveats.append(f"Counted per {synth.unit} (synthetic) and {real.unit} (reference): the images were not loaded.")
    if not shared:
        return stop(
            "no subgroup attribute is shared by the two sets (synthetic: "
            f"{', '.join(synth.columns.values())}; reference: {', '.join(real.columns.values())})",
            "the same subgroup columns (for example sex, age, site, scanner) in both metadata files",
        )

    # 2. Per attribute.
    step = time.perf_counter()
    attributes: dict[str, dict[str, Any]] = {}
    groupings: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}  # name -> (synthetic file -> group, metrics)
    for key in shared:
        name = real.columns[key]
        compared = _compare_attribute(name, key, real, synth, p, caveats)
        if compared is None:
            continue
        metrics, file_group = compared
        attributes[name] = metrics
        if metrics["status"] != str(Status.NOT_COMPUTABLE):
            groupings[name] = (file_group, metrics)
    timings["attributes"] = round(time.perf_counter() - step, 4)

    computed = {name: m for name, m in attributes.items() if m["status"] != str(Status.NOT_COMPUTABLE)}
    if not computed and attributes:
        return stop(
            "no shared subgroup attribute has values in both sets",
            "values for the shared subgroup columns in both metadata files",
        )
    if not computed:
        return stop(
            "no shared column is a subgroup attribute (identifiers and free text are not compared)",
            NEEDED_METADATA,
        )

    # 3. Per-subgroup gaps (A9).
    step = time.perf_counter()
    gaps: dict[str, dict[str, Any]] | None = None
    if per_image and (per_image.get("copy") or per_image.get("coverage")):
        gaps = _subgroup_gaps(groupings, synth, per_image, p, caveats)
    else:
        caveats.append(
            "Per-subgroup copy rates and coverage not computed: no per-image results from the "
            "memorization and fidelity audits were given."
        )
    timings["subgroup_gaps"] = round(time.perf_counter() - step, 4)

    # 4. Status, flags, charts, summary.
    statuses = [Status(m["status"]) for m in computed.values()]
    if gaps:
        statuses += [Status(g["status"]) for g in gaps.values()]
    status = worst(statuses)
    flagged = _flags(computed, gaps, p)
    n_flagged = len(flagged)
    if n_flagged > FLAGGED_LIMIT:
        caveats.append(f"{n_flagged} flagged items; the first {FLAGGED_LIMIT} are listed.")
    charts = _charts(computed, gaps)
    tvds = {name: (m["bands"] if m["kind"] == "continuous" else m)["tvd"] for name, m in computed.items()}
    metrics_out: dict[str, Any] = {
        "attributes": attributes,
        "n_attributes": len(attributes),
        "n_attributes_computed": len(computed),
        "status_by_attribute": {name: m["status"] for name, m in attributes.items()},
        "max_tvd": max(tvds.values()),
        "max_tvd_attribute": max(tvds, key=tvds.__getitem__),
        "subgroup_gaps": gaps,
        "n_flagged_total": n_flagged,
    }
    timings["total"] = round(time.perf_counter() - started, 4)
    return AuditResult(
        audit=AUDIT,
        status=status,
        summary=_summary(status, computed, gaps, synth.n_images, real.n_images),
        metrics=metrics_out,
        flagged=flagged[:FLAGGED_LIMIT],
        charts=charts,
        caveats=caveats,
        timings=timings,
        **envelope,
    )


def _compare_attribute(
    name: str, key: str, real: _Side, synth: _Side, p: Mapping[str, Any], caveats: list[str]
) -> tuple[dict[str, Any], dict[str, str]] | None:
    """(metrics, synthetic file -> group) for one shared column; None when it is not a subgroup.

    An attribute with no value on one side comes back with status NOT_COMPUTABLE.
    """
    if is_identifier_attribute(name):
        caveats.append(f"{name}: an identifier, not a subgroup; not compared.")
        return None
    real_counts, real_missing = _values(real, key)
    synth_counts, synth_missing = _values(synth, key)
    missing_info = {
        "n_missing_real": real_missing,
        "n_missing_synth": synth_missing,
        "missing_share_real": real_missing / real.n_images if real.n_images else None,
        "missing_share_synth": synth_missing / synth.n_images if synth.n_images else None,
    }
    empty = [side.label for side, counts in ((synth, synth_counts), (real, real_counts)) if not counts]
    if empty:
        reason = f"no {' or '.join(empty)} image has a value"
        caveats.append(f"{name}: {reason}; not compared.")
        return {"status": str(Status.NOT_COMPUTABLE), "reason": reason, **missing_info}, {}
    if real_missing or synth_missing:
        caveats.append(
            f"{name}: value missing for {real_missing} reference and {synth_missing} synthetic images "
            "(reported, not a category)."
        )
    metrics: dict[str, Any]
    file_group: dict[str, str] = {}
    ages = _ages(real_counts, synth_counts) if is_age_attribute(name) else None
    if is_age_attribute(name) and ages is None:
        caveats.append(f"{name}: not every value reads as an age in years; compared as categories.")
    if ages is not None:
        metrics = compare_continuous(ages[0], ages[1], p)
        for file, row in synth.rows.items():
            years = parse_age(row[key]) if row.get(key) else None
            if years is not None:
                file_group[file] = age_band(years)
    else:
        n_categories = len(set(real_counts) | set(synth_counts))
        if n_categories > p["max_categories"]:
            caveats.append(
                f"{name}: {n_categories} categories (more than {p['max_categories']}), "
                "probably an identifier or free text; not compared."
            )
            return None
        metrics = compare_categorical(real_counts, synth_counts, p)
        if metrics["chi2_note"]:
            caveats.append(f"{name}: {metrics['chi2_note']}.")
        elif not metrics["chi2_valid"]:
            caveats.append(
                f"{name}: chi-square approximation unreliable (minimum expected count "
                f"{metrics['min_expected_count']:.1f} < 5); p-value for information only."
            )
        _case_caveat(name, metrics["categories"], caveats)
        file_group = {file: row[key] for file, row in synth.rows.items() if row.get(key)}
    metrics.update(missing_info)
    return metrics, file_group


def _case_caveat(name: str, categories: list[str], caveats: list[str]) -> None:
    folded: dict[str, list[str]] = {}
    for category in categories:
        folded.setdefault(re.sub(r"\s+", " ", category).casefold(), []).append(category)
    clashes = [" / ".join(group) for group in folded.values() if len(group) > 1]
    if clashes:
        caveats.append(
            f"{name}: categories that differ only in case or spacing are counted apart: {'; '.join(clashes)}."
        )
