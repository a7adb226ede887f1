"""This app's rows of the access table (tests/reviews/test_access.py walks them with the rest)."""

from __future__ import annotations

from typing import Any

ROWS: dict[str, Any] = {}
