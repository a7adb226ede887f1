"""Tables of one audit result for the page: metrics with their thresholds, flagged items,
inputs, timings, file lists, subgroup metrics and the closest pairs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from audits.charts.common import _dict, _number, _text, format_value
from audits.thresholds import metric_label, metric_labels

MAX_LIST = 200  # file names listed on a page


@dataclass
class MetricRow:
    name: str  # the engine's code name, shown in a tooltip
    value: str
    warn: str
    fail: str
    direction: str
    label: str = ""  # the words the page shows (the audit's METRIC_LABELS)


def _direction(text: Any) -> str:
    return {"above": "worse when higher", "below": "worse when lower"}.get(_text(text), _text(text))


def metric_rows(result: dict[str, Any]) -> tuple[list[MetricRow], list[tuple[str, str, str]]]:
    """(rows with a threshold first, then the other single values), (nested figures flattened
    as (code name, words, value)). Names read as the audit's METRIC_LABELS, else as words made
    from the code name."""
    metrics, thresholds = _dict(result.get("metrics")), _dict(result.get("thresholds"))
    audit = _text(result.get("audit"))
    labels = metric_labels(audit)
    rows = []
    for name, rule in thresholds.items():
        rule = _dict(rule)
        value = format_value(metrics.get(name)) if name in metrics else "each item"
        warn, fail = (format_value(rule.get(key)) for key in ("warn", "fail"))
        label = metric_label(audit, name, labels)
        rows.append(MetricRow(name, value, warn, fail, _direction(rule.get("direction")), label))
    nested: list[tuple[str, str, str]] = []
    for name, value in metrics.items():
        if name in thresholds:
            continue
        if isinstance(value, dict):
            nested += [(key, metric_label(audit, key, labels), shown) for key, shown in _flatten(name, value)]
        else:
            rows.append(MetricRow(name, format_value(value), "", "", "", metric_label(audit, name, labels)))
    return rows, nested


def _flatten(prefix: str, value: Any, depth: int = 0) -> list[tuple[str, str]]:
    if isinstance(value, dict) and depth < 3 and value:
        out: list[tuple[str, str]] = []
        for key, inner in value.items():
            out += _flatten(f"{prefix}.{key}", inner, depth + 1)
        return out
    return [(prefix, format_value(value))]


# Column order of the flagged tables: a stored result's keys come back from PostgreSQL's jsonb in
# its own order (shortest first), not the engine's, so the tables order them here.
COLUMN_ORDER = (
    "attribute",
    "category",
    "group",
    "synthetic",
    "file",
    "reference",
    "real_set",
    "real_file",
    "n",
    "n_copies",
    "copy_rate",
    "rate_ratio",
    "p_value_corrected",
    "coverage",
    "judged",
    "ncc",
    "p_value",
    "transform_text",
    "kind",
    "level",
    "reason",
)


# Fields for the pages' own use (aligning thumbnails), said in words by another column
MACHINE_COLUMNS = frozenset({"align", "crop", "transform"})


def flagged_table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The flagged items as (column headings, rows); the columns are the union of the items' keys.

    Known columns come in `COLUMN_ORDER`, others after them in the order first seen. A column
    that repeats another one in every row (an image label that is its file name) is left out,
    and engine codes ("probable_copy") in kind, label and status columns are shown in words.
    """
    items = [item for item in result.get("flagged") or [] if isinstance(item, dict)]
    columns: list[str] = []
    for item in items:
        columns += [key for key in item if key not in columns]
    columns = [column for column in columns if column not in MACHINE_COLUMNS]
    rank = {name: position for position, name in enumerate(COLUMN_ORDER)}
    columns = sorted(columns, key=lambda name: (rank.get(name, len(rank)), columns.index(name)))
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
    transform_text: str = ""  # how the copy was changed from the real image, in words
    align: str = "identity"  # symmetry that turns the synthetic image onto the real one
    crop: str = ""  # "top,left,side" of the real image's matched region, fractions of the side
    synthetic_url: str = ""
    reference_url: str = ""
    aligned_url: str = ""  # the synthetic image turned as the audit aligned it
    region_url: str = ""  # the matched region of the real image

    @property
    def aligned(self) -> bool:
        return self.align != "identity" or bool(self.crop)


KIND_LABELS = {
    "exact": "exact pixel duplicate",
    "probable_copy": "probable copy",
    "none": "not a copy",
}


def _fixed(value: Any, decimals: int) -> str:
    number = _number(value)
    return "—" if number is None else f"{number:.{decimals}f}"


def _known_symmetry(value: Any) -> str:
    from audits.engine.memorization.geometry import D8

    return value if isinstance(value, str) and value in D8 else "identity"


def _crop_text(value: Any) -> str:
    """'top,left,side' when the match is a crop of the real image (side below 0.99), else ''."""
    if not isinstance(value, dict):
        return ""
    top, left, side = _number(value.get("top")), _number(value.get("left")), _number(value.get("scale"))
    if top is None or left is None or side is None or side >= 0.99 or side < 0.3:
        return ""
    return f"{top:.4f},{left:.4f},{side:.4f}"


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
                    transform_text=_text(row.get("transform_text") or ""),
                    align=_known_symmetry(row.get("align")),
                    crop=_crop_text(row.get("crop")),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return pairs


def dumps(figure: dict[str, Any]) -> str:
    """For tests and debugging: the figure as strict JSON (no NaN)."""
    return json.dumps(figure, allow_nan=False)
