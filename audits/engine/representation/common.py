"""Parameters and small helpers of the representation audit: value cleaning, name tokens,
rounded threshold comparisons and the way shares and figures are written."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from audits.engine.schema import Setting, check_thresholds

AUDIT = "representation"

DEFAULT_PARAMS: dict[str, float | int] = {
    "tvd_warn": 0.05,
    "tvd_fail": 0.10,
    "log_disparity_warn": math.log(2),
    "missing_share": 0.05,
    "cramers_v_warn": 0.1,
    "age_w1_warn": 5,
    "age_w1_fail": 10,
    "min_category_n": 10,
    "missing_values_warn": 0.10,
    "min_group_n": 30,
    "copy_rate_ratio_warn": 2.0,
    "copy_rate_min": 0.01,
    "copy_rate_alpha": 0.01,
    "coverage_gap_warn": 0.2,
    "max_categories": 50,
}

THRESHOLDS: dict[str, Setting] = {
    "tvd_warn": Setting(
        "Share difference that warns (TVD)",
        "float",
        0.0,
        1.0,
        help="Total variation distance between the real and synthetic subgroup shares at which an attribute warns.",
    ),
    "tvd_fail": Setting(
        "Share difference that fails (TVD)",
        "float",
        0.0,
        1.0,
        help="Total variation distance above which an attribute fails; at least the warn value.",
    ),
    "log_disparity_warn": Setting(
        "Over- or under-representation that warns (log ratio)",
        "float",
        0.0,
        10.0,
        help="A subgroup whose synthetic/real share ratio is beyond exp(this) either way warns (0.69 is 2x).",
    ),
    "missing_share": Setting(
        "Real share of a subgroup absent from the synthetic set that fails",
        "float",
        0.0,
        1.0,
        help="A subgroup holding at least this share of the real images and no synthetic image fails.",
    ),
    "cramers_v_warn": Setting(
        "Association (Cramer's V) that warns",
        "float",
        0.0,
        1.0,
        help="Cramer's V between set and subgroup above which an attribute warns.",
    ),
    "age_w1_warn": Setting(
        "Age distribution shift that warns",
        "float",
        0.0,
        150.0,
        unit="years",
        help="Wasserstein-1 distance between the real and synthetic ages above which age warns.",
    ),
    "age_w1_fail": Setting(
        "Age distribution shift that fails",
        "float",
        0.0,
        150.0,
        unit="years",
        help="Wasserstein-1 distance above which age fails; at least the warn value.",
    ),
    "min_category_n": Setting(
        "Smallest subgroup whose share is judged",
        "int",
        1,
        100_000,
        unit="images",
        help="A subgroup with fewer images than this in both sets is too small to judge: its gap neither "
        "passes nor fails; an attribute with fewer images than this on either side is too small to judge.",
    ),
    "missing_values_warn": Setting(
        "Share of images without a value that warns",
        "float",
        0.0,
        1.0,
        help="An attribute whose value is missing for more than this share of the images of either set warns.",
    ),
    "min_group_n": Setting(
        "Smallest subgroup whose copy rate or coverage is judged",
        "int",
        1,
        100_000,
        unit="images",
        help="Subgroups with fewer synthetic images than this are too small to judge for copy rate and coverage.",
    ),
    "copy_rate_ratio_warn": Setting(
        "Subgroup copy rate, as a multiple of the overall rate, that warns",
        "float",
        1.0,
        1000.0,
        help="A subgroup whose copy rate is this many times the overall rate (and significantly above "
        "the other images) warns.",
    ),
    "copy_rate_min": Setting(
        "Smallest subgroup copy rate that can warn",
        "float",
        0.0,
        1.0,
        help="A subgroup copy rate below this share never warns, whatever the ratio.",
    ),
    "copy_rate_alpha": Setting(
        "Significance level of the subgroup copy-rate test",
        "float",
        1e-9,
        0.5,
        help="Fisher's exact test of a subgroup's copies against the other images, Bonferroni-corrected "
        "over the subgroups of an attribute; lower asks for stronger evidence.",
    ),
    "coverage_gap_warn": Setting(
        "Coverage gap between subgroups that warns",
        "float",
        0.0,
        1.0,
        help="Warn when the worst subgroup's coverage is this much below the best one's.",
    ),
}

METRIC_LABELS: dict[str, str] = {
    "attributes": "per attribute",
    "status_by_attribute": "verdict per attribute",
    "max_tvd": "largest share difference (TVD) of an attribute",
    "max_tvd_attribute": "attribute with the largest share difference",
    "subgroup_gaps": "copy rate and coverage per subgroup",
    "n_attributes": "attributes compared",
    "n_attributes_computed": "attributes with values in both sets",
    "n_attributes_too_small": "attributes with too few images to judge",
    "n_flagged_total": "flagged items",
    "tvd": "share difference between real and synthetic subgroups (TVD)",
    "abs_log_disparity": "over- or under-representation of a subgroup (absolute log share ratio)",
    "missing_category_real_share": "real share of a subgroup with no synthetic image",
    "cramers_v": "association between set and subgroup (Cramer's V)",
    "age_w1_years": "shift of the age distribution (Wasserstein-1, years)",
    "min_category_n": "smallest subgroup whose share is judged",
    "missing_values_share": "share of images without a value",
    "min_group_n": "smallest subgroup whose copy rate or coverage is judged",
    "subgroup_copy_rate_ratio": "subgroup copy rate as a multiple of the overall rate",
    "subgroup_copy_rate_min": "smallest subgroup copy rate that can warn",
    "subgroup_copy_rate_alpha": "significance level of the subgroup copy-rate test",
    "subgroup_coverage_gap": "coverage gap between subgroups",
}


# Comparisons against thresholds use values rounded to this many decimals, so that a share
# difference of exactly 0.10 computed as 0.09999999999999998 counts as 0.10.
_DECIMALS = 10


_ID_TOKENS = frozenset({"id", "uid", "file", "filename", "filepath", "path", "seed", "hash", "md5", "sha256"})


def resolve_params(params: Mapping[str, Any] | None) -> tuple[dict[str, float | int], list[str]]:
    """The effective parameters (defaults overridden by `params`) and caveats for unknown keys.

    Thresholds are checked by `schema.check_thresholds` (the form's own check); the compute
    setting max_categories must be a positive whole number. Raises ValueError for a bad value,
    or warn thresholds above fail ones.
    """
    given = dict(params or {})
    caveats = [f"Unknown parameter {key!r} ignored." for key in given if key not in DEFAULT_PARAMS]
    given = {key: value for key, value in given.items() if key in DEFAULT_PARAMS}
    effective: dict[str, float | int] = {**DEFAULT_PARAMS, **check_thresholds(AUDIT, THRESHOLDS, given)}
    categories = effective["max_categories"]
    if isinstance(categories, bool) or not isinstance(categories, int | float) or int(categories) != categories:
        raise ValueError(f"{AUDIT}: parameter 'max_categories' must be a positive whole number, got {categories!r}")
    if categories < 1:
        raise ValueError(f"{AUDIT}: parameter 'max_categories' must be a positive whole number, got {categories!r}")
    effective["max_categories"] = int(categories)
    if effective["tvd_warn"] > effective["tvd_fail"]:
        raise ValueError(f"{AUDIT}: tvd_warn (the TVD that warns) must not exceed tvd_fail (the TVD that fails)")
    if effective["age_w1_warn"] > effective["age_w1_fail"]:
        raise ValueError(f"{AUDIT}: age_w1_warn must not exceed age_w1_fail")
    return effective, caveats


def name_tokens(name: str) -> list[str]:
    """Lower-case word tokens of a column name: "PatientAge" -> ["patient", "age"]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    return [token for token in re.split(r"[^a-z0-9]+", spaced.lower()) if token]


def is_identifier_attribute(name: str) -> bool:
    """Columns that name a file, patient, UID or seed rather than a subgroup."""
    return bool(set(name_tokens(name)) & _ID_TOKENS)


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
    if 99 < percent < 100:  # 199 of 200 is not "100 %"
        return f"{percent:.1f} %"
    if percent >= 10:
        return f"{percent:.0f} %"
    if percent >= 1:
        return f"{percent:.1f} %"
    return f"{percent:.2g} %"


def _fmt(value: float) -> str:
    return f"{value:.2f}"
