"""Per-subgroup metric gaps (A9): copy rates and coverage per category, and their status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from scipy import stats

from audits.engine.representation.common import _above, _at_least, _num, _pct
from audits.engine.representation.sides import _Side
from audits.engine.types import Status


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
        n_copies_all = sum(flag for _, flag in verdicts)
        for category in table["categories"]:
            n = n_seen[category] if n_verdicts else synth_n[category]
            rated = bool(n_verdicts) and n >= min_n
            cov = coverage.get(category)
            cov_ok = cov is not None and synth_n[category] >= min_n and real_n[category] >= min_n
            small = (bool(n_verdicts) and n < min_n) or (
                category in coverage and (synth_n[category] < min_n or real_n[category] < min_n)
            )
            if small:
                insufficient.append(category)
            test = _copy_test(n_copy[category], n, n_copies_all, n_verdicts) if rated else None
            groups.append(
                {
                    "category": category,
                    "n": n,
                    "n_copies": n_copy[category] if n_verdicts else None,
                    "copy_rate": n_copy[category] / n if n_verdicts and n else None,
                    "rest_copy_rate": test[0] if test else None,
                    "rate_ratio": test[1] if test else None,
                    "p_value": test[2] if test else None,
                    "coverage": cov if cov_ok else None,
                    "n_real": real_n[category],
                    "n_synthetic": synth_n[category],
                    "sufficient_n": not small,
                }
            )
        rated_groups = [g for g in groups if g["p_value"] is not None]
        for g in rated_groups:  # Bonferroni over the groups tested for this attribute
            g["p_value_adjusted"] = min(1.0, g["p_value"] * len(rated_groups))
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


def _copy_test(k: int, n: int, k_all: int, n_all: int) -> tuple[float | None, float | None, float] | None:
    """(copy rate of the other images, rate ratio, one-sided p) of a group's copies against the rest.

    Fisher's exact test on [[k, n - k], [K - k, (N - n) - (K - k)]], alternative "greater": is
    this group copied more often than the other synthetic images with a verdict? None when
    the group is every image (there is no rest to compare with).
    """
    rest_n = n_all - n
    if rest_n <= 0 or n <= 0:
        return None
    rest_k = k_all - k
    table = [[k, n - k], [rest_k, rest_n - rest_k]]
    p_value = float(stats.fisher_exact(table, alternative="greater").pvalue)
    rest_rate = rest_k / rest_n
    ratio = (k / n) / rest_rate if rest_rate > 0 else None
    return rest_rate, ratio, p_value


def _gap_status(groups: list[dict[str, Any]], overall: float | None, p: Mapping[str, Any]) -> dict[str, Any]:
    """Warn for each judged group copied significantly more than the rest, by a margin that matters.

    A group warns when it has >= min_group_n images with a verdict, its copy rate is at least
    copy_rate_min and above copy_rate_ratio_warn x the overall rate, and Fisher's one-sided
    p-value, Bonferroni-corrected over the attribute's groups, is below copy_rate_alpha.
    """
    reasons: list[str] = []
    rated = [g for g in groups if g["p_value"] is not None and g["copy_rate"] is not None]
    worst_group = max(rated, key=lambda g: g["copy_rate"]) if rated else None
    entry: dict[str, Any] = {
        "worst_group": worst_group["category"] if worst_group else None,
        "worst_copy_rate": worst_group["copy_rate"] if worst_group else None,
        "copy_rate_gap": None,
        "copy_rate_ratio": None,
        "copy_rate_range": None,
        "groups_copied_more": [],
        "coverage_best_group": None,
        "coverage_worst_group": None,
        "coverage_gap": None,
    }
    if worst_group is not None and overall is not None:
        rate = worst_group["copy_rate"]
        entry["copy_rate_gap"] = rate - overall
        entry["copy_rate_ratio"] = rate / overall if overall > 0 else None
        entry["copy_rate_range"] = rate - min(g["copy_rate"] for g in rated)
        for g in sorted(rated, key=lambda g: -g["copy_rate"]):
            if (
                overall > 0
                and _above(g["copy_rate"], p["copy_rate_ratio_warn"] * overall)
                and _at_least(g["copy_rate"], p["copy_rate_min"])
                and g["p_value_adjusted"] < p["copy_rate_alpha"]
            ):
                entry["groups_copied_more"].append(g["category"])
                reasons.append(
                    f"copy rate {_pct(g['copy_rate'])} in {g['category']} ({g['n_copies']} of {g['n']}) "
                    f"vs {_pct(overall)} overall, Fisher p = {g['p_value_adjusted']:.2g} (corrected)"
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
