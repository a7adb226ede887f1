"""This app's page rows of the access table (tests/reviews/test_access.py walks them with the rest).

Every signed-in account has its own tokens page; a token is revoked by its account or by an
administrator, and any other account is answered 404 for it; only administrators list every
account's tokens.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from api.models import ApiToken
from api.services.tokens import token_create
from reviews.models import Project
from tests.reviews.test_access import LOGIN, Redirect, Row, World, per_role


def _owner_token(w: World, p: Project) -> dict[str, Any]:
    if "api:owner-token" not in w.extras:
        token, _raw = token_create(
            user=w.owner, name="Owner's pipeline", scope="write", expires_at=timezone.now() + timedelta(days=30)
        )
        w.extras["api:owner-token"] = token
    token: ApiToken = w.extras["api:owner-token"]
    return {"token_id": token.pk}


ROWS: dict[str, Row] = {
    "api-tokens": Row(
        get=per_role(LOGIN, 200, 200, 200, 200),
        # 201: the new token is shown in the POST's own response (no store may carry it to another page).
        post=per_role(LOGIN, 201, 201, 201, 201),
        data=lambda w: {"name": "Nightly training pipeline", "scope": "read", "expires_in": "30"},
    ),
    # require_POST answers a GET with 405 before any lookup, so it reveals nothing.
    "api-token-revoke": Row(
        get=per_role(LOGIN, 405, 405, 405, 405),
        post=per_role(LOGIN, Redirect("api-tokens"), 404, 404, Redirect("api-token-admin")),
        kwargs=_owner_token,
    ),
    "api-token-admin": Row(get=per_role(LOGIN, 403, 403, 403, 200)),
}
