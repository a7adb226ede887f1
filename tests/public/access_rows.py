"""This app's rows of the access table (tests/reviews/test_access.py walks them with the rest).

The register is public: every role, anonymous included, reads the same pages. Its board
setting is the admins'.
"""

from __future__ import annotations

from typing import Any

from tests.public.register_world import approved
from tests.reviews.test_access import LOGIN, Redirect, Row, World, per_role

EVERYONE = per_role(200, 200, 200, 200, 200)


def _listed(w: World, p: Any) -> dict[str, Any]:
    """An approved project of the owner, listed on the register (built once per world)."""
    if "public-approved" not in w.extras:
        w.extras["public-approved"] = approved(
            w.owner, w.catalogue, title="Registered synthetic CT project", admin=w.users["admin"]
        )
    return {"pk": w.extras["public-approved"].pk}


ROWS: dict[str, Row] = {
    "public-register": Row(get=EVERYONE),
    "public-project": Row(get=EVERYONE, kwargs=_listed),
    "public-feed": Row(get=EVERYONE),
    "public-register-json": Row(get=EVERYONE),
    "register-settings": Row(
        get=per_role(LOGIN, 403, 403, 403, 200),
        post=per_role(LOGIN, 403, 403, 403, Redirect("register-settings")),
        data=lambda w: {"listing": "default", "show_signer_names": "on"},
    ),
}
