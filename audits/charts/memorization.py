"""Charts of the memorization audit: NCC* and distance-ratio histograms against the baseline."""

from __future__ import annotations

from typing import Any

from audits.charts.common import FAIL, REAL, SYNTHETIC, WARN, Chart, _histogram, _number, _numbers, format_value


def _memorization(charts: dict[str, Any], result: dict[str, Any]) -> list[Chart]:
    out = []
    threshold = _number(charts.get("threshold"))
    baseline = (result.get("metrics") or {}).get("baseline")
    baseline_name = "held-out real vs reference" if baseline == "holdout" else "real vs real (baseline)"
    sampled = " Large sets are shown as a seeded random sample." if charts.get("sampled") else ""
    if "synthetic_scores" in charts:
        lines = [(threshold, FAIL, f"copy threshold {format_value(threshold)}")] if threshold is not None else []
        figure = _histogram(
            [
                ("synthetic vs reference", SYNTHETIC, _numbers(charts["synthetic_scores"])),
                (baseline_name, REAL, _numbers(charts.get("baseline_scores", []))),
            ],
            lines=lines,
            x_title="NCC* to the closest real image (1 = identical up to a small shift)",
        )
        if figure is not None:
            out.append(
                Chart(
                    "memorization-ncc",
                    "Similarity of each synthetic image to its closest real image",
                    "A synthetic image at or right of the dashed line is a probable copy. The blue bars are"
                    " the same score for real images that were not copied: the baseline." + sampled,
                    figure,
                )
            )
    if "synthetic_ratios" in charts:
        near = _number(charts.get("near_copy_ratio"))
        lines = [(near, WARN, f"near copy below {format_value(near)}")] if near is not None else []
        figure = _histogram(
            [
                ("synthetic vs reference", SYNTHETIC, _numbers(charts["synthetic_ratios"])),
                (baseline_name, REAL, _numbers(charts.get("baseline_ratios", []))),
            ],
            lines=lines,
            x_title="distance to the closest real image ÷ median real-vs-real distance",
        )
        if figure is not None:
            out.append(
                Chart(
                    "memorization-ratio",
                    "Distance to the closest real image, relative to the baseline",
                    "Ratios far below 1 mean a synthetic image is closer to a training image than real"
                    " images are to each other." + sampled,
                    figure,
                )
            )
    return out
