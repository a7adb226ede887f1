"""Permission predicates of the webhooks app (django-rules, autodiscovered).

A hook that a project's owner registered is managed by that owner, while they own the
project, and by administrators. A hook that an administrator registered (one on every project,
or one on a single project: a board hook) is managed by administrators only, since it may
carry what the owner must not see yet (an objection, before the board asks them). Whoever
may not manage a hook does not see it (404), so a researcher who no longer owns the project
loses its hooks with it. Only administrators subscribe to objections.
webhooks.selectors.hooks_managed_by filters by the same rule.
"""

from __future__ import annotations

from typing import Any

import rules

from reviews.rules import is_admin, is_project_owner, is_researcher, is_verified


@rules.predicate
def is_hook_project_owner(user: Any, hook: Any) -> bool:
    """The owner of the hook's project who registered it: owning the project alone is not
    enough, or an owner would manage the board's hooks on it."""
    return bool(
        hook is not None
        and hook.project_id is not None
        and hook.created_by_id == user.pk
        and is_project_owner(user, hook.project)
    )


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
