"""This app's rows of the access table (tests/reviews/test_access.py walks them with the rest).

The board shows the whole portfolio (every project's state, every reviewer's load): admins
only; every other role is refused with the reason, anonymous visitors are sent to log in.
"""

from __future__ import annotations

from tests.reviews.test_access import LOGIN, Row, per_role

ROWS: dict[str, Row] = {
    "board-dashboard": Row(get=per_role(LOGIN, 403, 403, 403, 200)),
    "board-export": Row(get=per_role(LOGIN, 403, 403, 403, 200)),
}
