"""Permission predicates of the oversight app (django-rules, autodiscovered).

The board dashboard shows the whole portfolio (every project's state, every reviewer's load),
so it is for administrators only.
"""

from __future__ import annotations

import rules

from reviews.rules import is_admin

can_view_board = is_admin

rules.add_perm("oversight.view_board", can_view_board)
