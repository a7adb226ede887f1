"""Permission predicates of the webhooks app (django-rules, autodiscovered).

A hook is managed by the owner of its project and by administrators; a hook on every
project (no project) is an administrator's. Whoever may not manage a hook does not see it
(404), so a researcher who no longer owns the project loses its hooks with it. Objections
reach the owner only once the board asks them, so only administrators subscribe to them.
"""

from __future__ import annotations

from typing import Any

import rules

from reviews.rules import is_admin, is_project_owner, is_researcher, is_verified


@rules.predicate
def is_hook_project_owner(user: Any, hook: Any) -> bool:
    return bool(hook is not None and hook.project_id is not None and is_project_owner(user, hook.project))


can_register_hooks = (is_researcher & is_verified) | is_admin
can_manage_hook = is_hook_project_owner | is_admin
can_hook_project = is_project_owner | is_admin  # (user, project): a hook on this project
can_hook_every_project = is_admin
can_subscribe_objections = is_admin

rules.add_perm("webhooks.add_webhook", can_register_hooks)
rules.add_perm("webhooks.manage_webhook", can_manage_hook)
rules.add_perm("webhooks.hook_project", can_hook_project)
rules.add_perm("webhooks.hook_every_project", can_hook_every_project)
rules.add_perm("webhooks.subscribe_objections", can_subscribe_objections)
