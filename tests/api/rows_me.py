"""This area's rows of the API's access table (tests/api/matrix.py says how they are walked).

GET /api/v1/me/ answers every account about itself; without a token it is 401.
"""

from __future__ import annotations

from tests.api.matrix import Op, per_role

ROWS: dict[tuple[str, str], Op] = {
    ("GET", "/api/v1/me/"): Op(expect=per_role(401, 200, 200, 200, 200)),
}
