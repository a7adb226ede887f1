"""Permission predicates of the audits app (django-rules), built on the project predicates.

Seeing a project's audits is `reviews.view_project`. Running the suite again and changing a
project's thresholds are for its researcher and for admins, whatever the project's status:
neither touches a frozen round, whose audit evidence is the result digests it recorded.
"""

from __future__ import annotations

import rules

from reviews.rules import is_admin, is_project_owner

can_run_audits = is_project_owner | is_admin
can_change_audit_thresholds = is_project_owner | is_admin

rules.add_perm("audits.run_audits", can_run_audits)
rules.add_perm("audits.change_thresholds", can_change_audit_thresholds)
