"""This app's page rows of the access table (tests/reviews/test_access.py walks them with the rest)."""

from __future__ import annotations

from tests.reviews.test_access import Row

ROWS: dict[str, Row] = {}
