"""Representation audit: subgroup make-up of the synthetic set against the real one.

Implements A8 (`subgroup.representation`) and A9 (`subgroup.metric_gaps`) of AUDITS.md.

Inputs
------
Subgroup metadata comes from `ImageSet.metadata` (file name -> {attribute: value}). The
attributes compared are the columns present in both sets (matched case-insensitively on the
stripped name); columns present in only one set are listed in the caveats. Identifier-like
columns (names with an id, uid, file, path, seed or hash token) and attributes with more than
`max_categories` categories are not subgroups and are skipped with a caveat. Values are
compared as stripped strings; an empty value is *missing*: it is counted and reported, never
treated as a category, and shares are taken over the images with a value.

Counts are per 2-D IMAGE: a file's attributes apply to every image it contributes
(`ImageSet.images`; when a set has no images, each accepted file counts `max(1, slices)`
times; when it has no files either, each metadata row counts once).

Categorical attributes (categories c with a count in either set; p_S, p_R the shares)
------------------------------------------------------------------------------------
- TVD = 1/2 * sum_c |p_S(c) - p_R(c)|
- chi-square test of homogeneity on the 2 x C table of counts,
  `scipy.stats.chi2_contingency(table, correction=False)` (no Yates correction, so that
  Cramer's V is the textbook value); chi2_valid = (min expected count >= 5).
- Cramer's V = sqrt(chi2 / (n * (min(2, C) - 1))), n = all counted images of both sets.
- log-disparity(c) = log(p_S(c) / p_R(c)); None where either share is 0.
- missing_in_synth: categories with p_R >= missing_share and no synthetic image;
  absent_in_real: categories seen only in the synthetic set.
- A single category on both sides gives TVD 0; chi-square and V are then not computed.

Status per categorical attribute (defaults; every threshold is a parameter):
- fail: TVD > tvd_fail (0.10), or a category with >= missing_share (5 %) of the real images
  is missing from the synthetic set;
- warn: tvd_warn (0.05) <= TVD <= tvd_fail, or |log-disparity| > log_disparity_warn (log 2,
  a 2x over- or under-representation) for some category, or Cramer's V > cramers_v_warn (0.1);
- pass otherwise.
Effect sizes drive the status. The chi-square p-value is reported as information only: with
N in the thousands every small shift is "significant" (AUDITS.md section 0, point 7).

Continuous age
--------------
An attribute named like age, age_years, PatientAge (an `age` token in its name, and no
group/band/bin token) whose values all read as numbers (plain years, or DICOM AS such as
"045Y", "006M", "010W", "003D") is continuous:
- W1 = scipy.stats.wasserstein_distance of the per-image ages, in years;
- KS D = scipy.stats.ks_2samp(real ages, synthetic ages).statistic (p-value as information);
- status: fail W1 > age_w1_fail (10 y), warn W1 > age_w1_warn (5 y); also fail when an age
  band (<18, 18-39, 40-59, 60-79, 80+) holding >= missing_share of the real images is missing
  from the synthetic set. The bands are compared like a categorical attribute (TVD,
  chi-square, V, log-disparity) for the share table; their TVD does not set the status.

Per-subgroup metric gaps (A9)
-----------------------------
`per_image` = {"copy": {synthetic Image.label -> probable copy (bool)},
"coverage": {attribute -> {category -> coverage}}}, from the memorization and fidelity
audits. For each attribute, per category (age: per band):
- copy rate = probable copies / synthetic images with a verdict, for groups with
  n >= min_group_n (30); smaller groups are listed as "insufficient n";
- overall copy rate over all synthetic images with a verdict; gap = worst - overall,
  ratio = worst / overall;
- warn when the worst group's copy rate > copy_rate_ratio_warn (2) x overall and
  >= copy_rate_min (1 %), or when the worst coverage is coverage_gap_warn (0.2) or more below
  the best (coverage is used for groups with >= min_group_n images in both sets).

The overall status is the worst of the attributes' and the gaps' statuses. NOT_COMPUTABLE
when either set has no metadata, when no attribute is shared, or when no shared attribute has
values in both sets.

Output
------
- metrics: {"attributes": {name: per-attribute metrics above, with "status" and "reasons"},
  "status_by_attribute", "max_tvd", "max_tvd_attribute", "subgroup_gaps": {name: {...}} or
  None, "n_attributes", "n_attributes_computed", "n_flagged_total"};
- flagged: per warned/failed attribute one "attribute" entry (its reasons) and "category"
  entries ("F: 48 % of real images, 31 % of synthetic", with "(missing from synthetic)",
  "(only in synthetic)", "(absent from synthetic)" or "(under-represented 2.3x)" when it
  applies), then "subgroup_metric" entries for A9 warnings; fail before warn, at most
  FLAGGED_LIMIT (the full count is metrics["n_flagged_total"]);
- charts: {"attributes": [{"attribute", "kind", "categories", "real_share",
  "synthetic_share", "gap" (synthetic - real), "real_counts", "synthetic_counts", "status"}],
  "subgroup_metrics": [{"attribute", "category", "n", "copy_rate", "coverage"}]}.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from audits.engine import ENGINE_VERSION
from audits.engine.types import FLAGGED_LIMIT, SEVERITY, AuditResult, ImageSet, Status, not_computable, worst

AUDIT = "representation"

DEFAULT_PARAMS: dict[str, float | int] = {
    "tvd_warn": 0.05,
    "tvd_fail": 0.10,
    "log_disparity_warn": math.log(2),
    "missing_share": 0.05,
    "cramers_v_warn": 0.1,
    "age_w1_warn": 5,
    "age_w1_fail": 10,
    "min_group_n": 30,
    "copy_rate_ratio_warn": 2.0,
    "copy_rate_min": 0.01,
    "coverage_gap_warn": 0.2,
    "max_categories": 50,
}

NEEDED_METADATA = (
    "a metadata CSV with a file column and subgroup columns such as sex, age, site, scanner "
    "(or DICOM headers with PatientSex, PatientAge, InstitutionName, Manufacturer)"
)

AGE_BANDS: tuple[tuple[str, float], ...] = (
    ("<18", 18.0),
    ("18-39", 40.0),
    ("40-59", 60.0),
    ("60-79", 80.0),
    ("80+", math.inf),
)

# Comparisons against thresholds use values rounded to this many decimals, so that a share
# difference of exactly 0.10 computed as 0.09999999999999998 counts as 0.10.
_DECIMALS = 10
_ID_TOKENS = frozenset({"id", "uid", "file", "filename", "filepath", "path", "seed", "hash", "md5", "sha256"})
_BAND_TOKENS = frozenset({"group", "groups", "band", "bands", "bin", "bins", "range", "bracket", "category", "class"})
_DICOM_AGE = re.compile(r"^(\d{1,3})\s*([YMWD])$", re.IGNORECASE)
_AGE_UNIT_YEARS = {"Y": 1.0, "M": 1.0 / 12.0, "W": 7.0 / 365.25, "D": 1.0 / 365.25}


# ---------------------------------------------------------------------------------------------
# Small helpers (public ones are used by the tests and may be used by the charts)


def resolve_params(params: Mapping[str, Any] | None) -> tuple[dict[str, float | int], list[str]]:
    """The effective parameters (defaults overridden by `params`) and caveats for unknown keys.

    Raises ValueError for a non-numeric or negative value, or warn thresholds above fail ones.
    """
    effective: dict[str, float | int] = dict(DEFAULT_PARAMS)
    caveats: list[str] = []
    for key, value in (params or {}).items():
        if key not in DEFAULT_PARAMS:
            caveats.append(f"Unknown parameter {key!r} ignored.")
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"parameter {key!r} must be a non-negative number, got {value!r}")
        effective[key] = value
    if effective["tvd_warn"] > effective["tvd_fail"]:
        raise ValueError("tvd_warn must not exceed tvd_fail")
    if effective["age_w1_warn"] > effective["age_w1_fail"]:
        raise ValueError("age_w1_warn must not exceed age_w1_fail")
    for key in ("min_group_n", "max_categories"):
        if int(effective[key]) != effective[key] or effective[key] < 1:
            raise ValueError(f"parameter {key!r} must be a positive whole number")
        effective[key] = int(effective[key])
    return effective, caveats


def name_tokens(name: str) -> list[str]:
    """Lower-case word tokens of a column name: "PatientAge" -> ["patient", "age"]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    return [token for token in re.split(r"[^a-z0-9]+", spaced.lower()) if token]


def is_age_attribute(name: str) -> bool:
    """age, Age, age_years, patient_age, PatientAge; not age_group, age_band, image, stage."""
    tokens = set(name_tokens(name))
    return "age" in tokens and not tokens & _BAND_TOKENS


def is_identifier_attribute(name: str) -> bool:
    """Columns that name a file, patient, UID or seed rather than a subgroup."""
    return bool(set(name_tokens(name)) & _ID_TOKENS)


def parse_age(value: str) -> float | None:
    """Age in years from "45", "45.5" or DICOM AS ("045Y", "006M", "010W", "003D"); else None."""
    text = value.strip()
    match = _DICOM_AGE.match(text)
    if match:
        return int(match.group(1)) * _AGE_UNIT_YEARS[match.group(2).upper()]
    try:
        years = float(text)
    except ValueError:
        return None
    if not math.isfinite(years) or years < 0 or years > 150:
        return None
    return years


def age_band(years: float) -> str:
    for label, upper in AGE_BANDS:
        if years < upper:
            return label
    return AGE_BANDS[-1][0]


def clean_value(value: Any) -> str:
    """A metadata value as a stripped string; "" (missing) for None, NaN and blanks."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return str(value).strip()


def _num(value: Any) -> float | None:
    """JSON-safe float: None for NaN and infinities."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _r(value: float) -> float:
    return round(value, _DECIMALS)


def _above(value: float, threshold: float) -> bool:
    """value > threshold, both rounded to _DECIMALS."""
    return _r(value) > _r(threshold)


def _at_least(value: float, threshold: float) -> bool:
    """value >= threshold, both rounded to _DECIMALS."""
    return _r(value) >= _r(threshold)


def _natural_key(text: str) -> list[Any]:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.casefold()) for part in re.split(r"(\d+)", text)]


def _pct(share: float) -> str:
    percent = 100.0 * share
    if percent == 0:
        return "0 %"
    if percent >= 10:
        return f"{percent:.0f} %"
    if percent >= 1:
        return f"{percent:.1f} %"
    return f"{percent:.2g} %"


def _fmt(value: float) -> str:
    return f"{value:.2f}"


# ---------------------------------------------------------------------------------------------
# Comparisons


def compare_categorical(
    real_counts: Mapping[str, int],
    synth_counts: Mapping[str, int],
    params: Mapping[str, Any] | None = None,
    order: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Shares, TVD, chi-square, Cramer's V and log-disparity of one attribute, with its status.

    `real_counts` / `synth_counts` map category -> number of images (missing values excluded).
    Both must hold at least one image. Categories with zero images in both sets are dropped.
    """
    p, _ = resolve_params(params)
    n_real = sum(real_counts.values())
    n_synth = sum(synth_counts.values())
    if n_real <= 0 or n_synth <= 0:
        raise ValueError("both sets need at least one image with a value")
    present = {c for c, k in real_counts.items() if k > 0} | {c for c, k in synth_counts.items() if k > 0}
    if order is not None:
        ranked = list(order)
        categories = [c for c in ranked if c in present] + sorted(present - set(ranked), key=_natural_key)
    else:
        categories = sorted(present, key=_natural_key)
    real = np.array([real_counts.get(c, 0) for c in categories], dtype=np.int64)
    synth = np.array([synth_counts.get(c, 0) for c in categories], dtype=np.int64)
    real_prop = real / n_real
    synth_prop = synth / n_synth
    tvd = 0.5 * float(np.abs(synth_prop - real_prop).sum())

    chi2: float | None = None
    dof: int | None = None
    p_value: float | None = None
    cramers_v: float | None = None
    min_expected: float | None = None
    chi2_note = ""
    if len(categories) >= 2:
        table = np.vstack([real, synth])
        result = stats.chi2_contingency(table, correction=False)
        chi2 = float(result.statistic)
        dof = int(result.dof)
        p_value = float(result.pvalue)
        min_expected = float(np.min(result.expected_freq))
        n_total = int(table.sum())
        cramers_v = math.sqrt(chi2 / (n_total * (min(2, len(categories)) - 1)))
    else:
        chi2_note = "one category on both sides: chi-square and Cramer's V not computed"

    log_disparity: list[float | None] = [
        math.log(s / r) if r > 0 and s > 0 else None
        for s, r in zip(synth_prop.tolist(), real_prop.tolist(), strict=True)
    ]
    missing_share = float(p["missing_share"])
    absent_in_synth = [c for c, k_r, k_s in zip(categories, real, synth, strict=True) if k_r > 0 and k_s == 0]
    missing_in_synth = [
        c
        for c, share, k_s in zip(categories, real_prop.tolist(), synth, strict=True)
        if k_s == 0 and _at_least(share, missing_share)
    ]
    absent_in_real = [c for c, k_r, k_s in zip(categories, real, synth, strict=True) if k_r == 0 and k_s > 0]

    metrics: dict[str, Any] = {
        "kind": "categorical",
        "categories": categories,
        "real_counts": real.tolist(),
        "synth_counts": synth.tolist(),
        "real_prop": real_prop.tolist(),
        "synth_prop": synth_prop.tolist(),
        "gap": (synth_prop - real_prop).tolist(),
        "n_real": n_real,
        "n_synth": n_synth,
        "tvd": tvd,
        "chi2": chi2,
        "dof": dof,
        "p_value": p_value,
        "min_expected_count": min_expected,
        "chi2_valid": min_expected is not None and min_expected >= 5,
        "chi2_note": chi2_note,
        "cramers_v": cramers_v,
        "log_disparity": log_disparity,
        "missing_in_synth": missing_in_synth,
        "absent_in_synth": absent_in_synth,
        "absent_in_real": absent_in_real,
    }
    status, reasons = _categorical_status(metrics, p)
    metrics["status"] = str(status)
    metrics["reasons"] = reasons
    return metrics


def _categorical_status(m: Mapping[str, Any], p: Mapping[str, Any]) -> tuple[Status, list[str]]:
    fails: list[str] = []
    warns: list[str] = []
    tvd = m["tvd"]
    if _above(tvd, p["tvd_fail"]):
        fails.append(f"TVD {_fmt(m['tvd'])} above the fail threshold {_fmt(p['tvd_fail'])}")
    elif _at_least(tvd, p["tvd_warn"]):
        warns.append(f"TVD {_fmt(m['tvd'])} at or above the warn threshold {_fmt(p['tvd_warn'])}")
    for category in m["missing_in_synth"]:
        share = m["real_prop"][m["categories"].index(category)]
        fails.append(f"category {category!r} ({_pct(share)} of real images) missing from the synthetic set")
    extreme = [
        (c, d)
        for c, d in zip(m["categories"], m["log_disparity"], strict=True)
        if d is not None and _above(abs(d), p["log_disparity_warn"])
    ]
    if extreme:
        listed = ", ".join(f"{c} {math.exp(d):.2g}x" for c, d in extreme[:5])
        more = f" and {len(extreme) - 5} more" if len(extreme) > 5 else ""
        warns.append(f"share ratio synthetic/real beyond {math.exp(p['log_disparity_warn']):.2g}x: {listed}{more}")
    if m["cramers_v"] is not None and _above(m["cramers_v"], p["cramers_v_warn"]):
        warns.append(f"Cramer's V {_fmt(m['cramers_v'])} above {_fmt(p['cramers_v_warn'])}")
    if fails:
        return Status.FAIL, fails + warns
    if warns:
        return Status.WARN, warns
    return Status.PASS, []


def compare_continuous(
    real_values: Mapping[float, int],
    synth_values: Mapping[float, int],
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """W1 (years) and KS D of per-image ages (value -> number of images), plus the age-band table.

    Status: W1 thresholds, and a fail when an age band with >= missing_share of the real
    images is missing from the synthetic set.
    """
    p, _ = resolve_params(params)
    if not real_values or not synth_values:
        raise ValueError("both sets need at least one image with an age")
    r_vals = np.array(list(real_values.keys()), dtype=np.float64)
    r_wts = np.array(list(real_values.values()), dtype=np.float64)
    s_vals = np.array(list(synth_values.keys()), dtype=np.float64)
    s_wts = np.array(list(synth_values.values()), dtype=np.float64)
    w1 = float(stats.wasserstein_distance(r_vals, s_vals, r_wts, s_wts))
    r_samples = np.repeat(r_vals, r_wts.astype(np.int64))
    s_samples = np.repeat(s_vals, s_wts.astype(np.int64))
    ks = stats.ks_2samp(r_samples, s_samples)

    real_bands: Counter[str] = Counter()
    synth_bands: Counter[str] = Counter()
    for years, k in real_values.items():
        real_bands[age_band(years)] += k
    for years, k in synth_values.items():
        synth_bands[age_band(years)] += k
    bands = compare_categorical(real_bands, synth_bands, p, order=[label for label, _ in AGE_BANDS])

    fails: list[str] = []
    warns: list[str] = []
    if _above(w1, p["age_w1_fail"]):
        fails.append(f"W1 {w1:.1f} years above the fail threshold {p['age_w1_fail']:g}")
    elif _above(w1, p["age_w1_warn"]):
        warns.append(f"W1 {w1:.1f} years above the warn threshold {p['age_w1_warn']:g}")
    for band in bands["missing_in_synth"]:
        share = bands["real_prop"][bands["categories"].index(band)]
        fails.append(f"age band {band} ({_pct(share)} of real images) missing from the synthetic set")
    status = Status.FAIL if fails else Status.WARN if warns else Status.PASS
    return {
        "kind": "continuous",
        "unit": "years",
        "n_real": int(r_wts.sum()),
        "n_synth": int(s_wts.sum()),
        "w1": w1,
        "ks_d": float(ks.statistic),
        "ks_p_value": float(ks.pvalue),
        "real_mean": float(np.average(r_vals, weights=r_wts)),
        "synth_mean": float(np.average(s_vals, weights=s_wts)),
        "real_median": float(np.median(r_samples)),
        "synth_median": float(np.median(s_samples)),
        "real_range": [float(r_vals.min()), float(r_vals.max())],
        "synth_range": [float(s_vals.min()), float(s_vals.max())],
        "bands": bands,
        "status": str(status),
        "reasons": fails + warns,
    }


# ---------------------------------------------------------------------------------------------
# Reading the sets


def _norm_path(name: str) -> str:
    name = name.replace("\\", "/").strip()
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


@dataclass
class _Side:
    """One set as seen by this audit: its counting units and matched metadata rows."""

    role: str  # "synthetic" or "reference"
    unit: str  # "images", "files" or "metadata rows"
    weights: dict[str, int]  # file name -> number of images
    labels: dict[str, str]  # image label -> file name
    rows: dict[str, dict[str, str]] = field(default_factory=dict)  # file -> casefold column -> value
    columns: dict[str, str] = field(default_factory=dict)  # casefold column -> name as written
    n_metadata_rows: int = 0
    n_rows_unmatched: int = 0
    n_files_without_row: int = 0
    n_images_without_row: int = 0
    n_blank_images: int = 0
    has_values: bool = False  # some metadata row holds a non-empty value

    @property
    def n_images(self) -> int:
        return sum(self.weights.values())

    @property
    def label(self) -> str:
        return "synthetic" if self.role == "synthetic" else "reference"


def _side(image_set: ImageSet, role: str) -> _Side:
    metadata = {_norm_path(str(k)): v for k, v in (image_set.metadata or {}).items() if isinstance(v, Mapping)}
    if image_set.images:
        unit = "images"
        weights = dict(Counter(image.file for image in image_set.images))
        labels = {image.label: image.file for image in image_set.images}
    elif image_set.files:
        unit = "files"
        weights = {f.name: max(1, f.slices) for f in image_set.files if f.accepted}
        labels = {name: name for name in weights}
    else:
        unit = "metadata rows"
        weights = dict.fromkeys(metadata, 1)
        labels = {name: name for name in weights}
    side = _Side(role=role, unit=unit, weights=weights, labels=labels, n_metadata_rows=len(metadata))
    side.n_blank_images = sum(1 for image in image_set.images if image.blank)
    side.has_values = any(clean_value(value) for row in metadata.values() for value in row.values())

    for row in metadata.values():
        for column in row:
            name = str(column).strip()
            if name:
                side.columns.setdefault(name.casefold(), name)

    by_basename: dict[str, list[str]] = {}
    for key in metadata:
        by_basename.setdefault(key.rsplit("/", 1)[-1], []).append(key)
    used: set[str] = set()
    for file in weights:
        key = _norm_path(file)
        if key not in metadata:
            candidates = by_basename.get(key.rsplit("/", 1)[-1], [])
            key = candidates[0] if len(candidates) == 1 else ""
        if not key:
            side.n_files_without_row += 1
            side.n_images_without_row += weights[file]
            continue
        used.add(key)
        side.rows[file] = {
            str(column).strip().casefold(): clean_value(value)
            for column, value in metadata[key].items()
            if str(column).strip()
        }
    side.n_rows_unmatched = len(set(metadata) - used)
    return side


def _values(side: _Side, key: str) -> tuple[Counter[str], int]:
    """(value -> images, images with the value missing) for one attribute."""
    counts: Counter[str] = Counter()
    missing = 0
    for file, weight in side.weights.items():
        value = side.rows.get(file, {}).get(key, "")
        if value:
            counts[value] += weight
        else:
            missing += weight
    return counts, missing


# ---------------------------------------------------------------------------------------------
# The audit


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


def _ages(
    real_counts: Mapping[str, int], synth_counts: Mapping[str, int]
) -> tuple[dict[float, int], dict[float, int]] | None:
    """Per-side {age in years -> images}, or None when some value is not an age."""
    out: list[dict[float, int]] = []
    for counts in (real_counts, synth_counts):
        ages: Counter[float] = Counter()
        for value, k in counts.items():
            years = parse_age(value)
            if years is None:
                return None
            ages[years] += k
        out.append(dict(ages))
    return out[0], out[1]


def _case_caveat(name: str, categories: list[str], caveats: list[str]) -> None:
    folded: dict[str, list[str]] = {}
    for category in categories:
        folded.setdefault(re.sub(r"\s+", " ", category).casefold(), []).append(category)
    clashes = [" / ".join(group) for group in folded.values() if len(group) > 1]
    if clashes:
        caveats.append(
            f"{name}: categories that differ only in case or spacing are counted apart: {'; '.join(clashes)}."
        )


def _subgroup_gaps(
    groupings: Mapping[str, tuple[dict[str, str], dict[str, Any]]],
    synth: _Side,
    per_image: Mapping[str, Any],
    p: Mapping[str, Any],
    caveats: list[str],
) -> dict[str, dict[str, Any]]:
    copy_flags: Mapping[str, Any] = per_image.get("copy") or {}
    coverage_in: Mapping[str, Any] = per_image.get("coverage") or {}
    coverage_by_key = {str(k).strip().casefold(): v for k, v in coverage_in.items() if isinstance(v, Mapping)}
    min_n = int(p["min_group_n"])

    verdicts: list[tuple[str, bool]] = []  # (file, copy)
    unmatched = 0
    for label, flag in copy_flags.items():
        if flag is None:
            continue
        file = synth.labels.get(str(label))
        if file is None:
            unmatched += 1
            continue
        verdicts.append((file, bool(flag)))
    if unmatched:
        caveats.append(f"{unmatched} copy verdicts name no synthetic image of this set; ignored.")
    n_verdicts = len(verdicts)
    overall = sum(flag for _, flag in verdicts) / n_verdicts if n_verdicts else None
    known_attrs = {name.casefold() for name in groupings}
    for key in coverage_by_key:
        if key not in known_attrs:
            caveats.append(f"Coverage given for {key!r}, which is not a compared attribute; ignored.")

    out: dict[str, dict[str, Any]] = {}
    for name, (file_group, metrics) in groupings.items():
        table = metrics["bands"] if metrics["kind"] == "continuous" else metrics
        real_n = dict(zip(table["categories"], table["real_counts"], strict=True))
        synth_n = dict(zip(table["categories"], table["synth_counts"], strict=True))
        n_copy: Counter[str] = Counter()
        n_seen: Counter[str] = Counter()
        for file, flag in verdicts:
            group = file_group.get(file)
            if group is not None:
                n_seen[group] += 1
                n_copy[group] += flag
        coverage_raw = coverage_by_key.get(name.casefold(), {})
        coverage = {str(k).strip(): _num(v) for k, v in coverage_raw.items() if _num(v) is not None}
        for category in coverage:
            if category not in real_n:
                caveats.append(f"{name}: coverage given for unknown category {category!r}; ignored.")

        groups: list[dict[str, Any]] = []
        insufficient: list[str] = []
        for category in table["categories"]:
            n = n_seen[category] if n_verdicts else synth_n[category]
            copy_rate = n_copy[category] / n if n_verdicts and n >= min_n else None
            cov = coverage.get(category)
            cov_ok = cov is not None and synth_n[category] >= min_n and real_n[category] >= min_n
            small = (bool(n_verdicts) and n < min_n) or (
                category in coverage and (synth_n[category] < min_n or real_n[category] < min_n)
            )
            if small:
                insufficient.append(category)
            groups.append(
                {
                    "category": category,
                    "n": n,
                    "n_copies": n_copy[category] if n_verdicts else None,
                    "copy_rate": copy_rate,
                    "coverage": cov if cov_ok else None,
                    "n_real": real_n[category],
                    "n_synthetic": synth_n[category],
                    "sufficient_n": not small,
                }
            )
        entry = _gap_status(groups, overall, p)
        entry.update(
            {
                "per_group": groups,
                "overall_copy_rate": overall,
                "n_copy_verdicts": n_verdicts,
                "groups_insufficient_n": insufficient,
                "min_group_n": min_n,
            }
        )
        out[name] = entry
    return out


def _gap_status(groups: list[dict[str, Any]], overall: float | None, p: Mapping[str, Any]) -> dict[str, Any]:
    reasons: list[str] = []
    rated = [g for g in groups if g["copy_rate"] is not None]
    worst_group = max(rated, key=lambda g: g["copy_rate"]) if rated else None
    entry: dict[str, Any] = {
        "worst_group": worst_group["category"] if worst_group else None,
        "worst_copy_rate": worst_group["copy_rate"] if worst_group else None,
        "copy_rate_gap": None,
        "copy_rate_ratio": None,
        "copy_rate_range": None,
        "coverage_best_group": None,
        "coverage_worst_group": None,
        "coverage_gap": None,
    }
    if worst_group is not None and overall is not None:
        rate = worst_group["copy_rate"]
        entry["copy_rate_gap"] = rate - overall
        entry["copy_rate_ratio"] = rate / overall if overall > 0 else None
        entry["copy_rate_range"] = rate - min(g["copy_rate"] for g in rated)
        if overall > 0 and _above(rate, p["copy_rate_ratio_warn"] * overall) and _at_least(rate, p["copy_rate_min"]):
            reasons.append(
                f"copy rate {_pct(rate)} in {worst_group['category']} (n = {worst_group['n']}) "
                f"vs {_pct(overall)} overall"
            )
    covered = [g for g in groups if g["coverage"] is not None]
    if len(covered) >= 2:
        best = max(covered, key=lambda g: g["coverage"])
        low = min(covered, key=lambda g: g["coverage"])
        gap = best["coverage"] - low["coverage"]
        entry.update(coverage_best_group=best["category"], coverage_worst_group=low["category"], coverage_gap=gap)
        if _at_least(gap, p["coverage_gap_warn"]):
            reasons.append(
                f"coverage {low['coverage']:.2f} in {low['category']} vs {best['coverage']:.2f} in {best['category']}"
            )
    entry["status"] = str(Status.WARN if reasons else Status.PASS)
    entry["reasons"] = reasons
    return entry


def _flags(
    computed: Mapping[str, dict[str, Any]], gaps: Mapping[str, dict[str, Any]] | None, p: Mapping[str, Any]
) -> list[dict[str, Any]]:
    flagged: list[dict[str, Any]] = []
    for name, m in computed.items():
        status = Status(m["status"])
        if status not in (Status.WARN, Status.FAIL):
            continue
        flagged.append(
            {
                "kind": "attribute",
                "attribute": name,
                "category": None,
                "status": str(status),
                "reason": "; ".join(m["reasons"]),
            }
        )
        flagged += _category_flags(name, m, status, p)
    for name, g in (gaps or {}).items():
        if g["status"] == str(Status.WARN):
            group = {row["category"]: row for row in g["per_group"]}
            for reason in g["reasons"]:
                category = g["worst_group"] if reason.startswith("copy") else g["coverage_worst_group"]
                row = group.get(category, {})
                flagged.append(
                    {
                        "kind": "subgroup_metric",
                        "attribute": name,
                        "category": category,
                        "status": str(Status.WARN),
                        "reason": reason,
                        "n": row.get("n"),
                        "copy_rate": row.get("copy_rate"),
                        "coverage": row.get("coverage"),
                    }
                )
    flagged.sort(key=lambda f: -SEVERITY[Status(f["status"])])  # stable: attribute order kept
    return flagged


def _category_flags(name: str, m: Mapping[str, Any], status: Status, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The categories behind a warn or fail: missing, synthetic-only, beyond the ratio, or shifted."""
    table = m["bands"] if m["kind"] == "continuous" else m
    rows = list(zip(table["categories"], table["real_prop"], table["synth_prop"], table["log_disparity"], strict=True))
    notes: dict[str, str] = {}
    for category in table["missing_in_synth"]:
        notes[category] = "missing from synthetic"
    for category, pr, ps, disparity in rows:
        if category in notes:
            continue
        if category in table["absent_in_real"] and _at_least(ps, p["missing_share"]):
            notes[category] = "only in synthetic"
        elif category in table["absent_in_synth"]:
            notes[category] = "absent from synthetic"
        elif disparity is not None and _above(abs(disparity), p["log_disparity_warn"]):
            notes[category] = (
                f"over-represented {math.exp(disparity):.2g}x"
                if disparity > 0
                else f"under-represented {math.exp(-disparity):.2g}x"
            )
        elif _at_least(abs(ps - pr), p["tvd_warn"]):
            notes[category] = ""
    if not notes and rows:  # a diffuse shift: name the category that moved most
        largest = max(rows, key=lambda row: abs(row[2] - row[1]))
        notes[largest[0]] = ""
    out = []
    for category, pr, ps, _ in rows:
        if category not in notes:
            continue
        reason = f"{category}: {_pct(pr)} of real images, {_pct(ps)} of synthetic"
        if notes[category]:
            reason += f" ({notes[category]})"
        out.append(
            {
                "kind": "category",
                "attribute": name,
                "category": category,
                "status": str(status),
                "reason": reason,
                "real_share": pr,
                "synthetic_share": ps,
                "gap": ps - pr,
            }
        )
    return out


def _charts(computed: Mapping[str, dict[str, Any]], gaps: Mapping[str, dict[str, Any]] | None) -> dict[str, Any]:
    attributes = []
    for name, m in computed.items():
        table = m["bands"] if m["kind"] == "continuous" else m
        attributes.append(
            {
                "attribute": name,
                "kind": m["kind"],
                "categories": list(table["categories"]),
                "real_share": list(table["real_prop"]),
                "synthetic_share": list(table["synth_prop"]),
                "gap": list(table["gap"]),
                "real_counts": list(table["real_counts"]),
                "synthetic_counts": list(table["synth_counts"]),
                "status": m["status"],
            }
        )
    subgroup_metrics = [
        {
            "attribute": name,
            "category": row["category"],
            "n": row["n"],
            "copy_rate": row["copy_rate"],
            "coverage": row["coverage"],
        }
        for name, g in (gaps or {}).items()
        for row in g["per_group"]
    ]
    return {"attributes": attributes, "subgroup_metrics": subgroup_metrics}


def _thresholds(p: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        "tvd": {"warn": p["tvd_warn"], "fail": p["tvd_fail"], "direction": "above"},
        "abs_log_disparity": {"warn": p["log_disparity_warn"], "fail": None, "direction": "above"},
        "missing_category_real_share": {"warn": None, "fail": p["missing_share"], "direction": "above"},
        "cramers_v": {"warn": p["cramers_v_warn"], "fail": None, "direction": "above"},
        "age_w1_years": {"warn": p["age_w1_warn"], "fail": p["age_w1_fail"], "direction": "above"},
        "subgroup_copy_rate_ratio": {"warn": p["copy_rate_ratio_warn"], "fail": None, "direction": "above"},
        "subgroup_copy_rate_min": {"warn": p["copy_rate_min"], "fail": None, "direction": "above"},
        "subgroup_coverage_gap": {"warn": p["coverage_gap_warn"], "fail": None, "direction": "above"},
        "min_group_n": {"warn": p["min_group_n"], "fail": None, "direction": "below"},
    }


def _summary(
    status: Status,
    computed: Mapping[str, dict[str, Any]],
    gaps: Mapping[str, dict[str, Any]] | None,
    n_synth: int,
    n_real: int,
) -> str:
    parts = []
    ok = []
    for name, m in computed.items():
        if m["status"] == str(Status.PASS):
            ok.append(name)
            continue
        verb = "fails" if m["status"] == str(Status.FAIL) else "warns"
        if m["kind"] == "continuous":
            detail = f"W1 {m['w1']:.1f} years"
        else:
            detail = f"TVD {_fmt(m['tvd'])}"
            if m["missing_in_synth"]:
                detail += f", missing {', '.join(m['missing_in_synth'][:3])}"
        parts.append(f"{name} {verb} ({detail})")
    for name, g in (gaps or {}).items():
        if g["status"] == str(Status.WARN):
            parts.append(f"{name} subgroup gap ({g['reasons'][0]})")
    plural = "s" if len(computed) != 1 else ""
    head = f"Subgroup make-up of {n_synth:,} synthetic vs {n_real:,} real images over {len(computed)} attribute{plural}"
    if not parts:
        return f"{head}: all within thresholds ({', '.join(ok)})."
    tail = f"; {', '.join(ok)} within thresholds" if ok else ""
    return f"{head}: {'; '.join(parts)}{tail}."
