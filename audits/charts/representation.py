"""Charts of the representation audit: shares per attribute and the subgroup gaps."""

from __future__ import annotations

from typing import Any

from audits.charts.common import REAL, SYNTHETIC, Chart, _dict, _layout, _number, _numbers, _rows, _text, format_value

MAX_CATEGORIES = 40  # bars per attribute chart; more would be unreadable


MAX_ATTRIBUTE_CHARTS = 12


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
        if row.get("too_small") is True:
            status = "too small to judge (neither pass nor fail)"
        small = [_text(c) for c in row.get("too_small_categories") or []]
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
                f"Status: {status}"
                + (f"; {', '.join(effect)}." if effect else ".")
                + (f" Too few images to judge: {', '.join(small)}." if small else ""),
                {"data": data, "layout": layout},
                wide=False,
            )
        )
        gaps = row.get("gap")
        if isinstance(gaps, list) and row.get("too_small") is not True:  # no verdict, so no bar either
            for category, gap in zip(categories, _numbers(gaps), strict=False):
                if gap is not None and category not in small:
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
                " real ones; blue bars a smaller share. Subgroups too small to judge are left out.",
                figure,
            ),
        )
    return out


MAX_MAPPING_ROWS = 100


def value_mappings(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per attribute, how each spelling in the metadata was counted: the mapping the engine applied.

    [{"attribute", "n_spellings", "n_groups", "rows": [(spelling, counted as, why, real images,
    synthetic images)], "more": spellings not listed}], from metrics.attributes[*].mapping.
    """
    out = []
    attributes = _dict(_dict(result.get("metrics")).get("attributes"))
    for attribute, figures in attributes.items():
        figures = _dict(figures)
        if not isinstance(figures.get("mapping"), list):  # a result from before the mapping was kept
            continue
        mapping = [entry for entry in figures["mapping"] if isinstance(entry, dict)]
        if not mapping:
            continue
        rows = []
        for entry in mapping[:MAX_MAPPING_ROWS]:
            group = entry.get("group")
            years = _number(entry.get("years"))
            counted = "missing (not a group)" if group is None else _text(group)
            if years is not None and group is not None:
                counted += f" ({years:g} years)"
            rows.append(
                (
                    _text(entry.get("value")),
                    counted,
                    _text(entry.get("rule")),
                    format_value(entry.get("n_reference")),
                    format_value(entry.get("n_synthetic")),
                )
            )
        n_spellings = int(_number(figures.get("n_spellings")) or len(mapping))
        groups = {_text(entry.get("group")) for entry in mapping if entry.get("group") is not None}
        out.append(
            {
                "attribute": _text(attribute),
                "n_spellings": n_spellings,
                "n_groups": len(groups),
                "rows": rows,
                "more": max(0, n_spellings - len(rows)),
            }
        )
    return out
