"""A project's own audit thresholds (AuditConfig): the one write.

What may be set is what the engine declares (audits.thresholds, audits.engine.schema): each
audit's THRESHOLDS, with type, bounds and words. A project stores only the values that differ
from the engine's defaults, so a default changed in a later engine version reaches every
project that did not choose its own.

Thresholds are frozen with the round: once the project is submitted they change only when
the researcher may edit the project again (changes requested, an amendment). Submission
records the thresholds in force in the round's snapshot (audits.receivers), and runs while
the project is frozen use those (audits.selectors.current_thresholds).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audits.engine.schema import Setting
from audits.models import AuditConfig
from audits.thresholds import check_combination, declared_thresholds, default_thresholds
from reviews.enums import Action, ProjectStatus
from reviews.models import Project, User
from reviews.services.activity import activity_record


class UnknownParameter(ValueError):
    """A name that is not a threshold of the audits (unknown, or a compute setting)."""


class ThresholdsFrozen(Exception):
    """The project was submitted: its thresholds are those of its round until it is editable again."""

    def __init__(self, project: Project) -> None:
        round_number = project.rounds.order_by("-number").values_list("number", flat=True).first()
        frozen = f"frozen with round {round_number}" if round_number else "frozen"
        if project.status == ProjectStatus.APPROVED:
            when = "open an amendment to change them"
        elif project.status in {ProjectStatus.REJECTED, ProjectStatus.WITHDRAWN}:
            when = "the project has ended"
        else:
            when = "they can change again when reviewers request changes"
        super().__init__(
            f"The thresholds are {frozen} while the project is {project.get_status_display().lower()}: "
            f"{when}. Nothing was saved."
        )


def _checked(
    values: dict[str, dict[str, Any]], declared: dict[str, dict[str, Setting]], defaults: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    checked: dict[str, dict[str, Any]] = {}
    for audit, params in values.items():
        for name, value in params.items():
            if audit not in declared or name not in declared[audit]:
                raise UnknownParameter(f"{audit}.{name} is not a threshold of the audits")
            checked.setdefault(audit, {})[name] = declared[audit][name].check(name, value)
        check_combination(audit, {**defaults[audit], **checked.get(audit, {})})
    return checked


def _flat(params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        f"{audit}.{name}": value for audit, values in sorted(params.items()) for name, value in sorted(values.items())
    }


@transaction.atomic
def audit_config_update(*, project: Project, actor: User, values: dict[str, dict[str, Any]]) -> AuditConfig:
    """Store a project's thresholds: only those that differ from the engine's defaults.

    `values` maps audit -> threshold -> value; a threshold left out takes its default, and
    stored values that are not thresholds (older rows) are dropped. ValueError (naming the
    threshold) for an invalid value, ThresholdsFrozen once the project is submitted. The
    project row is locked, so a save racing a submission either lands before the round
    freezes or is refused, and two saves in flight log two true before/after pairs.
    """
    declared, defaults = declared_thresholds(), default_thresholds()
    checked = _checked(values, declared, defaults)
    locked = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    if not locked.is_editable:
        raise ThresholdsFrozen(locked)
    chosen = {
        audit: {name: value for name, value in sorted(params.items()) if value != defaults[audit][name]}
        for audit, params in sorted(checked.items())
    }
    chosen = {audit: params for audit, params in chosen.items() if params}
    config = AuditConfig.objects.filter(project=locked).first()
    before = _flat(config.params if config else {})
    after = _flat(chosen)
    changed = sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))
    if not changed:
        return config or AuditConfig(project=locked, params={}, updated_by=actor)
    if config is None:
        config = AuditConfig.objects.create(project=locked, params=chosen, updated_by=actor)
    else:
        config.params = chosen
        config.updated_by = actor
        config.save(update_fields=["params", "updated_by", "updated_at"])
    # The history shows effective values: a threshold back at its default shows the default.
    in_force = _flat(defaults)
    old = {key: before.get(key, in_force.get(key)) for key in changed}
    new = {key: after.get(key, in_force.get(key)) for key in changed}
    activity_record(actor=actor, action=Action.CHANGE, obj=config, project=locked, old=old, new=new)
    return config
