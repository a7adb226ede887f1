"""Hooks for apps built on the reviews core (the audits app), so that reviews imports none of them.

Both are sent inside the submitting transaction.
"""

from django.dispatch import Signal

# Receivers return a dict merged into a round's snapshot before it is digested
# (the audits app adds the image-set manifests and the latest audit results).
round_snapshot_sections = Signal()  # kwargs: project

# Sent after a round is frozen (the audits app queues the audit suite).
round_frozen = Signal()  # kwargs: project, round, actor
