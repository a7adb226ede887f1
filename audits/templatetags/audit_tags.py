"""Template filters of the audits pages."""

from __future__ import annotations

from typing import Any

from django import template

from audits.thresholds import default_thresholds, threshold_labels

register = template.Library()


@register.filter
def thresholds_set_by_project(params: Any) -> list[str]:
    """The words of the thresholds a run's parameters set away from the engine's defaults.

    A run receives every declared threshold (audits.thresholds); runs from before that
    received only the project's own values, which this lists the same way.
    """
    given = params.get("audits") if isinstance(params, dict) else None
    if not isinstance(given, dict):
        return []
    defaults, labels = default_thresholds(), threshold_labels()
    return [
        labels.get(f"{audit}.{name}", f"{audit}.{name}")
        for audit, values in sorted(given.items())
        if isinstance(values, dict)
        for name, value in sorted(values.items())
        if name not in defaults.get(audit, {}) or value != defaults[audit][name]
    ]
