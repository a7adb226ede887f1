"""Links from a figure to the projects behind it: the project list's query string."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from oversight.selectors import Params


def merged(base: Params, own: Params) -> Params:
    """The dashboard's filters with a row's own parameters; a key the row sets replaces the
    filter's (a month's dates replace the date range they already lie within)."""
    keys = {key for key, _ in own}
    return tuple((key, value) for key, value in base if key not in keys) + own


def project_list_url(base: Params, own: Params = ()) -> str:
    query = urlencode(merged(base, own))
    return reverse("project-list") + (f"?{query}" if query else "")
