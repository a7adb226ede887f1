from __future__ import annotations

from typing import Any

from django import template

from oversight.links import project_list_url
from oversight.selectors import Params

register = template.Library()


@register.simple_tag(takes_context=True)
def projects_url(context: dict[str, Any], params: Params = ()) -> str:
    """`{% projects_url row.params %}`: the project list behind a row, with the dashboard's filters."""
    return project_list_url(context["filters"].params, params)
