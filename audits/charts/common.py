"""Shared pieces of the chart builders: colours, the Chart record, tolerant readers of the
chart data, the page's plotly layout, the binned histogram and `format_value`."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

REAL = "#1c7ed6"


SYNTHETIC = "#e8590c"


PASS = "#2f9e44"  # noqa: S105 (a colour, not a password)


WARN = "#f59f00"


FAIL = "#e03131"


GREY = "#868e96"


STATUS_COLOURS = {"pass": PASS, "warn": WARN, "fail": FAIL, "not_computable": GREY}


HISTOGRAM_BINS = 50


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
