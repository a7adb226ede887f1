"""The warn and fail rules: the thresholds as reported, and the verdict they give on the metrics."""

from __future__ import annotations

from typing import Any

from audits.engine.types import Status


def thresholds_of(params: dict[str, Any], units: str | None = None) -> dict[str, dict[str, Any]]:
    """The rules as reported; the HU rule only when the intensities were compared in HU (`units`)."""
    rules: dict[str, dict[str, Any]] = {
        "w1_ratio": {
            "warn": params["w1_ratio_warn"],
            "fail": params["w1_ratio_fail"],
            "direction": "above",
            "only_when": {"w1_null_p_value_below": params["w1_significance"]},
        },
    }
    if units == "HU":
        rules["w1_excess"] = {
            "warn": params["hu_w1_warn"],
            "fail": params["hu_w1_fail"],
            "direction": "above",
            "unit": "HU",
        }
    rules.update(
        {
            "fd_ratio": {
                "warn": params["fd_ratio_warn"],
                "fail": params["fd_ratio_fail"],
                "direction": "above",
                "warn_also_needs": {"fd": params["fd_warn_min"]},
            },
            "coverage": {"warn": params["coverage_warn"], "fail": params["coverage_fail"], "direction": "below"},
            "precision": {"warn": params["precision_warn"], "fail": params["precision_fail"], "direction": "below"},
        }
    )
    return rules


def _judge(metrics: dict[str, Any], p: dict[str, Any], caveats: list[str]) -> tuple[Status, str]:
    """Apply the warn and fail rules; a rule whose metric is missing is skipped (and said so)."""
    fails: list[str] = []
    warns: list[str] = []
    notes: list[str] = []

    def check(name: str, direction: str, warn: float | None, fail: float | None, label: str, unit: str = "") -> None:
        value = metrics.get(name)
        if value is None:
            return

        def beyond(limit: float | None) -> bool:
            return limit is not None and (value > limit if direction == "above" else value < limit)

        sign = ">" if direction == "above" else "<"
        if beyond(fail):
            fails.append(f"{label} {value:.3g}{unit} {sign} {fail:g}{unit}")
        elif beyond(warn) and (name != "fd_ratio" or _above(metrics.get("fd"), p["fd_warn_min"])):
            extra = f" with FD {metrics['fd']:.3g}" if name == "fd_ratio" else ""
            warns.append(f"{label} {value:.3g}{unit} {sign} {warn:g}{unit}{extra}")

    within_chance = _within_chance(metrics, p)
    if within_chance:
        notes.append(within_chance)
    else:
        check("w1_ratio", "above", p["w1_ratio_warn"], p["w1_ratio_fail"], "intensity W1 ratio")
    if metrics.get("units") == "HU":
        label = "intensity W1 beyond the real-vs-real one"
        check("w1_excess", "above", p["hu_w1_warn"], p["hu_w1_fail"], label, unit=" HU")
    check("fd_ratio", "above", p["fd_ratio_warn"], p["fd_ratio_fail"], "FD ratio")
    check("coverage", "below", p["coverage_warn"], p["coverage_fail"], "coverage")
    check("precision", "below", p["precision_warn"], p["precision_fail"], "precision")
    missing = [name for name in ("w1_ratio", "fd_ratio", "coverage", "precision") if metrics.get(name) is None]
    if missing:
        caveats.append(f"Rules on {', '.join(missing)} were not applied: the metric could not be computed.")
    key = ", ".join(
        f"{label} {metrics[name]:.3g}"
        for name, label in (
            ("w1_ratio", "W1 ratio"),
            ("fd_ratio", "FD ratio"),
            ("coverage", "coverage"),
            ("precision", "precision"),
        )
        if metrics.get(name) is not None
    )
    scale = _scale_words(metrics)
    if fails:
        return Status.FAIL, f"Synthetic images differ from the reference: {'; '.join(fails + warns)}{scale}."
    if warns:
        return Status.WARN, f"Synthetic images drift from the reference: {'; '.join(warns)}{scale}."
    detail = f" ({key})" if key else ""
    note = f"; {'; '.join(notes)}" if notes else ""
    return Status.PASS, f"Synthetic images are within the thresholds against the reference{detail}{note}{scale}."


def _within_chance(metrics: dict[str, Any], p: dict[str, Any]) -> str:
    """Why the W1 ratio rule is not applied ("" when it is): the shift is one chance often gives."""
    p_value, level, ratio = metrics.get("w1_null_p_value"), p["w1_significance"], metrics.get("w1_ratio")
    if p_value is None or level is None or p_value < level:
        return ""
    limit = p["w1_ratio_warn"] if p["w1_ratio_warn"] is not None else p["w1_ratio_fail"]
    if ratio is None or limit is None or ratio <= limit:
        return ""
    return f"the intensity W1 ratio {ratio:.3g} is within chance (permutation p = {p_value:.2g}), so it was not judged"


def _scale_words(metrics: dict[str, Any]) -> str:
    """Which intensity scale the figures use, for the summary sentence."""
    if metrics.get("intensity_scale") == "quantitative":
        return f"; intensities compared as absolute values in {metrics.get('units')}"
    if metrics.get("intensity_scale") == "relative":
        return "; intensities compared on the relative scale (each image scaled by its own percentiles)"
    return ""


def _above(value: float | None, limit: float | None) -> bool:
    return limit is None or (value is not None and value > limit)
