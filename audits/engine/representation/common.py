"""Parameters and small helpers of the representation audit: value cleaning, name tokens,
rounded threshold comparisons and the way shares and figures are written."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

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


# Comparisons against thresholds use values rounded to this many decimals, so that a share
# difference of exactly 0.10 computed as 0.09999999999999998 counts as 0.10.
_DECIMALS = 10


_ID_TOKENS = frozenset({"id", "uid", "file", "filename", "filepath", "path", "seed", "hash", "md5", "sha256"})


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
    if percent >= 10:
        return f"{percent:.0f} %"
    if percent >= 1:
        return f"{percent:.1f} %"
    return f"{percent:.2g} %"


def _fmt(value: float) -> str:
    return f"{value:.2f}"
