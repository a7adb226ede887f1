"""These rows of the access table (tests/reviews/test_access.py walks them with the rest):
the guideline editor (administrators only: everyone else is refused with a reason, the
anonymous visitor sent to log in) and the researcher's move to a newer guideline version.

The editor's rows work on a draft started from the world's published catalogue, and the move
on a newer published version; both are built on first use and kept in `w.extras`.
"""

from __future__ import annotations

from typing import Any

from reviews.models import GuidelineItem, GuidelineVersion, Project, Stage
from reviews.services.catalogue import guideline_version_new_draft, guideline_version_publish
from tests.reviews.test_access import LOGIN, Redirect, Row, V, World, per_role

ITEM = "PF-2"
REFUSED_GET = per_role(LOGIN, 403, 403, 403, 200)  # admins only; the rest are told why
POST_ONLY = per_role(LOGIN, 405, 405, 405, 405)


def _draft(w: World) -> GuidelineVersion:
    if "catalogue_draft" not in w.extras:
        w.extras["catalogue_draft"] = guideline_version_new_draft(source=w.catalogue, actor=w.users["admin"])
    draft: GuidelineVersion = w.extras["catalogue_draft"]
    return draft


def _newer(w: World) -> GuidelineVersion:
    """A published v2 of the world's set: the owner's draft may move to it."""
    if "catalogue_newer" not in w.extras:
        w.extras["catalogue_newer"] = guideline_version_publish(version=_draft(w), actor=w.users["admin"])
    newer: GuidelineVersion = w.extras["catalogue_newer"]
    return newer


def _stage(w: World) -> Stage:
    return Stage.objects.get(version=_draft(w), code="PF")


def _item(w: World) -> GuidelineItem:
    return GuidelineItem.objects.get(version=_draft(w), code=ITEM)


def _draft_kwargs(w: World, p: Project) -> dict[str, Any]:
    return {"pk": _draft(w).pk}


def _stage_kwargs(w: World, p: Project) -> dict[str, Any]:
    return {"pk": _draft(w).pk, "stage_pk": _stage(w).pk}


def _item_kwargs(w: World, p: Project) -> dict[str, Any]:
    return {"pk": _draft(w).pk, "code": ITEM}


def _item_data(w: World) -> dict[str, Any]:
    item = _item(w)
    return {
        "code": "PF-42",
        "stage": item.stage_id,
        "requirement": "A requirement rewritten.",
        "rationale": item.rationale,
        "evidence": item.evidence,
        "required": "on",
        "audit": "",
        "automation": "manual",
        "automation_note": "",
    }


def _move_kwargs(w: World, p: Project) -> dict[str, Any]:
    _newer(w)
    return {"pk": p.pk}


ROWS: dict[str, Row] = {
    # Starting a draft copies a published version; the admin lands on the new draft.
    "catalogue-draft-new": Row(
        get=POST_ONLY, post=per_role(LOGIN, 403, 403, 403, 302), kwargs=lambda w, p: {"pk": w.catalogue.pk}
    ),
    "catalogue-discard": Row(
        get=POST_ONLY, post=per_role(LOGIN, 403, 403, 403, Redirect("catalogue-list")), kwargs=_draft_kwargs
    ),
    "catalogue-settings": Row(
        get=REFUSED_GET,
        post=per_role(LOGIN, 403, 403, 403, 302),
        kwargs=_draft_kwargs,
        data=lambda w: {
            "notes-notes": "Edited.",
            "policy-approvals_required": "2",
            "policy-final_decision": "policy",
            "policy-review_days": "21",
            "policy-reminder_days": "3",
        },
    ),
    "catalogue-stage-add": Row(
        get=REFUSED_GET,
        post=per_role(LOGIN, 403, 403, 403, 302),
        kwargs=_draft_kwargs,
        data=lambda w: {"code": "XY", "name": "Extra stage", "description": ""},
    ),
    "catalogue-stage-edit": Row(
        get=REFUSED_GET,
        post=per_role(LOGIN, 403, 403, 403, 302),
        kwargs=_stage_kwargs,
        data=lambda w: {"name": "Problem formulation, renamed", "description": ""},
    ),
    "catalogue-stage-move": Row(
        get=POST_ONLY,
        post=per_role(LOGIN, 403, 403, 403, 302),
        kwargs=_stage_kwargs,
        data=lambda w: {"direction": "down"},
    ),
    # PF has items: the admin is sent back with why; the stage stays.
    "catalogue-stage-remove": Row(get=POST_ONLY, post=per_role(LOGIN, 403, 403, 403, 302), kwargs=_stage_kwargs),
    "catalogue-item-add": Row(
        get=REFUSED_GET, post=per_role(LOGIN, 403, 403, 403, 302), kwargs=_draft_kwargs, data=_item_data
    ),
    "catalogue-item-edit": Row(
        get=REFUSED_GET, post=per_role(LOGIN, 403, 403, 403, 302), kwargs=_item_kwargs, data=_item_data
    ),
    "catalogue-item-move": Row(
        get=POST_ONLY,
        post=per_role(LOGIN, 403, 403, 403, 302),
        kwargs=_item_kwargs,
        data=lambda w: {"direction": "up"},
    ),
    "catalogue-item-remove": Row(get=POST_ONLY, post=per_role(LOGIN, 403, 403, 403, 302), kwargs=_item_kwargs),
    "catalogue-diff": Row(get=REFUSED_GET, kwargs=_draft_kwargs),
    "catalogue-publish": Row(
        get=REFUSED_GET,
        post=per_role(LOGIN, 403, 403, 403, 302),
        kwargs=_draft_kwargs,
        data=lambda w: {"confirm": "on"},
    ),
    # Only the owner of an editable project moves it; others who may see it are told why.
    "project-version-move": Row(
        get=per_role(LOGIN, V(200, 403), 404, 404, 403, assigned=V(404, 403)),
        post=per_role(LOGIN, V(302, 403), 404, 404, 403, assigned=V(404, 403)),
        kwargs=_move_kwargs,
        data=lambda w: {"confirm": "on"},
        project_scoped=True,
    ),
}
