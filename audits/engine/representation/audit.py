"""The representation audit itself: `run` compares every shared attribute and builds the result."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from audits.engine import ENGINE_VERSION
from audits.engine.representation.categorical import compare_categorical
from audits.engine.representation.common import (
    AUDIT,
    _above,
    _natural_key,
    _pct,
    is_identifier_attribute,
    resolve_params,
)
from audits.engine.representation.continuous import compare_continuous, is_age_attribute
from audits.engine.representation.gaps import _subgroup_gaps
from audits.engine.representation.normalise import (
    RULE_MAPPING,
    RULE_MISSING,
    RULE_NOT_AGE,
    RULE_SAME,
    Resolution,
    display_names,
    is_sex_attribute,
    map_conflicts,
    resolve_age,
    resolve_categorical,
    user_maps,
)
from audits.engine.representation.report import _charts, _flags, _summary, _thresholds
from audits.engine.representation.sides import _Side, _side, _values
from audits.engine.types import FLAGGED_LIMIT, AuditResult, ImageSet, Status, not_computable, worst

MAPPING_LIMIT = 100  # spellings listed per attribute in the mapping applied


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
    for attribute, spelling, mine, theirs in map_conflicts(synth.value_map, real.value_map):
        caveats.append(
            f"{attribute}: the synthetic set's mapping sends {spelling!r} to {mine!r}, the reference set's "
            f"to {theirs!r}; each set's own mapping is used for its own values."
        )
    attributes: dict[str, dict[str, Any]] = {}
    groupings: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}  # name -> (synthetic file -> group, metrics)
    for key in shared:
        name = real.columns[key]
        compared = _compare_attribute(name, key, real, synth, p, caveats)
        if compared is None:
            continue
        metrics, file_group = compared
        attributes[name] = metrics
        if "kind" in metrics:
            groupings[name] = (file_group, metrics)
    timings["attributes"] = round(time.perf_counter() - step, 4)

    tabled = {name: m for name, m in attributes.items() if "kind" in m}  # a share table, judged or not
    computed = {name: m for name, m in tabled.items() if m["status"] != str(Status.NOT_COMPUTABLE)}
    if not tabled and attributes:
        return stop(
            "no shared subgroup attribute has values in both sets",
            "values for the shared subgroup columns in both metadata files",
        )
    if not tabled:
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

    # 4. Status, flags, charts, summary. Attributes too small to judge neither pass nor fail.
    statuses = [Status(m["status"]) for m in computed.values()]
    if gaps:
        statuses += [Status(g["status"]) for g in gaps.values()]
    status = worst(statuses) if computed else Status.NOT_COMPUTABLE
    flagged = _flags(computed, gaps, p)
    n_flagged = len(flagged)
    if n_flagged > FLAGGED_LIMIT:
        caveats.append(f"{n_flagged} flagged items; the first {FLAGGED_LIMIT} are listed.")
    charts = _charts(tabled, gaps)
    tvds = {name: (m["bands"] if m["kind"] == "continuous" else m)["tvd"] for name, m in (computed or tabled).items()}
    too_small = [name for name, m in tabled.items() if m.get("too_small")]
    metrics_out: dict[str, Any] = {
        "attributes": attributes,
        "n_attributes": len(attributes),
        "n_attributes_computed": len(computed),
        "n_attributes_too_small": len(too_small),
        "status_by_attribute": {name: m["status"] for name, m in attributes.items()},
        "max_tvd": max(tvds.values()),
        "max_tvd_attribute": max(tvds, key=tvds.__getitem__),
        "subgroup_gaps": gaps,
        "n_flagged_total": n_flagged,
    }
    reason = needed = ""
    if status == Status.NOT_COMPUTABLE:
        reason = f"too few images with a subgroup value to judge ({', '.join(too_small)})"
        needed = f"at least {p['min_category_n']} images with a value per attribute in each set"
    timings["total"] = round(time.perf_counter() - started, 4)
    return AuditResult(
        audit=AUDIT,
        status=status,
        summary=f"Not computable: {reason}"
        if reason
        else _summary(status, tabled, gaps, synth.n_images, real.n_images),
        reason=reason,
        needed=needed,
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

    Spellings are resolved to groups first (normalise.py); an attribute with no value on one
    side comes back with status NOT_COMPUTABLE.
    """
    if is_identifier_attribute(name):
        caveats.append(f"{name}: an identifier, not a subgroup; not compared.")
        return None
    sides = {"reference": real, "synthetic": synth}
    raw = {label: _values(side, key) for label, side in sides.items()}
    maps = {
        "reference": user_maps(real.value_map, synth.value_map).get(key, {}),
        "synthetic": user_maps(synth.value_map, real.value_map).get(key, {}),
    }
    kind, per_side, display = _resolve(name, raw, maps, caveats)
    n_values: dict[str, int] = {}
    missing = {label: raw[label][1] for label in sides}
    groups: dict[str, Counter[Any]] = {label: Counter() for label in sides}
    for label in sides:
        for spelling, images in raw[label][0].items():
            value, resolution = per_side[label][spelling]
            if resolution.key is None:
                missing[label] += images
            else:
                groups[label][value if kind == "continuous" else display[resolution.key]] += images
        n_values[label] = sum(groups[label].values())
    missing_info = {
        "n_missing_real": missing["reference"],
        "n_missing_synth": missing["synthetic"],
        "missing_share_real": missing["reference"] / real.n_images if real.n_images else None,
        "missing_share_synth": missing["synthetic"] / synth.n_images if synth.n_images else None,
    }
    mapping, n_spellings = _mapping_rows(raw, per_side, display, kind)
    empty = [label for label in ("synthetic", "reference") if not n_values[label]]
    if empty:
        reason = f"no {' or '.join(empty)} image has a value"
        caveats.append(f"{name}: {reason}; not compared.")
        return {"status": str(Status.NOT_COMPUTABLE), "reason": reason, **missing_info, "mapping": mapping}, {}
    if missing["reference"] or missing["synthetic"]:
        caveats.append(
            f"{name}: value missing for {missing['reference']} reference and {missing['synthetic']} synthetic "
            "images (reported, not a category)."
        )
    metrics: dict[str, Any]
    if kind == "continuous":
        metrics = compare_continuous(groups["reference"], groups["synthetic"], p)
    else:
        n_categories = len(set(groups["reference"]) | set(groups["synthetic"]))
        if n_categories > p["max_categories"]:
            caveats.append(
                f"{name}: {n_categories} categories (more than {p['max_categories']}), "
                "probably an identifier or free text; not compared."
            )
            return None
        metrics = compare_categorical(groups["reference"], groups["synthetic"], p)
    metrics.update(missing_info)
    metrics["mapping"] = mapping
    metrics["n_spellings"] = n_spellings
    _judge_size_and_missing(name, metrics, n_values, p)
    if kind == "categorical" and not metrics["too_small"]:  # no chi-square remark where nothing is judged
        if metrics["chi2_note"]:
            caveats.append(f"{name}: {metrics['chi2_note']}.")
        elif not metrics["chi2_valid"]:
            caveats.append(
                f"{name}: chi-square approximation unreliable (minimum expected count "
                f"{metrics['min_expected_count']:.1f} < 5); p-value for information only."
            )
    file_group: dict[str, str] = {}
    for file, row in synth.rows.items():
        written = row.get(key)
        if not written:
            continue
        _value, resolution = per_side["synthetic"][written]
        if resolution.key is not None:
            file_group[file] = resolution.key if kind == "continuous" else display[resolution.key]
    return metrics, file_group


_Resolved = dict[str, dict[str, tuple[Any, Resolution]]]  # side -> spelling -> (years or key, resolution)


def _resolve(
    name: str,
    raw: Mapping[str, tuple[Counter[str], int]],
    maps: Mapping[str, Mapping[str, str]],
    caveats: list[str],
) -> tuple[str, _Resolved, dict[str, str]]:
    """("continuous" or "categorical", every spelling resolved per side, group key -> shown name)."""
    per_side: _Resolved = {label: {} for label in raw}
    if is_age_attribute(name):
        for label, (counts, _) in raw.items():
            for spelling, images in counts.items():
                years, resolution = resolve_age(spelling, maps[label])
                resolution.counts[label] = images
                per_side[label][spelling] = (years, resolution)
        if all(_mostly_ages(per_side[label], raw[label][0]) for label in raw):
            unread = sorted(
                {r.spelling for side in per_side.values() for _, r in side.values() if r.rule == RULE_NOT_AGE}
            )
            if unread:
                shown = ", ".join(repr(s) for s in unread[:5]) + (
                    f" and {len(unread) - 5} more" if len(unread) > 5 else ""
                )
                caveats.append(f"{name}: values that do not read as an age count as missing: {shown}.")
            bands = {r.key: r.key for side in per_side.values() for _, r in side.values() if r.key}
            return "continuous", per_side, bands
        caveats.append(f"{name}: most values do not read as an age in years; compared as categories.")
        per_side = {label: {} for label in raw}
    sex = is_sex_attribute(name)
    everything: list[Resolution] = []
    for label, (counts, _) in raw.items():
        for spelling, images in counts.items():
            resolution = resolve_categorical(spelling, sex, maps[label])
            resolution.counts[label] = images
            per_side[label][spelling] = (resolution.key, resolution)
            everything.append(resolution)
    return "categorical", per_side, display_names(everything)


def _mostly_ages(resolved: Mapping[str, tuple[Any, Resolution]], counts: Mapping[str, int]) -> bool:
    """At least half of the side's images with a value (not a missing marker) read as an age."""
    given = sum(counts[s] for s, (_, r) in resolved.items() if r.rule != RULE_MISSING)
    ages = sum(counts[s] for s, (years, _) in resolved.items() if years is not None)
    return given == 0 or 2 * ages >= given


def _mapping_rows(
    raw: Mapping[str, tuple[Counter[str], int]], per_side: _Resolved, display: Mapping[str, str], kind: str
) -> tuple[list[dict[str, Any]], int]:
    """The mapping applied, one row per spelling (as written, tidied): group, rule and images per set."""
    rows: dict[str, dict[str, Any]] = {}
    for label, (counts, _) in raw.items():
        for spelling, images in counts.items():
            value, resolution = per_side[label][spelling]
            key = resolution.spelling
            if key not in rows:
                group = None if resolution.key is None else display.get(resolution.key, resolution.key)
                same = group == resolution.spelling and resolution.rule != RULE_MAPPING
                rows[key] = {
                    "value": resolution.spelling,
                    "group": group,
                    "rule": RULE_SAME if same else resolution.rule,
                    "years": round(float(value), 2) if kind == "continuous" and value is not None else None,
                    "n_reference": 0,
                    "n_synthetic": 0,
                }
            rows[key]["n_reference" if label == "reference" else "n_synthetic"] += images
    ordered = sorted(
        rows.values(),
        key=lambda r: (
            r["group"] is None,
            _natural_key(r["group"] or ""),
            -(r["n_reference"] + r["n_synthetic"]),
            r["value"],
        ),
    )
    return ordered[:MAPPING_LIMIT], len(ordered)


def _judge_size_and_missing(
    name: str, metrics: dict[str, Any], n_values: Mapping[str, int], p: Mapping[str, Any]
) -> None:
    """Too few images to judge (not pass, not fail), and values missing for many images (warn)."""
    reasons: list[str] = list(metrics["reasons"])
    status = Status(metrics["status"])
    small = [label for label in ("reference", "synthetic") if n_values[label] < p["min_category_n"]]
    metrics["too_small"] = bool(small)
    if small:
        status = Status.NOT_COMPUTABLE
        counts = " and ".join(f"{n_values[label]} {label}" for label in small)
        noun = "image" if sum(n_values[label] for label in small) == 1 else "images"
        reasons = [f"too small to judge: only {counts} {noun} with a value (fewer than {p['min_category_n']})"]
    shares = {"reference": metrics["missing_share_real"], "synthetic": metrics["missing_share_synth"]}
    many = [
        (label, share)
        for label, share in shares.items()
        if share is not None and _above(share, p["missing_values_warn"])
    ]
    for label, share in many:
        reasons.append(f"value missing for {_pct(share)} of the {label} images")
    if many and status != Status.FAIL:
        status = Status.WARN
    metrics["status"] = str(status)
    metrics["reasons"] = reasons
