"""A categorical attribute (A8): shares, TVD, chi-square, Cramer's V, log-disparity and status."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from scipy import stats

from audits.engine.representation.common import _above, _at_least, _fmt, _natural_key, _pct, resolve_params
from audits.engine.types import Status


def compare_categorical(
    real_counts: Mapping[str, int],
    synth_counts: Mapping[str, int],
    params: Mapping[str, Any] | None = None,
    order: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Shares, TVD, chi-square, Cramer's V and log-disparity of one attribute, with its status.

    `real_counts` / `synth_counts` map category -> number of images (missing values excluded).
    Both must hold at least one image. Categories with zero images in both sets are dropped.
    A category with fewer than min_category_n images in both sets is too small to judge: it
    counts in the shares and the TVD, but its own gap (missing, log-disparity) raises nothing.
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
    min_n = int(p["min_category_n"])
    too_small = [c for c, k_r, k_s in zip(categories, real, synth, strict=True) if max(k_r, k_s) < min_n]
    missing_share = float(p["missing_share"])
    absent_in_synth = [c for c, k_r, k_s in zip(categories, real, synth, strict=True) if k_r > 0 and k_s == 0]
    missing_in_synth = [
        c
        for c, share, k_s in zip(categories, real_prop.tolist(), synth, strict=True)
        if k_s == 0 and _at_least(share, missing_share) and c not in too_small
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
        "too_small_categories": too_small,
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
        if d is not None and _above(abs(d), p["log_disparity_warn"]) and c not in m["too_small_categories"]
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
