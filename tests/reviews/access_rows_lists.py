"""These rows of the access table (tests/reviews/test_access.py walks them with the rest)."""

from __future__ import annotations

from tests.reviews.test_access import LOGIN, Row, per_role

ROWS: dict[str, Row] = {
    # Every reviewer's assignments: administrators only; a reviewer has "My reviews".
    "review-list": Row(get=per_role(LOGIN, 403, 403, 403, 200)),
}
