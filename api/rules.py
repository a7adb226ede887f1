"""Permission predicates of the api app (django-rules, autodiscovered).

Every signed-in, active account may hold personal API tokens (what a token can then reach is
decided per object by the same predicates as the pages). A token is managed by the account it
belongs to; administrators see and revoke every account's tokens.
"""

from __future__ import annotations

from typing import Any

import rules

from reviews.rules import is_admin


@rules.predicate
def is_active_account(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active)


@rules.predicate
def is_token_holder(user: Any, token: Any) -> bool:
    return bool(token is not None and is_active_account(user) and token.user_id == user.pk)


can_manage_own_tokens = is_active_account
can_manage_all_tokens = is_admin
can_revoke_token = is_token_holder | is_admin

rules.add_perm("api.manage_own_tokens", can_manage_own_tokens)
rules.add_perm("api.manage_all_tokens", can_manage_all_tokens)
rules.add_perm("api.revoke_token", can_revoke_token)
