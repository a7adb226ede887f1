"""The objection channel's rows of the access table (tests/reviews/test_access.py walks them with the rest).

Sending and tracking are open to anyone; triage is for administrators (others 403 with a
reason, anonymous to the login page); the response page is the project owner's only. The
projects on the register, an objection and its tracking token, and a suspended project are
built once per walk, on first use, and kept in `w.extras`.
"""

from __future__ import annotations

from typing import Any

from public.models import Objection, ObjectionStatus, Remedy
from public.services.objections import objection_send, objection_uphold
from reviews.models import Project
from tests.conftest import clear_run_cache
from tests.public.test_objections import listed_approved
from tests.reviews.test_access import LOGIN, Row, V, World, per_role


def _listed(w: World) -> Project:
    if "objections:listed" not in w.extras:
        w.extras["objections:listed"] = listed_approved(
            w.owner, w.catalogue, title="Listed synthetic chest X-rays", admin=w.users["admin"]
        )
    return w.extras["objections:listed"]


def _sent(w: World) -> tuple[Objection, str]:
    if "objections:sent" not in w.extras:
        project = _listed(w)
        sent = objection_send(
            project=project, title=project.title, kind="question", text="How are the images labelled?"
        )
        w.extras["objections:sent"] = (sent.objection, sent.token)
    return w.extras["objections:sent"]


def _suspended(w: World) -> Project:
    if "objections:suspended" not in w.extras:
        admin = w.users["admin"]
        project = listed_approved(w.owner, w.catalogue, title="Suspended synthetic CT", admin=admin)
        sent = objection_send(project=project, title=project.title, kind="objection", text="No consent.")
        objection_uphold(actor=admin, objection=sent.objection, remedy=Remedy.SUSPENSION, reason="Consent unclear.")
        w.extras["objections:suspended"] = project
    return w.extras["objections:suspended"]


def _asked(w: World, p: Project) -> dict[str, Any]:
    """An objection on the owner's project (draft or submitted) that waits for the owner's response."""
    key = f"objections:asked:{p.pk}"
    if key not in w.extras:
        w.extras[key] = Objection.objects.create(
            project=p,
            kind="objection",
            text="Who consented?",
            token_sha256=f"{p.pk:064d}",
            status=ObjectionStatus.AWAITING_RESEARCHER,
        )
    return {"pk": p.pk, "objection_pk": w.extras[key].pk}


def _objection_data(w: World) -> dict[str, Any]:
    # Every role posts from the same test address: each post is a first attempt, not the
    # throttle's sixth (the throttle has tests of its own).
    clear_run_cache()
    return {"kind": "question", "text": "How are the images labelled?", "name": "", "email": "", "website": ""}


ADMIN_ONLY = per_role(LOGIN, 403, 403, 403, 200)

ROWS: dict[str, Row] = {
    "objection-new": Row(
        get=per_role(200, 200, 200, 200, 200),
        post=per_role(302, 302, 302, 302, 302),  # to the sent page (post/redirect/get)
        kwargs=lambda w, p: {"pk": _listed(w).pk},
        data=_objection_data,
    ),
    "objection-track": Row(
        get=per_role(200, 200, 200, 200, 200),
        kwargs=lambda w, p: {"token": _sent(w)[1]},
    ),
    "objection-list": Row(get=ADMIN_ONLY),
    "objection-detail": Row(
        get=ADMIN_ONLY,
        post=per_role(LOGIN, 403, 403, 403, 302),
        kwargs=lambda w, p: {"pk": _sent(w)[0].pk},
        data=lambda w: {"action": "acknowledge"},
    ),
    # The owner's suspended project: the owner may not lift it, outsiders do not see it.
    "project-reinstate": Row(
        get=per_role(LOGIN, 405, 405, 405, 405),
        post=per_role(LOGIN, 403, 404, 404, 302),
        kwargs=lambda w, p: {"pk": _suspended(w).pk},
        data=lambda w: {"reinstate-reason": "The consent form was found."},
    ),
    "objection-respond": Row(
        get=per_role(LOGIN, 200, 404, 404, 403, assigned=V(404, 403)),
        post=per_role(LOGIN, 302, 404, 404, 403, assigned=V(404, 403)),
        kwargs=_asked,
        data=lambda w: {"text": "Every patient consented."},
        project_scoped=True,
    ),
}
