"""Continuous age: recognising an age column, reading ages, age bands, W1 and KS D (A8)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from audits.engine.representation.categorical import compare_categorical
from audits.engine.representation.common import _above, _pct, name_tokens, resolve_params
from audits.engine.types import Status

AGE_BANDS: tuple[tuple[str, float], ...] = (
    ("<18", 18.0),
    ("18-39", 40.0),
    ("40-59", 60.0),
    ("60-79", 80.0),
    ("80+", math.inf),
)


_BAND_TOKENS = frozenset({"group", "groups", "band", "bands", "bin", "bins", "range", "bracket", "category", "class"})


# DICOM AS ("045Y"), and the same figure with a unit word ("45 years", "6 mo", "10 wks", "45 y.o.").
_AGE = re.compile(
    r"^(?P<number>\d{1,4}(?:[.,]\d+)?)\s*(?P<unit>y|yr|yrs|year|years|y\.o\.|yo|m|mo|mos|month|months|"
    r"w|wk|wks|week|weeks|d|day|days)?\.?(?:\s*old)?$",
    re.IGNORECASE,
)


_AGE_UNITS_PER_YEAR = {"y": 1.0, "m": 12.0, "w": 365.25 / 7.0, "d": 365.25}


def is_age_attribute(name: str) -> bool:
    """age, Age, age_years, patient_age, PatientAge; not age_group, age_band, image, stage."""
    tokens = set(name_tokens(name))
    return "age" in tokens and not tokens & _BAND_TOKENS


def parse_age(value: str) -> float | None:
    """Age in years from "45", "45.5", DICOM AS ("045Y", "006M", "010W", "003D") or the same
    with a unit word ("45 years", "6 months", "45 y.o."); None for anything else or above 150.

    A bare number is years; M is months, as in DICOM (write "45" or "45Y" for years).
    """
    match = _AGE.match(" ".join(value.split()))
    if match is None:
        return None
    number = float(match.group("number").replace(",", "."))
    unit = (match.group("unit") or "y").lower()[0]
    years = number / _AGE_UNITS_PER_YEAR[unit]
    if not math.isfinite(years) or years > 150:
        return None
    return years


def age_band(years: float) -> str:
    for label, upper in AGE_BANDS:
        if years < upper:
            return label
    return AGE_BANDS[-1][0]


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
