"""This app's rows of the access table (tests/reviews/test_access.py walks them with the rest).

The letter and the exports answer like the round page: owner, admins and accepted reviewers
read them, anyone else gets 404 and an anonymous visitor the login page. The letter exists only
for a decided round, so its row uses an approved round of the owner (built once per world); the
exports exist for every frozen round, so theirs walk round 1 of both variants (the draft has
none: 404). The verification page and its form are public.
"""

from __future__ import annotations

from typing import Any

from tests.letters.builders import Decided, approved_round
from tests.reviews.test_access import LOGIN, Row, V, World, per_role

EVERYONE = per_role(200, 200, 200, 200, 200)
# Like round-detail: the draft has no round; the owner, the accepted reviewer and admins read round 1.
ROUND_READERS = per_role(LOGIN, V(404, 200), 404, 404, V(404, 200), assigned=V(404, 200))


def _decided(w: World) -> Decided:
    if "letters-decided" not in w.extras:
        admin, assigned = w.users["admin"], w.users["assigned"]
        assert admin is not None and assigned is not None
        w.extras["letters-decided"] = approved_round(
            owner=w.owner, admin=admin, technical=assigned, title="Decided synthetic knee CT"
        )
    decided: Decided = w.extras["letters-decided"]
    return decided


def _decided_round(w: World, p: Any) -> dict[str, Any]:
    return {"pk": _decided(w).project.pk, "number": 1}


def _decided_digest(w: World, p: Any) -> dict[str, Any]:
    return {"digest": _decided(w).round.digest}


def _round_one(w: World, p: Any) -> dict[str, Any]:
    return {"pk": p.pk, "number": 1}


ROWS: dict[str, Row] = {
    # An approved round of the owner, reviewed and signed by the world's accepted reviewer.
    "round-letter": Row(get=per_role(LOGIN, 200, 404, 404, 200, assigned=200), kwargs=_decided_round),
    "round-export-json": Row(get=ROUND_READERS, kwargs=_round_one, project_scoped=True),
    "round-export-csv": Row(get=ROUND_READERS, kwargs=_round_one, project_scoped=True),
    "letter-verify": Row(get=EVERYONE, kwargs=_decided_digest),
    "letter-verify-form": Row(get=EVERYONE),
}
