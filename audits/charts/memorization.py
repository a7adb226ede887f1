"""Charts of the memorization audit: NCC* and distance-ratio histograms against the baseline."""

from __future__ import annotations

from typing import Any

import numpy as np

from audits.charts.common import FAIL, REAL, SYNTHETIC, WARN, Chart, _histogram, _number, _numbers, format_value


def _add_null(figure: dict[str, Any], charts: dict[str, Any]) -> None:
    """The fitted null density (as a share per bin, like the bars) and the flagged images as markers."""
    bars = [trace for trace in figure["data"] if trace.get("type") == "bar"]
    found = charts.get("null_curve")
    curve: dict[str, Any] = found if isinstance(found, dict) else {}
    xs, cdf = _numbers(curve.get("x", [])), _numbers(curve.get("cdf", []))
    if bars and xs and len(xs) == len(cdf) and None not in xs and None not in cdf:
        # the expected share of real images in a bar as wide as the histogram's, centred on x:
        # on the bars' own scale, however narrow the null is
        half = float(bars[0].get("width") or 0.0) / 2
        grid, cumulative = np.asarray(xs, dtype=float), np.asarray(cdf, dtype=float)
        shares = np.interp(grid + half, grid, cumulative) - np.interp(grid - half, grid, cumulative)
        figure["data"].append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "null fitted to the real images",
                "x": xs,
                "y": [round(float(v), 6) for v in shares],
                "line": {"color": REAL, "width": 2},
                "hoverinfo": "skip",
            }
        )
    points = [point for point in charts.get("flagged_points") or [] if isinstance(point, dict)]
    if points:
        figure["data"].append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"flagged synthetic images ({len(points)})",
                "x": _numbers([point.get("ncc") for point in points]),
                "y": [0] * len(points),
                "text": [f"{point.get('label', '')}<br>p = {point.get('p_value', '')}" for point in points],
                "marker": {"symbol": "diamond", "size": 10, "color": FAIL, "line": {"color": "#fff", "width": 1}},
                "hovertemplate": "%{text}<br>similarity %{x:.4f}<extra></extra>",
                "cliponaxis": False,
            }
        )


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
            x_title="similarity of anatomical detail to the closest training image, after alignment (1 = identical)",
        )
        if figure is not None:
            _add_null(figure, charts)
            out.append(
                Chart(
                    "memorization-ncc",
                    "Similarity of each synthetic image to its closest real image, against the null",
                    "The blue bars are real images never trained on, compared with the training set by the same"
                    " search (flips, rotations, crops): the null. The blue line is the null fitted to them, with its"
                    " uncertainty for the size of the baseline; the dashed line is the copy threshold it sets. Red"
                    " diamonds are the flagged synthetic images, each with its p-value (how often a real image"
                    " never trained on comes that close)." + sampled,
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
