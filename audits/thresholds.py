"""What the engine declares a person may set (audits.engine.schema), read for the web app.

Each engine audit module declares `THRESHOLDS` (name -> Setting) beside its defaults and
`METRIC_LABELS` (metric code -> words). A module that declares none yet has no field on the
thresholds form and gets no parameter from a project: the engine then uses its own defaults.

A run receives, per audit, the effective value of every declared threshold (the project's
choice, else the engine's default), never a compute setting (block sizes, seeds, sample caps,
thread counts): those stay the engine's. A stored value that no longer validates (a row
written before a declaration or a bound changed) is not passed on either: the run uses the
default, and `usable_thresholds` says which value was set aside and why, for the page.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from audits.engine.schema import Setting
from audits.enums import AuditName

_DEFAULTS_NAMES = ("DEFAULTS", "DEFAULT_PARAMS")


def _module(audit: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"audits.engine.{audit}")
    except ImportError:
        return None


def audit_defaults() -> dict[str, dict[str, Any]]:
    """Audit name -> its engine module's default parameters; {} for a module without any."""
    defaults: dict[str, dict[str, Any]] = {}
    for audit in AuditName.values:
        module = _module(audit)
        found: Any = next((getattr(module, attr) for attr in _DEFAULTS_NAMES if hasattr(module, attr)), {})
        defaults[audit] = dict(found) if isinstance(found, dict) else {}
    return defaults


def declared_thresholds() -> dict[str, dict[str, Setting]]:
    """Audit name -> the thresholds its module declares, in declaration order ({} when none).

    A declared name that is not a key of the module's defaults is left out: the engine would
    refuse it as an unknown parameter.
    """
    defaults = audit_defaults()
    declared: dict[str, dict[str, Setting]] = {}
    for audit in AuditName.values:
        found = getattr(_module(audit), "THRESHOLDS", None)
        settings = found if isinstance(found, dict) else {}
        declared[audit] = {
            name: setting
            for name, setting in settings.items()
            if isinstance(setting, Setting) and name in defaults[audit]
        }
    return declared


def default_thresholds() -> dict[str, dict[str, Any]]:
    """Audit name -> threshold -> the engine's default value, for the declared thresholds."""
    defaults = audit_defaults()
    return {
        audit: {name: defaults[audit][name] for name in settings} for audit, settings in declared_thresholds().items()
    }


def threshold_labels() -> dict[str, str]:
    """ "audit.parameter" -> the words of each declared threshold."""
    return {
        f"{audit}.{name}": setting.label
        for audit, settings in declared_thresholds().items()
        for name, setting in settings.items()
    }


def check_combination(audit: str, values: dict[str, Any]) -> None:
    """Rules between an audit's values (a warn bound beyond its fail bound): the engine's own
    `resolve_params`, when the module has one, so the form refuses what a run would refuse."""
    resolve = getattr(_module(audit), "resolve_params", None)
    if callable(resolve):
        resolve(dict(values))


@dataclass(frozen=True)
class SetAside:
    """A stored value a run does not use, and why (shown on the thresholds page)."""

    audit: str
    parameter: str
    value: Any
    reason: str

    @property
    def code(self) -> str:
        return f"{self.audit}.{self.parameter}"


def usable_thresholds(stored: Any) -> tuple[dict[str, dict[str, Any]], list[SetAside]]:
    """(the effective thresholds a run receives, the stored values set aside).

    `stored` is audit -> parameter -> value as a project stored it (or a round froze it).
    Every declared threshold gets a value: the stored one when it still validates, else the
    engine's default. Compute settings, unknown names and invalid values are set aside.
    """
    defaults = audit_defaults()
    declared = declared_thresholds()
    effective = default_thresholds()
    aside: list[SetAside] = []
    stored = stored if isinstance(stored, dict) else {}
    for audit, values in sorted(stored.items()):
        if not isinstance(values, dict):
            continue
        if audit not in declared:
            aside += [SetAside(audit, name, value, "not an audit of this engine") for name, value in values.items()]
            continue
        chosen: dict[str, Any] = {}
        for name, value in sorted(values.items()):
            setting = declared[audit].get(name)
            if setting is None:
                if not declared[audit]:
                    reason = "this audit declares no threshold a person may set"
                elif name in defaults[audit]:
                    reason = "a compute setting, not a threshold of this audit"
                else:
                    reason = "not a parameter of this audit"
                aside.append(SetAside(audit, name, value, f"{reason}: the engine's own value is used"))
                continue
            try:
                chosen[name] = setting.check(name, value)
            except ValueError as error:
                aside.append(SetAside(audit, name, value, f"{error}: the default is used"))
        try:
            if chosen:
                check_combination(audit, {**effective[audit], **chosen})
        except ValueError as error:
            aside += [SetAside(audit, name, value, f"{error}: the defaults are used") for name, value in chosen.items()]
            continue
        effective[audit].update(chosen)
    return {audit: values for audit, values in effective.items() if values}, aside


def metric_labels(audit: str) -> dict[str, str]:
    found = getattr(_module(audit), "METRIC_LABELS", None)
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


_PREFIXES = {"n_": "number of ", "frac_": "share of ", "max_": "largest ", "min_": "smallest ", "mean_": "mean "}


def readable(code: str) -> str:
    """A code name in words when no label is declared: 'n_synthetic_no' -> 'Number of synthetic no'."""
    words = code.strip()
    for prefix, said in _PREFIXES.items():
        if words.startswith(prefix):
            words = said + words[len(prefix) :]
            break
    words = words.replace(".", " · ").replace("_", " ")
    return words[:1].upper() + words[1:] if words else code


def metric_label(audit: str, name: str, labels: dict[str, str] | None = None) -> str:
    """The words for a metric (a dotted name for a nested figure: 'by_format.dicom')."""
    labels = metric_labels(audit) if labels is None else labels
    if name in labels:
        return labels[name]
    head, _, rest = name.partition(".")
    if rest and head in labels:
        return f"{labels[head]}: {rest.replace('.', ' · ').replace('_', ' ')}"
    return readable(name)
