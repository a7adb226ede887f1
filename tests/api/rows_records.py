"""This area's rows of the API's access table (tests/api/matrix.py says how they are walked).

They agree with the page table for the same pages: a project's rounds with project-history
(the project's readers), a round and its signatures with round-detail (the draft has no round:
404; the owner, the accepted reviewer and admins read round 1 of the submitted project), the
guideline versions with catalogue-list and catalogue-detail (every active account), and the
register and letter verification with public-project and letter-verify (anyone, no token).
An anonymous caller of a signed-in operation gets 401 where the page sends it to log in.
"""

from __future__ import annotations

from typing import Any

from reviews.models import Project
from tests.api.matrix import PUBLIC, Op, V, World, per_role, pk_param
from tests.letters.builders import Decided, approved_round
from tests.public.register_world import approved

PROJECT_READERS = per_role(401, 200, 404, 404, 200, assigned=V(404, 200))
ROUND_READERS = per_role(401, V(404, 200), 404, 404, V(404, 200), assigned=V(404, 200))
SIGNED_IN = per_role(401, 200, 200, 200, 200)


def _round_one(w: World, p: Project) -> dict[str, Any]:
    return {"id": p.pk, "number": 1}


def _listed(w: World, p: Project) -> dict[str, Any]:
    """An approved project of the owner on the register; the same one tests/public/access_rows.py builds."""
    if "public-approved" not in w.extras:
        w.extras["public-approved"] = approved(
            w.owner, w.catalogue, title="Registered synthetic CT project", admin=w.users["admin"]
        )
    return {"id": w.extras["public-approved"].pk}


def _decided_digest(w: World, p: Project) -> dict[str, Any]:
    """The digest of an approved round; the same one tests/letters/access_rows.py builds."""
    if "letters-decided" not in w.extras:
        admin, assigned = w.users["admin"], w.users["assigned"]
        assert admin is not None and assigned is not None
        w.extras["letters-decided"] = approved_round(
            owner=w.owner, admin=admin, technical=assigned, title="Decided synthetic knee CT"
        )
    decided: Decided = w.extras["letters-decided"]
    return {"digest": decided.round.digest}


ROWS: dict[tuple[str, str], Op] = {
    ("GET", "/api/v1/projects/{id}/rounds/"): Op(PROJECT_READERS, params=pk_param, project_scoped=True),
    ("GET", "/api/v1/projects/{id}/rounds/{number}/"): Op(ROUND_READERS, params=_round_one, project_scoped=True),
    ("GET", "/api/v1/projects/{id}/rounds/{number}/signatures/"): Op(
        ROUND_READERS, params=_round_one, project_scoped=True
    ),
    ("GET", "/api/v1/register/"): Op(PUBLIC),
    ("GET", "/api/v1/register/{id}/"): Op(PUBLIC, params=_listed),
    ("GET", "/api/v1/verify/{digest}/"): Op(PUBLIC, params=_decided_digest),
    ("GET", "/api/v1/guidelines/"): Op(SIGNED_IN),
    ("GET", "/api/v1/guidelines/{id}/"): Op(SIGNED_IN, params=lambda w, p: {"id": w.catalogue.pk}),
}
