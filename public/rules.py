"""Permission predicates of the public app (django-rules, autodiscovered).

The register's setting and the triage of questions and objections are the board's
(administrators). A question or objection about a project is answered by that project's
researcher, when the board asks (public.selectors.objections.objection_for_owner says which
objections the researcher may read).
"""

from __future__ import annotations

from typing import Any

import rules

from reviews.rules import is_admin, is_project_owner


@rules.predicate
def is_objection_project_owner(user: Any, objection: Any) -> bool:
    return objection is not None and bool(is_project_owner(user, objection.project))


can_manage_register = is_admin
can_triage_objection = is_admin
can_respond_objection = is_objection_project_owner

rules.add_perm("public.manage_register", can_manage_register)
rules.add_perm("public.triage_objection", can_triage_objection)
rules.add_perm("public.respond_objection", can_respond_objection)
