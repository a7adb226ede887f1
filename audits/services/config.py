"""A project's own audit parameters (AuditConfig): the engine's defaults, and the one write.

Each engine audit module exposes its default parameters as a module-level dict (DEFAULTS or
DEFAULT_PARAMS). A project stores only the values that differ from those defaults, so a
default changed in a later engine version reaches every project that did not choose its own.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

from django.db import transaction

from audits.enums import AuditName
from audits.models import AuditConfig
from reviews.enums import Action
from reviews.models import Project, User
from reviews.services.activity import activity_record

_DEFAULTS_NAMES = ("DEFAULTS", "DEFAULT_PARAMS")


def audit_defaults() -> dict[str, dict[str, Any]]:
    """Audit name -> its engine module's default parameters; {} for a module without any."""
    defaults: dict[str, dict[str, Any]] = {}
    for name in AuditName.values:
        try:
            module = importlib.import_module(f"audits.engine.{name}")
        except ImportError:
            defaults[name] = {}
            continue
        found: Any = next((getattr(module, attr) for attr in _DEFAULTS_NAMES if hasattr(module, attr)), {})
        defaults[name] = dict(found) if isinstance(found, dict) else {}
    return defaults


def is_number_parameter(default: Any) -> bool:
    """Parameters a person can set as one number: ints and floats (not flags, lists, or None)."""
    return isinstance(default, int | float) and not isinstance(default, bool)


def number_parameters() -> dict[str, dict[str, int | float]]:
    return {
        audit: {name: value for name, value in params.items() if is_number_parameter(value)}
        for audit, params in audit_defaults().items()
    }


def parameter_limit(default: int | float) -> float:
    """The largest accepted value: ten times the default, at least 100.

    Some parameters size the work (neighbours, bootstrap rounds, block rows), so an
    unbounded value could hold a shared worker until its time limit; no threshold that
    makes sense lies that far from its default.
    """
    return max(10 * abs(default), 100)


class UnknownParameter(ValueError):
    """A threshold name that no audit of the engine knows."""


def _check(values: dict[str, dict[str, int | float]], known: dict[str, dict[str, int | float]]) -> None:
    for audit, params in values.items():
        for name, value in params.items():
            if audit not in known or name not in known[audit]:
                raise UnknownParameter(f"{audit}.{name} is not a parameter of the audits")
            default = known[audit][name]
            if isinstance(default, int) and not isinstance(value, int):
                raise ValueError(f"{audit}.{name} must be a whole number")
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{audit}.{name} must be a number")
            if not 0 <= value <= parameter_limit(default):
                raise ValueError(f"{audit}.{name} must be between 0 and {parameter_limit(default):g}")


def _flat(params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        f"{audit}.{name}": value for audit, values in sorted(params.items()) for name, value in sorted(values.items())
    }


@transaction.atomic
def audit_config_update(*, project: Project, actor: User, values: dict[str, dict[str, int | float]]) -> AuditConfig:
    """Store a project's parameters: only those that differ from the engine's defaults.

    `values` maps audit -> parameter -> number; a parameter left out takes its default.
    The project row is locked, so two saves in flight log two true before/after pairs and
    never both create the config row.
    """
    known = number_parameters()
    _check(values, known)
    chosen = {
        audit: {name: value for name, value in sorted(params.items()) if value != known[audit][name]}
        for audit, params in values.items()
    }
    chosen = {audit: params for audit, params in sorted(chosen.items()) if params}
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()  # serialises saves, even the first
    config = AuditConfig.objects.filter(project=project).first()
    before = _flat(config.params if config else {})
    after = _flat(chosen)
    changed = sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))
    if not changed:
        return config or AuditConfig(project=project, params={}, updated_by=actor)
    if config is None:
        config = AuditConfig.objects.create(project=project, params=chosen, updated_by=actor)
    else:
        config.params = chosen
        config.updated_by = actor
        config.save(update_fields=["params", "updated_by", "updated_at"])
    # The history shows effective values: a parameter back at its default shows the default.
    defaults = _flat(known)
    old = {key: before.get(key, defaults.get(key)) for key in changed}
    new = {key: after.get(key, defaults.get(key)) for key in changed}
    activity_record(actor=actor, action=Action.CHANGE, obj=config, project=project, old=old, new=new)
    return config
