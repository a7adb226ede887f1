"""This app's page rows of the access table (tests/reviews/test_access.py walks them with the rest).

A hook its project's owner registered is managed by that owner and by administrators (the
board's hooks, which administrators register, are theirs alone: tests/webhooks/test_webhooks.py);
anyone else gets 404,
whether the hook exists or not. Each variant of the owner's project has its own hook, with one
failed delivery to redeliver, built once per walk and kept in `w.extras`. Registering is for
researchers (on their own projects; another researcher posting the owner's project gets the
form back with the choice refused) and administrators; reviewers get 403.
"""

from __future__ import annotations

from typing import Any

from reviews.enums import EventKind
from reviews.models import Project
from tests.reviews.test_access import LOGIN, Redirect, Row, World, per_role
from webhooks.enums import DeliveryStatus
from webhooks.models import Webhook, WebhookDelivery

HOOK_URL = "http://127.0.0.1:9/misyn-hook"
MANAGERS = per_role(LOGIN, 200, 404, 404, 200)
MANAGERS_POST = per_role(LOGIN, 302, 404, 404, 302)
POST_ONLY = per_role(LOGIN, 405, 405, 405, 405)


def _hook(w: World, p: Project) -> Webhook:
    key = f"webhooks:hook:{p.pk}"
    if key not in w.extras:
        hook = Webhook.objects.create(
            project=p, url=HOOK_URL, events=[EventKind.AUDIT_RUN_FINISHED], created_by=w.owner
        )
        w.extras[key] = hook
        w.extras[f"webhooks:failed:{p.pk}"] = WebhookDelivery.objects.create(
            hook=hook, event=EventKind.AUDIT_RUN_FINISHED, payload={"event": "audit_run.finished"},
            status=DeliveryStatus.FAILED, attempts=6, next_attempt_at=None,
        )  # fmt: skip
    hook: Webhook = w.extras[key]
    return hook


def _hook_kwargs(w: World, p: Project) -> dict[str, Any]:
    return {"pk": _hook(w, p).pk}


def _redeliver_kwargs(w: World, p: Project) -> dict[str, Any]:
    hook = _hook(w, p)
    return {"pk": hook.pk, "delivery_id": w.extras[f"webhooks:failed:{p.pk}"].pk}


def _hook_data(w: World) -> dict[str, Any]:
    return {"url": HOOK_URL, "events": [EventKind.PROJECT_SUBMITTED, EventKind.DECISION_MADE], "is_active": "on"}


ROWS: dict[str, Row] = {
    "webhook-list": Row(get=per_role(LOGIN, 200, 200, 200, 200)),
    "webhook-new": Row(
        get=per_role(LOGIN, 200, 200, 403, 200),
        post=per_role(LOGIN, 302, 200, 403, 302),
        data=lambda w: {**_hook_data(w), "project": w.projects["draft"].pk},
    ),
    "webhook-detail": Row(get=MANAGERS, kwargs=_hook_kwargs, project_scoped=True),
    "webhook-edit": Row(get=MANAGERS, post=MANAGERS_POST, kwargs=_hook_kwargs, data=_hook_data, project_scoped=True),
    "webhook-delete": Row(
        get=POST_ONLY,
        post=per_role(LOGIN, Redirect("webhook-list"), 404, 404, Redirect("webhook-list")),
        kwargs=_hook_kwargs,
        project_scoped=True,
    ),
    "webhook-rotate": Row(get=POST_ONLY, post=MANAGERS_POST, kwargs=_hook_kwargs, project_scoped=True),
    "webhook-test": Row(get=POST_ONLY, post=MANAGERS_POST, kwargs=_hook_kwargs, project_scoped=True),
    "webhook-redeliver": Row(get=POST_ONLY, post=MANAGERS_POST, kwargs=_redeliver_kwargs, project_scoped=True),
}
