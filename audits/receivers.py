"""How the audits app joins the review workflow (reviews.signals), without reviews importing it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.dispatch import receiver

from audits.models import ImageSet
from audits.selectors import current_input_digest, current_thresholds, has_synthetic_set, latest_current_run
from audits.services.runs import audit_run_request
from reviews.signals import round_frozen, round_snapshot_sections


@receiver(round_snapshot_sections)
def image_sets_and_results(sender: Any, *, project: Any, **kwargs: Any) -> dict[str, Any]:
    """A round freezes the manifests of the current image sets, the thresholds in force and the
    latest finished results."""
    sets = [
        {
            "role": image_set.role,
            "digest": image_set.digest,
            "files": image_set.n_files,
            "accepted": image_set.n_accepted,
            "images": image_set.n_images,
            "metadata_sha256": hashlib.sha256(image_set.metadata_csv.encode()).hexdigest(),
            "manifest_sha256": hashlib.sha256(image_set.manifest_text.encode()).hexdigest(),
        }
        for image_set in ImageSet.objects.filter(project=project, is_current=True).order_by("role")
    ]
    run = latest_current_run(project)
    results = None
    if run is not None and run.results:
        results = {
            "run": run.pk,
            "input_digest": run.input_digest,
            "audits": {
                name: {
                    "status": result.get("status"),
                    "sha256": hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest(),
                }
                for name, result in sorted(run.results.items())
            },
        }
    # The thresholds the round is judged by: every declared threshold's value in force. They
    # stay in force while the round is reviewed (audits.services.config refuses changes).
    thresholds, _set_aside = current_thresholds(project)
    # Results that finish after the round froze are bound to it through this digest.
    return {
        "image_sets": sets,
        "audit_results": results,
        "audit_input_digest": current_input_digest(project),
        "audit_thresholds": thresholds,
    }


@receiver(round_frozen)
def queue_suite_on_submission(sender: Any, *, project: Any, round: Any, actor: Any, **kwargs: Any) -> None:
    if has_synthetic_set(project):  # without it every audit is "not computable": nothing to run
        audit_run_request(project=project, actor=actor, reason=f"round {round.number} submitted")
