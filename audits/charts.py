"""Plotly figures and tables of one audit result, as plain dicts for json_script.

The engine puts chart-ready arrays under AuditResult.charts (keys documented in each engine
module's docstring). Each builder here reads the keys it knows; a key that is missing or has
another shape means that chart is left out, never an error page. Histograms are binned here,
so a page carries a few hundred numbers, not the 20,000 scores a large set can have.
Non-finite numbers become None (JSON null), because JSON has no NaN.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

REAL = "#1c7ed6"
SYNTHETIC = "#e8590c"
PASS = "#2f9e44"  # noqa: S105 (a colour, not a password)
WARN = "#f59f00"
FAIL = "#e03131"
GREY = "#868e96"
STATUS_COLOURS = {"pass": PASS, "warn": WARN, "fail": FAIL, "not_computable": GREY}
HISTOGRAM_BINS = 50
MAX_CATEGORIES = 40  # bars per attribute chart; more would be unreadable
MAX_ATTRIBUTE_CHARTS = 12
MAX_LIST = 200  # file names listed on a page


@dataclass
class Chart:
    key: str  # unique on the page: the json_script id is "chart-<key>"
    title: str
    caption: str
    figure: dict[str, Any]
    wide: bool = True  # False: half the page width, beside its neighbour

    @property
    def element_id(self) -> str:
        return f"chart-{self.key}"


class ChartDataError(ValueError):
    """The chart data is not in the documented shape: the chart is left out."""


# --------------------------------------------------------------------------- helpers


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _numbers(value: Any) -> list[float | None]:
    if not isinstance(value, list):
        raise ChartDataError(f"expected a list of numbers, got {type(value).__name__}")
    return [_number(v) for v in value]


def _finite(values: Iterable[float | None]) -> np.ndarray:
    return np.array([v for v in values if v is not None], dtype=np.float64)


def _rows(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ChartDataError("expected a list of rows")
    return [row for row in value if isinstance(row, dict)]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _layout(**extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "height": 340,
        "margin": {"l": 60, "r": 20, "t": 20, "b": 60},
        "font": {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 13},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "legend": {"orientation": "h", "x": 0, "y": 1.12},
        "xaxis": {"gridcolor": "#e9ecef", "zeroline": False, "automargin": True},
        "yaxis": {"gridcolor": "#e9ecef", "zeroline": False, "automargin": True},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _vertical_line(x: float, colour: str, label: str, *, right: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """A dashed line across the plot, labelled inside its top edge on the side with more room."""
    shape = {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": x,
        "x1": x,
        "y0": 0,
        "y1": 1,
        "line": {"color": colour, "width": 2, "dash": "dash"},
    }
    note = {
        "x": x,
        "xref": "x",
        "y": 1,
        "yref": "paper",
        "text": label,
        "showarrow": False,
        "xanchor": "right" if right else "left",
        "xshift": -4 if right else 4,
        "yanchor": "top",
        "bgcolor": "rgba(255,255,255,0.85)",
        "font": {"color": colour, "size": 12},
    }
    return shape, note


def _histogram(
    series: list[tuple[str, str, list[float | None]]], *, lines: list[tuple[float, str, str]], x_title: str
) -> dict[str, Any] | None:
    """Overlaid share-per-bin bars of several samples on common bins, with vertical marker lines."""
    samples = [(name, colour, _finite(values)) for name, colour, values in series]
    samples = [(name, colour, values) for name, colour, values in samples if values.size]
    if not samples:
        return None
    everything = np.concatenate([values for _, _, values in samples] + [np.array([x for x, _, _ in lines])])
    low, high = float(everything.min()), float(everything.max())
    if high <= low:
        low, high = low - 0.5, high + 0.5
    # Fewer, wider bins for small samples, so that seven images do not make seven needles.
    largest = max(values.size for _, _, values in samples)
    edges = np.linspace(low, high, int(min(HISTOGRAM_BINS, max(10, 2 * math.sqrt(largest)))) + 1)
    centres = ((edges[:-1] + edges[1:]) / 2).round(6).tolist()
    width = float(edges[1] - edges[0])
    data = []
    for name, colour, values in samples:
        counts, _ = np.histogram(values, bins=edges)
        data.append(
            {
                "type": "bar",
                "name": f"{name} (n = {values.size:,})",
                "x": centres,
                "y": (counts / values.size).round(6).tolist(),
                "width": width,
                "marker": {"color": colour},
                "opacity": 0.6,
                "hovertemplate": "%{x:.4f}: %{y:.1%}<extra>" + name + "</extra>",
            }
        )
    shapes, notes = [], []
    for x, colour, label in lines:
        shape, note = _vertical_line(x, colour, label, right=x > (low + high) / 2)
        shapes.append(shape)
        notes.append(note)
    layout = _layout(
        barmode="overlay",
        bargap=0,
        shapes=shapes,
        annotations=notes,
        xaxis={"title": {"text": x_title}},
        yaxis={"title": {"text": "share of images"}, "tickformat": ".0%"},
    )
    return {"data": data, "layout": layout}


# --------------------------------------------------------------------------- per audit


def _disclosure(charts: dict[str, Any], result: dict[str, Any]) -> list[Chart]:
    rows = _rows(charts["by_format"])
    if not rows:
        return []
    formats = [_text(row.get("format")).upper() or "?" for row in rows]
    data = [
        {
            "type": "bar",
            "name": label,
            "x": formats,
            "y": [_number(row.get(key)) or 0 for row in rows],
            "marker": {"color": colour},
            "hovertemplate": "%{x}: %{y} files<extra>" + label + "</extra>",
        }
        for key, label, colour in (
            ("marked", "machine-readably marked", PASS),
            ("text_only", "free text only", WARN),
            ("unmarked", "not marked", FAIL),
        )
    ]
    layout = _layout(barmode="stack", yaxis={"title": {"text": "files"}}, legend={"traceorder": "normal"})
    figure = {"data": data, "layout": layout}
    return [
        Chart(
            "disclosure-by-format",
            "Synthetic files marked as synthetic, by format",
            "A DICOM file counts as marked with Synthetic Data (0008,001C) = YES; a PNG with the IPTC"
            " DigitalSourceType in its XMP; a NIfTI with a JSON flag in a header extension or sidecar.",
            figure,
        )
    ]


def _privacy(charts: dict[str, Any], result: dict[str, Any]) -> list[Chart]:
    rows = _rows(charts["by_attribute"])
    if not rows:
        return []
    attributes = [_text(row.get("attribute")) for row in rows]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": label,
            "y": attributes,
            "x": [_number(row.get(key)) or 0 for row in rows],
            "marker": {"color": colour},
            "hovertemplate": "%{y}: %{x} files<extra>" + label + "</extra>",
        }
        for key, label, colour in (
            ("present", "present in synthetic files", WARN),
            ("shared_with_reference", "shared with a real file", FAIL),
        )
    ]
    layout = _layout(
        barmode="group",
        height=max(220, 34 * len(rows) + 110),
        xaxis={"title": {"text": "synthetic files"}, "rangemode": "tozero"},
        yaxis={"autorange": "reversed", "type": "category"},
        legend={"traceorder": "normal"},
    )
    figure = {"data": data, "layout": layout}
    return [
        Chart(
            "privacy-by-attribute",
            "Identifying attributes in the synthetic files",
            "How many synthetic files carry each identifying attribute, and how many carry a value that"
            " also occurs in a real (reference) file. The values themselves are never shown.",
            figure,
        )
    ]


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


# Fidelity's metric codes (fidelity.py) in words; an unknown code is shown as it is.
FIDELITY_LABELS = {
    "w1_hist": "intensity W1",
    "ks_D": "intensity KS D",
    "per_image_mean_ks_D": "KS D, image means",
    "per_image_std_ks_D": "KS D, image spreads",
    "foreground_frac_ks_D": "KS D, foreground share",
    "fd": "Fréchet distance",
    "kid_mean": "KID",
}


def _forest(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One row per metric, each on its own scale: value with its interval, and the baseline."""
    rows = [row for row in rows if _number(row.get("value")) is not None or _number(row.get("baseline")) is not None]
    if not rows:
        return None
    data: list[dict[str, Any]] = []
    layout = _layout(height=max(160, 72 * len(rows) + 70), showlegend=True, margin={"l": 160, "t": 40, "b": 30})
    step = 1 / len(rows)
    for position, row in enumerate(rows):
        axis = "" if position == 0 else str(position + 1)
        name = FIDELITY_LABELS.get(_text(row.get("metric")), _text(row.get("metric")))
        value, low, high = (_number(row.get(key)) for key in ("value", "low", "high"))
        baseline = _number(row.get("baseline"))
        point: dict[str, Any] = {
            "type": "scatter",
            "mode": "markers",
            "name": "synthetic vs reference",
            "legendgroup": "value",
            "showlegend": position == 0,
            "x": [value],
            "y": [name],
            "xaxis": f"x{axis}",
            "yaxis": f"y{axis}",
            "marker": {"color": SYNTHETIC, "size": 11},
            "hovertemplate": name + ": %{x}<extra></extra>",
        }
        if value is not None and low is not None and high is not None:
            point["error_x"] = {
                "type": "data",
                "symmetric": False,
                "array": [max(high - value, 0)],
                "arrayminus": [max(value - low, 0)],
                "color": SYNTHETIC,
                "thickness": 2,
            }
        data.append(point)
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "real vs real (baseline)",
                "legendgroup": "baseline",
                "showlegend": position == 0,
                "x": [baseline],
                "y": [name],
                "xaxis": f"x{axis}",
                "yaxis": f"y{axis}",
                "marker": {"color": REAL, "size": 11, "symbol": "diamond-open", "line": {"width": 2}},
                "hovertemplate": name + " baseline: %{x}<extra></extra>",
            }
        )
        top = 1 - position * step
        reach = [v for v in (value, high, baseline) if v is not None]
        floor = min([0.0, *(v for v in (value, low, baseline) if v is not None)])
        span = (max(reach) if reach else 1.0) - floor or 1.0
        layout[f"yaxis{axis}"] = {
            "domain": [top - step * 0.8, top - step * 0.1],
            "anchor": f"x{axis}",
            "automargin": True,
        }
        layout[f"xaxis{axis}"] = {
            "anchor": f"y{axis}",
            "gridcolor": "#e9ecef",
            "zeroline": False,
            "nticks": 6,
            # Room on the right, so that a dot at the maximum is not cut in half by the edge.
            "range": [floor - 0.04 * span, floor + 1.12 * span],
        }
    return {"data": data, "layout": layout}


def _fidelity(charts: dict[str, Any], result: dict[str, Any]) -> list[Chart]:
    out = []
    if "metrics_table" in charts:
        figure = _forest(_rows(charts["metrics_table"]))
        if figure is not None:
            out.append(
                Chart(
                    "fidelity-metrics",
                    "Distribution distances and their real-vs-real baselines",
                    "Each row has its own scale. The dot is the synthetic-versus-reference figure (with its"
                    " bootstrap interval where there is one), the diamond the same figure between two halves"
                    " of the reference set. Features are the handcrafted rad-lite set: this is not FID.",
                    figure,
                )
            )
    if "intensity_bins" in charts:
        chart = _intensity(charts)
        if chart is not None:
            out.append(chart)
    if isinstance(charts.get("projection"), dict):
        chart = _projection(charts["projection"])
        if chart is not None:
            out.append(chart)
    return out


def _intensity(charts: dict[str, Any]) -> Chart | None:
    """Both sets' pixel-intensity shares as step lines; logarithmic when one bin dwarfs the rest."""
    bins = _numbers(charts["intensity_bins"])
    data, peaks = [], []
    for key, name, colour in (
        ("intensity_reference", "reference", REAL),
        ("intensity_synthetic", "synthetic", SYNTHETIC),
    ):
        values = _numbers(charts.get(key, []))
        if not values or len(values) != len(bins):
            continue
        shares = sorted((v for v in values if v), reverse=True)
        peaks.append(len(shares) > 1 and shares[0] > 5 * shares[1])
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hvh", "color": colour, "width": 2},
                "name": name,
                "x": bins,
                "y": values,
                "hovertemplate": "%{x:.2f}: %{y:.2%}<extra>" + name + "</extra>",
            }
        )
    if not data:
        return None
    caption = "All pixels of each set, after the per-image percentile clip and scaling to [0, 1]."
    yaxis: dict[str, Any] = {"title": {"text": "share of pixels"}, "tickformat": ".0%"}
    if any(peaks):
        # A dark background typically holds most pixels; a linear axis would show only that bar.
        yaxis.update(type="log", tickformat=".1~%")
        caption += " The vertical axis is logarithmic, because one intensity (often the background) holds most pixels."
    layout = _layout(xaxis={"title": {"text": "pixel intensity after preprocessing (0 to 1)"}}, yaxis=yaxis)
    return Chart("fidelity-intensity", "Pixel intensity distributions", caption, {"data": data, "layout": layout})


def _points(value: Any) -> tuple[list[float | None], list[float | None]]:
    if isinstance(value, dict):
        return _numbers(value.get("x", [])), _numbers(value.get("y", []))
    pairs = value if isinstance(value, list) else []
    xs, ys = [], []
    for pair in pairs:
        if isinstance(pair, list | tuple) and len(pair) >= 2:
            xs.append(_number(pair[0]))
            ys.append(_number(pair[1]))
    return xs, ys


def _projection(projection: dict[str, Any]) -> Chart | None:
    data = []
    for key, name, colour in (("reference", "reference", REAL), ("synthetic", "synthetic", SYNTHETIC)):
        xs, ys = _points(projection.get(key))
        if xs:
            data.append(
                {
                    "type": "scattergl" if len(xs) > 1500 else "scatter",
                    "mode": "markers",
                    "name": f"{name} (n = {len(xs):,})",
                    "x": xs,
                    "y": ys,
                    "marker": {"color": colour, "size": 7 if len(xs) < 500 else 4, "opacity": 0.6},
                    "hoverinfo": "skip",
                }
            )
    if not data:
        return None
    explained = [_number(v) for v in projection.get("explained_variance_ratio") or []]
    titles = ["component 1", "component 2"]
    for i, share in enumerate(explained[:2]):
        if share is not None:
            titles[i] += f" ({share:.0%} of variance)"
    layout = _layout(height=420, xaxis={"title": {"text": titles[0]}}, yaxis={"title": {"text": titles[1]}})
    method = _text(projection.get("method")) or "a 2-D projection"
    return Chart(
        "fidelity-projection",
        "Real and synthetic images in two dimensions",
        f"Each point is one image, placed by {method}. Synthetic points outside the real cloud are"
        " unlike any real image; real regions without synthetic points are not covered.",
        {"data": data, "layout": layout},
    )


def _shares(value: Any, categories: list[str]) -> list[float | None]:
    if isinstance(value, dict):
        return [_number(value.get(category)) for category in categories]
    return _numbers(value)


def _representation(charts: dict[str, Any], result: dict[str, Any]) -> list[Chart]:
    out = []
    gap_labels, gap_values, gap_colours = [], [], []
    per_attribute = _dict(_dict(result.get("metrics")).get("attributes"))
    for position, row in enumerate(_rows(charts["attributes"])[:MAX_ATTRIBUTE_CHARTS]):
        attribute = _text(row.get("attribute"))
        categories = [_text(c) for c in row.get("categories") or []][:MAX_CATEGORIES]
        if not categories:
            continue
        real = _shares(row.get("real_share"), categories)[: len(categories)]
        synthetic = _shares(row.get("synthetic_share"), categories)[: len(categories)]
        data = [
            {
                "type": "bar",
                "name": name,
                "x": categories,
                "y": values,
                "marker": {"color": colour},
                "hovertemplate": "%{x}: %{y:.1%}<extra>" + name + "</extra>",
            }
            for name, values, colour in (("real", real, REAL), ("synthetic", synthetic, SYNTHETIC))
        ]
        status = _text(row.get("status")).replace("_", " ") or "not given"
        figures = _dict(per_attribute.get(attribute))
        effect = [
            f"{label} {format_value(_number(figures.get(key)))}"
            for key, label in (("tvd", "total variation distance"), ("w1", "W1 (years)"))
            if _number(figures.get(key)) is not None
        ]
        layout = _layout(
            barmode="group",
            height=300,
            yaxis={"title": {"text": "share of images"}, "tickformat": ".0%"},
            xaxis={"type": "category"},
        )
        out.append(
            Chart(
                f"representation-{position}",
                f"{attribute}: shares of real and synthetic images",
                f"Status: {status}" + (f"; {', '.join(effect)}." if effect else "."),
                {"data": data, "layout": layout},
                wide=False,
            )
        )
        gaps = row.get("gap")
        if isinstance(gaps, list):
            for category, gap in zip(categories, _numbers(gaps), strict=False):
                if gap is not None:
                    gap_labels.append(f"{attribute}: {category}")
                    gap_values.append(gap)
                    gap_colours.append(SYNTHETIC if gap > 0 else REAL)
    if gap_values:
        figure = {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "x": gap_values,
                    "y": gap_labels,
                    "marker": {"color": gap_colours},
                    "hovertemplate": "%{y}: %{x:+.1%}<extra></extra>",
                    "showlegend": False,
                }
            ],
            "layout": _layout(
                height=max(200, 24 * len(gap_values) + 80),
                margin={"l": 180},
                xaxis={"title": {"text": "synthetic share minus real share"}, "tickformat": "+.0%", "zeroline": True},
                yaxis={"autorange": "reversed", "type": "category"},
            ),
        }
        out.insert(
            0,
            Chart(
                "representation-gaps",
                "Over- and under-represented subgroups",
                "Orange bars are subgroups with a larger share among the synthetic images than among the"
                " real ones; blue bars a smaller share.",
                figure,
            ),
        )
    return out


def _manifest(charts: dict[str, Any], result: dict[str, Any]) -> list[Chart]:
    out = []
    coverage = charts.get("coverage")
    if isinstance(coverage, dict):
        parts = [
            ("listed", "listed with generator, version and seed", PASS),
            ("incomplete", "listed, entry incomplete", WARN),
            ("unlisted", "not in the manifest", FAIL),
        ]
        values = [(label, _number(coverage.get(key)) or 0, colour) for key, label, colour in parts]
        values = [(f"{label} ({value:g})", value, colour) for label, value, colour in values]
        if any(value for _, value, _ in values):
            figure = {
                "data": [
                    {
                        "type": "pie",
                        "hole": 0.55,
                        "sort": False,
                        "labels": [label for label, _, _ in values],
                        "values": [value for _, value, _ in values],
                        "marker": {"colors": [colour for _, _, colour in values]},
                        "textinfo": "percent",
                        "textposition": "inside",
                        "insidetextorientation": "horizontal",
                        "hovertemplate": "%{label}: %{percent}<extra></extra>",
                    }
                ],
                "layout": _layout(
                    height=320, margin={"t": 10, "b": 10}, legend={"orientation": "h", "x": 0, "y": -0.05}
                ),
            }
            out.append(
                Chart(
                    "manifest-coverage",
                    "Synthetic files in the generation manifest",
                    "Every synthetic file should be listed with the generator, its version and the seed.",
                    figure,
                    wide=False,
                )
            )
    if "by_generator" in charts:
        rows = _rows(charts["by_generator"])
        if rows:
            labels = [
                " ".join(p for p in (_text(r.get("generator")), _text(r.get("version"))) if p) or "?" for r in rows
            ]
            figure = {
                "data": [
                    {
                        "type": "bar",
                        "x": labels,
                        "y": [_number(r.get("files")) or 0 for r in rows],
                        "marker": {"color": SYNTHETIC},
                        "hovertemplate": "%{x}: %{y} files<extra></extra>",
                    }
                ],
                "layout": _layout(height=300, yaxis={"title": {"text": "files"}}, xaxis={"type": "category"}),
            }
            out.append(Chart("manifest-generators", "Files per generator and version", "", figure, wide=False))
    return out


_BUILDERS: dict[str, Callable[[dict[str, Any], dict[str, Any]], list[Chart]]] = {
    "disclosure": _disclosure,
    "privacy": _privacy,
    "memorization": _memorization,
    "fidelity": _fidelity,
    "representation": _representation,
    "manifest": _manifest,
}


def figures(audit: str, result: dict[str, Any]) -> list[Chart]:
    """The charts of one audit result; none for a result that could not be computed."""
    charts = result.get("charts")
    if result.get("status") == "not_computable" or not isinstance(charts, dict) or audit not in _BUILDERS:
        return []
    try:
        return _BUILDERS[audit](charts, result)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        # A result written by another engine version: the page shows its tables without charts.
        log.warning("chart data of the %s audit not understood: %s", audit, exc)
        return []


# --------------------------------------------------------------------------- tables


def format_value(value: Any, *, limit: int = 8) -> str:
    """A metric value for people: numbers to 4 significant digits, short lists, '—' for nothing."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        if value != 0 and abs(value) < 0.001:
            return f"{value:.2e}"
        if abs(value) >= 1e6:
            return f"{value:,.0f}"
        # Four significant digits, more where they would round a fraction to a whole number
        # (an NCC of 0.99998 is not 1: that difference is the point of a copy threshold).
        for digits in (4, 5, 6):
            text = f"{value:,.{digits}g}"
            if value == round(value) or float(text.replace(",", "")) != round(value):
                return text
        return text
    if isinstance(value, list):
        shown = ", ".join(format_value(v) for v in value[:limit])
        return shown + (f" … ({len(value)} in all)" if len(value) > limit else "")
    if isinstance(value, dict):
        parts = [f"{k}: {format_value(v)}" for k, v in list(value.items())[:limit]]
        return "; ".join(parts) + (" …" if len(value) > limit else "")
    return str(value)


@dataclass
class MetricRow:
    name: str
    value: str
    warn: str
    fail: str
    direction: str


def _direction(text: Any) -> str:
    return {"above": "worse when higher", "below": "worse when lower"}.get(_text(text), _text(text))


def metric_rows(result: dict[str, Any]) -> tuple[list[MetricRow], list[tuple[str, str]]]:
    """(rows with a threshold first, then the other single values), (nested figures flattened)."""
    metrics, thresholds = _dict(result.get("metrics")), _dict(result.get("thresholds"))
    rows = []
    for name, rule in thresholds.items():
        rule = _dict(rule)
        value = format_value(metrics.get(name)) if name in metrics else "each item"
        warn, fail = (format_value(rule.get(key)) for key in ("warn", "fail"))
        rows.append(MetricRow(name, value, warn, fail, _direction(rule.get("direction"))))
    nested: list[tuple[str, str]] = []
    for name, value in metrics.items():
        if name in thresholds:
            continue
        if isinstance(value, dict):
            nested += _flatten(name, value)
        else:
            rows.append(MetricRow(name, format_value(value), "", "", ""))
    return rows, nested


def _flatten(prefix: str, value: Any, depth: int = 0) -> list[tuple[str, str]]:
    if isinstance(value, dict) and depth < 3 and value:
        out: list[tuple[str, str]] = []
        for key, inner in value.items():
            out += _flatten(f"{prefix}.{key}", inner, depth + 1)
        return out
    return [(prefix, format_value(value))]


def flagged_table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The flagged items as (column headings, rows); the columns are the union of the items' keys.

    A column that repeats another one in every row (an image label that is its file name) is
    left out, and engine codes ("probable_copy") in kind, label and status columns are shown in words.
    """
    items = [item for item in result.get("flagged") or [] if isinstance(item, dict)]
    columns: list[str] = []
    for item in items:
        columns += [key for key in item if key not in columns]
    columns = [
        column
        for position, column in enumerate(columns)
        if not any(all(item.get(column) == item.get(earlier) for item in items) for earlier in columns[:position])
    ]

    def cell(item: dict[str, Any], column: str) -> str:
        value = item.get(column)
        if column in ("kind", "label", "status") and isinstance(value, str):
            return KIND_LABELS.get(value, value.replace("_", " "))
        return format_value(value)

    headings = [column.replace("_", " ").capitalize() for column in columns]
    return headings, [[cell(item, column) for column in columns] for item in items]


def key_values(value: Any) -> list[tuple[str, str, str]]:
    """(name, shown, full) rows of a flat dict; digests are shortened, in full on hover."""
    if not isinstance(value, dict):
        return []
    rows = []
    for name, inner in value.items():
        if isinstance(inner, dict):
            rows += [(key, shown, shown) for key, shown in _flatten(name, inner)]
            continue
        full = format_value(inner, limit=50)
        shown = f"{inner[:12]}…" if isinstance(inner, str) and len(inner) == 64 and _is_hex(inner) else full
        rows.append((name, shown, full))
    return rows


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text.lower())


def timings(result: dict[str, Any]) -> list[tuple[str, str]]:
    values = _dict(result.get("timings"))
    return [(name, f"{seconds:.2f} s") for name, seconds in values.items() if _number(seconds) is not None]


def file_list(result: dict[str, Any], key: str) -> tuple[list[str], int]:
    """A list of file names from the charts data, at most MAX_LIST of them, and the full count."""
    charts = _dict(result.get("charts"))
    names = charts.get(key)
    if not isinstance(names, list):
        return [], 0
    names = [_text(n.get("name") if isinstance(n, dict) else n) for n in names]
    return names[:MAX_LIST], len(names)


def subgroup_metrics(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    charts = _dict(result.get("charts"))
    rows = charts.get("subgroup_metrics")
    if not isinstance(rows, list):
        return [], []
    return flagged_table({"flagged": rows})


@dataclass
class Pair:
    synthetic_file: str
    synthetic_index: int
    reference_file: str
    reference_index: int
    ncc: str
    ratio: str
    kind: str
    synthetic_url: str = ""
    reference_url: str = ""


KIND_LABELS = {
    "exact": "exact pixel duplicate",
    "probable_copy": "probable copy",
    "near_copy": "near copy to review",
    "none": "not a copy",
}


def _fixed(value: Any, decimals: int) -> str:
    number = _number(value)
    return "—" if number is None else f"{number:.{decimals}f}"


def closest_pairs(result: dict[str, Any]) -> list[Pair]:
    charts = _dict(result.get("charts"))
    pairs = []
    for row in charts.get("closest_pairs") or []:
        if not isinstance(row, dict):
            continue
        try:
            pairs.append(
                Pair(
                    synthetic_file=_text(row["synthetic_file"]),
                    synthetic_index=int(row.get("synthetic_index") or 0),
                    reference_file=_text(row["reference_file"]),
                    reference_index=int(row.get("reference_index") or 0),
                    ncc=_fixed(row.get("ncc"), 4),
                    ratio=format_value(_number(row.get("ratio"))),
                    kind=KIND_LABELS.get(_text(row.get("kind")), _text(row.get("kind"))),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return pairs


def dumps(figure: dict[str, Any]) -> str:
    """For tests and debugging: the figure as strict JSON (no NaN)."""
    return json.dumps(figure, allow_nan=False)
