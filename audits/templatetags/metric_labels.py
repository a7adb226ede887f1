"""{% load metric_labels %}: a metric or threshold code in words (audits.metric_labels).

{{ "fidelity.coverage"|metric_label }} or {{ name|metric_label:audit }}; |metric_help the same
way gives its one-line explanation.
"""

from __future__ import annotations

from django import template

from audits import metric_labels

register = template.Library()


@register.filter
def metric_label(code: object, audit: object = None) -> str:
    return metric_labels.label(str(code), str(audit) if audit else None)


@register.filter
def metric_help(code: object, audit: object = None) -> str:
    return metric_labels.explain(str(code), str(audit) if audit else None)
