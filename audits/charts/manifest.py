"""Charts of the manifest audit: coverage of the synthetic files and files per generator."""

from __future__ import annotations

from typing import Any

from audits.charts.common import FAIL, PASS, SYNTHETIC, WARN, Chart, _layout, _number, _rows, _text


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
