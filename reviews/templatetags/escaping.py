"""Escaping for the rows written in Python (list_rows, review_rows): not a template tag library."""

from __future__ import annotations

from html import escape
from typing import Any

from django.utils.html import conditional_escape


def text(value: Any) -> str:
    """`conditional_escape(value)` as text; plain strings and integers (most of a row's values)
    without its checks and SafeString (Django's escape is html.escape of the text)."""
    kind = type(value)
    if kind is str:
        return escape(value)
    if kind is int:
        return str(value)
    return str(conditional_escape(value))
