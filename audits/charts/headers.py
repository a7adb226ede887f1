"""Charts of the two header audits: disclosure (synthetic marking) and privacy (identifying attributes)."""

from __future__ import annotations

from typing import Any

from audits.charts.common import FAIL, PASS, WARN, Chart, _layout, _number, _rows, _text

HOLDOUT = "#a61e4d"  # a darker fail colour: the value of a held-out patient


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
            ("present", "non-placeholder value in synthetic files", WARN),
            ("shared_with_reference", "same value as a training (reference) file", FAIL),
            ("shared_with_holdout", "same value as a held-out file", HOLDOUT),
        )
        # Results written before the held-out comparison have no held-out column: no empty bar for them.
        if key != "shared_with_holdout" or any("shared_with_holdout" in row for row in rows)
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
            "How many synthetic files carry each identifying attribute with a value that is not a placeholder"
            " (SYNTHETIC, ANONYMOUS, empty...), and how many carry the value of a real file of the training"
            " (reference) or held-out set. The values themselves are never shown.",
            figure,
        )
    ]
