"""This area's rows of the API's access table (tests/api/matrix.py says how they are walked)."""

from __future__ import annotations

from tests.api.matrix import Op

ROWS: dict[tuple[str, str], Op] = {}
