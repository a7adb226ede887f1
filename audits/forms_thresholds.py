"""The thresholds form: one number field per numeric parameter of each audit.

Fields are named `<audit>__<parameter>`. A blank field means the engine's default; the
service stores only values that differ from it. Names that are not fields are ignored, as
Django forms do, so nothing posted outside the form reaches the stored parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms

from audits.enums import AuditName
from audits.services.config import audit_defaults, is_number_parameter, parameter_limit

AUDIT_LABELS = dict(AuditName.choices)


def field_name(audit: str, parameter: str) -> str:
    return f"{audit}__{parameter}"


def number_text(value: int | float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def parameter_label(parameter: str) -> str:
    return parameter.replace("_", " ").capitalize()


@dataclass
class AuditFields:
    """One audit's section of the form."""

    audit: str
    label: str
    fields: list[forms.BoundField] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)  # parameters that are not a single number


class ThresholdsForm(forms.Form):
    def __init__(self, *args: Any, stored: dict[str, dict[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = stored or {}
        self.defaults = audit_defaults()
        self.sections: list[tuple[str, list[str], list[str]]] = []
        for audit, params in self.defaults.items():
            names, fixed = [], []
            for parameter, default in params.items():
                if not is_number_parameter(default):
                    fixed.append(parameter)
                    continue
                name = field_name(audit, parameter)
                self.fields[name] = self._field(parameter, default, stored.get(audit, {}).get(parameter))
                names.append(name)
            self.sections.append((audit, names, fixed))

    @staticmethod
    def _field(parameter: str, default: int | float, chosen: Any) -> forms.Field:
        options: dict[str, Any] = {
            "label": parameter_label(parameter),
            "required": False,
            "min_value": 0,
            "initial": chosen if chosen is not None else default,
        }
        if isinstance(default, int):
            whole = int(parameter_limit(default))
            return forms.IntegerField(max_value=whole, help_text=f"Default {default}; 0 to {whole}.", **options)
        limit = parameter_limit(default)
        help_text = f"Default {number_text(default)}; 0 to {number_text(limit)}."
        return forms.FloatField(max_value=limit, help_text=help_text, **options)

    def audit_sections(self) -> list[AuditFields]:
        return [
            AuditFields(audit=audit, label=AUDIT_LABELS.get(audit, audit), fields=[self[n] for n in names], fixed=fixed)
            for audit, names, fixed in self.sections
        ]

    def values(self) -> dict[str, dict[str, int | float]]:
        """The cleaned values as audit -> parameter -> number; a blank field takes the default."""
        values: dict[str, dict[str, int | float]] = {}
        for audit, names, _fixed in self.sections:
            for name in names:
                parameter = name.split("__", 1)[1]
                value = self.cleaned_data.get(name)
                values.setdefault(audit, {})[parameter] = self.defaults[audit][parameter] if value is None else value
        return values
