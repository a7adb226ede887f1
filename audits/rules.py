"""Permission predicates of the audits app (django-rules), built on the project predicates.

Seeing a project's audits is `reviews.view_project`. Running the suite again is for its
researcher and for admins, whatever the project's status: a run never changes a frozen
round, whose audit evidence is the result digests and the thresholds it recorded, and a run
during review uses those same thresholds. Changing the thresholds is for the same people but
only while the researcher may edit the project: once it is submitted they are frozen with
the round (the Audits tab and the round page judge by the same values) until reviewers
request changes or an amendment is opened.
"""

from __future__ import annotations

import rules

from reviews.rules import is_admin, is_project_editable, is_project_owner

can_run_audits = is_project_owner | is_admin
can_change_audit_thresholds = (is_project_owner | is_admin) & is_project_editable

rules.add_perm("audits.run_audits", can_run_audits)
rules.add_perm("audits.change_thresholds", can_change_audit_thresholds)
