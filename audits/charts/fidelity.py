"""Charts of the fidelity audit: the metrics forest, pixel intensities and the 2-D projection."""

from __future__ import annotations

from typing import Any

from audits.charts.common import REAL, SYNTHETIC, Chart, _layout, _number, _numbers, _rows, _text

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


def _forest(rows: list[dict[str, Any]], unit: str = "") -> dict[str, Any] | None:
    """One row per metric, each on its own scale: value with its interval, and the baseline.

    `unit` is the intensity unit of a quantitative comparison ("HU"): the W1 row says it.
    """
    rows = [row for row in rows if _number(row.get("value")) is not None or _number(row.get("baseline")) is not None]
    if not rows:
        return None
    data: list[dict[str, Any]] = []
    layout = _layout(height=max(160, 72 * len(rows) + 70), showlegend=True, margin={"l": 160, "t": 40, "b": 30})
    step = 1 / len(rows)
    for position, row in enumerate(rows):
        axis = "" if position == 0 else str(position + 1)
        name = FIDELITY_LABELS.get(_text(row.get("metric")), _text(row.get("metric")))
        if unit and _text(row.get("metric")) == "w1_hist":
            name += f" ({unit})"
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
    unit = _quantitative_unit(charts)
    if "metrics_table" in charts:
        figure = _forest(_rows(charts["metrics_table"]), unit)
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


def _quantitative_unit(charts: dict[str, Any]) -> str:
    """The unit of a quantitative intensity comparison ("HU"), "" for relative (or older results)."""
    unit = _text(charts.get("intensity_unit"))
    return "" if unit in ("", "relative", "normalised") else unit


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
                "hovertemplate": ("%{x:.0f}" if _quantitative_unit(charts) else "%{x:.2f}")
                + ": %{y:.2%}<extra>"
                + name
                + "</extra>",
            }
        )
    if not data:
        return None
    unit = _quantitative_unit(charts)
    if unit:
        low, high = bins[0], bins[-1]
        caption = (
            f"Intensity scale: quantitative, in {unit}. All pixels of each set as absolute values, through one"
            " window the same for both sets"
            + (f" (about {low:.4g} to {high:.4g} {unit})" if low is not None and high is not None else "")
            + ", so a global brightness or calibration change shows as a shift between the lines."
        )
        x_title = f"pixel value ({unit})"
    else:
        caption = (
            "Intensity scale: relative. All pixels of each set, after the per-image percentile clip and scaling"
            " to [0, 1]; this scaling hides a global brightness or calibration change."
        )
        x_title = "pixel intensity after preprocessing (0 to 1, relative)"
    yaxis: dict[str, Any] = {"title": {"text": "share of pixels"}, "tickformat": ".0%"}
    if any(peaks):
        # A dark background typically holds most pixels; a linear axis would show only that bar.
        yaxis.update(type="log", tickformat=".1~%")
        caption += " The vertical axis is logarithmic, because one intensity (often the background) holds most pixels."
    layout = _layout(xaxis={"title": {"text": x_title}}, yaxis=yaxis)
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
