"""The result's flagged items, charts, thresholds and summary sentence."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from audits.engine.representation.common import _above, _at_least, _fmt, _pct
from audits.engine.types import SEVERITY, Status


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
        if not m.get("too_small"):
            flagged += _category_flags(name, m, status, p)
    for name, g in (gaps or {}).items():
        if g["status"] == str(Status.WARN):
            group = {row["category"]: row for row in g["per_group"]}
            copied = list(g.get("groups_copied_more", []))
            for reason in g["reasons"]:
                category = copied.pop(0) if reason.startswith("copy") and copied else g["coverage_worst_group"]
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
                        "p_value_corrected": row.get("p_value_adjusted"),
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
    small = set(table.get("too_small_categories", []))
    rows = [row for row in rows if row[0] not in small]
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
                "too_small": bool(m.get("too_small")),
                "too_small_categories": list(table.get("too_small_categories", [])),
            }
        )
    subgroup_metrics = [
        {
            "attribute": name,
            "category": row["category"],
            "n": row["n"],
            "n_copies": row["n_copies"],
            "copy_rate": row["copy_rate"],
            "rate_ratio": row["rate_ratio"],
            "p_value_corrected": row.get("p_value_adjusted"),
            "coverage": row["coverage"],
            "judged": "yes" if row["sufficient_n"] else "too small to judge",
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
        "subgroup_copy_rate_alpha": {"warn": p["copy_rate_alpha"], "fail": None, "direction": "below"},
        "min_group_n": {"warn": p["min_group_n"], "fail": None, "direction": "below"},
        "min_category_n": {"warn": p["min_category_n"], "fail": None, "direction": "below"},
        "missing_values_share": {"warn": p["missing_values_warn"], "fail": None, "direction": "above"},
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
    small = []
    for name, m in computed.items():
        if m["status"] == str(Status.PASS):
            ok.append(name)
            continue
        if m["status"] == str(Status.NOT_COMPUTABLE):
            small.append(name)
            continue
        verb = "fails" if m["status"] == str(Status.FAIL) else "warns"
        if m.get("too_small"):
            detail = m["reasons"][-1]
        elif m["kind"] == "continuous":
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
    small_tail = f"; {', '.join(small)} too small to judge" if small else ""
    if not parts:
        if not ok:
            return f"{head}: all too small to judge ({', '.join(small)})."
        judged = "all judged attributes" if small else "all"
        return f"{head}: {judged} within thresholds ({', '.join(ok)}){small_tail}."
    tail = f"; {', '.join(ok)} within thresholds" if ok else ""
    return f"{head}: {'; '.join(parts)}{tail}{small_tail}."
