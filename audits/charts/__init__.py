"""Plotly figures and tables of one audit result, as plain dicts for json_script.

The engine puts chart-ready arrays under AuditResult.charts (keys documented in each engine
module's docstring). Each builder here reads the keys it knows; a key that is missing or has
another shape means that chart is left out, never an error page. Histograms are binned here,
so a page carries a few hundred numbers, not the 20,000 scores a large set can have.
Non-finite numbers become None (JSON null), because JSON has no NaN.
"""

from __future__ import annotations

from audits.charts.builders import figures
from audits.charts.common import (
    FAIL,
    GREY,
    HISTOGRAM_BINS,
    PASS,
    REAL,
    STATUS_COLOURS,
    SYNTHETIC,
    WARN,
    Chart,
    ChartDataError,
    format_value,
)
from audits.charts.fidelity import FIDELITY_LABELS
from audits.charts.representation import MAX_ATTRIBUTE_CHARTS, MAX_CATEGORIES, value_mappings
from audits.charts.tables import (
    KIND_LABELS,
    MAX_LIST,
    MetricRow,
    Pair,
    closest_pairs,
    dumps,
    file_list,
    flagged_table,
    key_values,
    metric_rows,
    subgroup_metrics,
    timings,
)

__all__ = [
    "FAIL",
    "FIDELITY_LABELS",
    "GREY",
    "HISTOGRAM_BINS",
    "KIND_LABELS",
    "MAX_ATTRIBUTE_CHARTS",
    "MAX_CATEGORIES",
    "MAX_LIST",
    "PASS",
    "REAL",
    "STATUS_COLOURS",
    "SYNTHETIC",
    "WARN",
    "Chart",
    "ChartDataError",
    "MetricRow",
    "Pair",
    "closest_pairs",
    "dumps",
    "figures",
    "file_list",
    "flagged_table",
    "format_value",
    "key_values",
    "metric_rows",
    "subgroup_metrics",
    "timings",
    "value_mappings",
]
