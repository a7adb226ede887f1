"""The API's access table: every operation of the OpenAPI schema, as every role, with tokens.

Each area keeps its rows in `tests/api/rows_<area>.py` as `ROWS: dict[tuple[str, str], Op]`,
keyed by (METHOD, the schema's path template), e.g. ("GET", "/api/v1/projects/{id}/").
tests/api/test_access.py merges them, checks that they are exactly the schema's operations,
and walks each as every role of the page table (tests/reviews/test_access.py: the same world,
the same `per_role` and `V(draft, submitted)` cells) with a read-and-write token, then with a
read-only, an expired and a revoked token. Cells are HTTP status codes; an anonymous request
sends no token (401 unless the operation is public).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reviews.models import Project
from tests.reviews.test_access import V, World, per_role

__all__ = ["PUBLIC", "Op", "V", "World", "no_params", "per_role", "pk_param"]


def no_params(w: World, p: Project) -> dict[str, Any]:
    return {}


def pk_param(w: World, p: Project) -> dict[str, Any]:
    return {"id": p.pk}


@dataclass(frozen=True)
class Op:
    """One operation's expected answers per role and how to call it.

    `params` fills the path template's {names}; `body` is the JSON (or, with
    `format="multipart"`, the form fields and files) a permitted caller would send, valid, so
    that a refusal is the permission check and not a validation error; `raw` sends bytes with
    `content_type` and `headers` instead (a chunk of a resumable upload). `project_scoped`
    walks it for both variants of the owner's project (draft and submitted).
    """

    expect: dict[str, Any]
    params: Callable[[World, Project], dict[str, Any]] = no_params
    body: Callable[[World, Project], dict[str, Any]] | None = None
    format: str = "json"
    raw: Callable[[World, Project], bytes] | None = None
    content_type: str = "application/octet-stream"
    headers: Callable[[World, Project], dict[str, str]] | None = None
    project_scoped: bool = False


# An operation anyone may call, without a token: the public register and letter verification.
PUBLIC = per_role(200, 200, 200, 200, 200)
