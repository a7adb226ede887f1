"""The thresholds form: one field per threshold the engine declares (audits.engine.schema).

Fields are named `<audit>__<parameter>`; a threshold that can be switched off (allow_none)
has a second field, the check box `<audit>__<parameter>__off`. An empty field means the
engine's default. Each value goes through its declaration's `Setting.check`, and each audit's
values together through the engine's own `resolve_params`, so the form refuses, naming the
field, anything a run would refuse. Compute settings (block sizes, seeds, sample caps, thread
counts) are not declared as thresholds, so they are never on the form. Names that are not
fields are ignored, as Django forms do, so nothing posted outside the form is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.utils.html import format_html
from django.utils.safestring import SafeString

from audits import metric_labels
from audits.engine.schema import Setting
from audits.enums import AuditName
from audits.thresholds import check_combination, declared_thresholds, default_thresholds

AUDIT_LABELS = dict(AuditName.choices)
OFF_SUFFIX = "__off"


def field_name(audit: str, parameter: str) -> str:
    return f"{audit}__{parameter}"


def value_text(setting: Setting, value: Any) -> str:
    """A threshold's value as the page shows it: 'off', 'yes', a choice's words, a number."""
    if value is None:
        return "off"
    if setting.kind == "bool":
        return "yes" if value else "no"
    if setting.kind == "choice":
        return dict(setting.choices).get(value, str(value))
    text = str(value) if isinstance(value, int) else f"{value:.6g}"
    return f"{text} {metric_labels.unit(setting.unit)}".strip()


SHOWN = ".6g"  # a float as the form shows it: six significant digits
_NO_LIMIT = 1e6  # a bound this far out only guards against nonsense; it is not worth a word


def _bounds(setting: Setting) -> str:
    low = setting.low if setting.low is not None and abs(setting.low) < _NO_LIMIT else None
    high = setting.high if setting.high is not None and abs(setting.high) < _NO_LIMIT else None
    if low is not None and high is not None:
        return f"from {low:g} to {high:g}"
    if low is not None:
        return f"at least {low:g}"
    if high is not None:
        return f"at most {high:g}"
    return ""


def _help(audit: str, parameter: str, setting: Setting, default: Any) -> SafeString:
    facts = [f"Default {value_text(setting, default)}"]
    if setting.kind in ("int", "float") and _bounds(setting):
        facts.append(_bounds(setting))
    if setting.allow_none:
        facts.append("tick Off to switch this rule off")
    return format_html(
        '{} {}. <span class="text-nowrap metric-code">Code <code>{}</code></span>',
        metric_labels.explain(parameter, audit),
        "; ".join(facts),
        parameter,
    )


def _number_attrs(setting: Setting) -> dict[str, Any]:
    attrs: dict[str, Any] = {"step": "1" if setting.kind == "int" else "any", "inputmode": "decimal"}
    if setting.low is not None:
        attrs["min"] = f"{setting.low:g}"
    if setting.high is not None:
        attrs["max"] = f"{setting.high:g}"
    return attrs


def threshold_field(audit: str, parameter: str, setting: Setting, default: Any, value: Any) -> forms.Field:
    """The form field of one declared threshold, showing `value` (the one in force), in the
    words of audits.metric_labels."""
    words = metric_labels.label(parameter, audit)
    shown_unit = metric_labels.unit(setting.unit)
    unit = f" ({shown_unit})" if shown_unit and setting.kind in ("int", "float") and shown_unit not in words else ""
    options: dict[str, Any] = {
        "label": words + unit,
        "required": False,
        "help_text": _help(audit, parameter, setting, default),
    }
    if setting.kind == "bool":
        return forms.TypedChoiceField(
            choices=[("true", "Yes"), ("false", "No")],
            coerce=lambda text: text == "true",
            empty_value=None,
            initial=None if value is None else ("true" if value else "false"),
            error_messages={"invalid_choice": f"{words}: choose yes or no."},
            **options,
        )
    if setting.kind == "choice":
        return forms.ChoiceField(
            choices=list(setting.choices),
            initial=value,
            error_messages={"invalid_choice": f"{words}: choose one of the listed values."},
            **options,
        )
    shown = value if value is not None else default
    if setting.kind == "int":
        return forms.IntegerField(
            initial=shown,
            widget=forms.NumberInput(attrs=_number_attrs(setting)),
            error_messages={"invalid": f"{words} ({parameter}): enter a whole number."},
            **options,
        )
    return forms.FloatField(
        initial=None if shown is None else format(float(shown), SHOWN),
        widget=forms.NumberInput(attrs=_number_attrs(setting)),
        error_messages={"invalid": f"{words} ({parameter}): enter a number."},
        **options,
    )


def _in_words(audit: str, name: str, setting: Setting, message: str) -> str:
    """The engine's refusal, naming the threshold as the form does (audits.metric_labels)."""
    return message.replace(f"{setting.label} ({name})", f"{metric_labels.label(name, audit)} ({name})", 1)


def _same_as_shown(setting: Setting, value: Any, in_force: Any) -> bool:
    numbers = (int, float)
    if setting.kind != "float" or not isinstance(value, numbers) or not isinstance(in_force, numbers):
        return False
    return format(float(value), SHOWN) == format(float(in_force), SHOWN)


def _engine_words(audit: str, error: ValueError) -> str:
    """The engine's message without its own "<audit>: " prefix (the form names the audit itself)."""
    text = str(error)
    return text[len(audit) + 2 :] if text.startswith(f"{audit}: ") else text


def _culprits(audit: str, values: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """The thresholds a refused combination involves, asked of the engine itself: each value
    whose reset to the default satisfies the rule; when no single reset does, every value that
    differs from its default. The engine's messages need not name their parameters."""
    changed = [name for name in values if values[name] != defaults[name]]
    culprits = []
    for name in changed:
        try:
            check_combination(audit, {**values, name: defaults[name]})
        except ValueError:
            continue
        culprits.append(name)
    return culprits or changed or list(values)


@dataclass
class ThresholdRow:
    """One threshold on the page: its field (and Off box), the value in force, its code name."""

    code: str
    setting: Setting
    value: forms.BoundField
    off: forms.BoundField | None
    current: str
    default: str


@dataclass
class AuditFields:
    """One audit's section of the form."""

    audit: str
    label: str
    rows: list[ThresholdRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # rules between the audit's values


class ThresholdsForm(forms.Form):
    def __init__(self, *args: Any, current: dict[str, dict[str, Any]] | None = None, **kwargs: Any) -> None:
        """`current`: audit -> threshold -> the value in force (the project's, frozen or default)."""
        super().__init__(*args, **kwargs)
        current = current or {}
        self.declared = declared_thresholds()
        self.defaults = default_thresholds()
        self.current = {
            audit: {name: current.get(audit, {}).get(name, self.defaults[audit][name]) for name in settings}
            for audit, settings in self.declared.items()
        }
        self.section_errors: dict[str, list[str]] = {}
        self._values: dict[str, dict[str, Any]] = {}
        for audit, settings in self.declared.items():
            for name, setting in settings.items():
                value = self.current[audit][name]
                self.fields[field_name(audit, name)] = threshold_field(
                    audit, name, setting, self.defaults[audit][name], value
                )
                if setting.allow_none and setting.kind in ("int", "float"):
                    self.fields[field_name(audit, name) + OFF_SUFFIX] = forms.BooleanField(
                        label="Off", required=False, initial=value is None
                    )

    def disable(self) -> None:
        for bound in self.fields.values():
            bound.disabled = True

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for audit, settings in self.declared.items():
            values: dict[str, Any] = {}
            for name, setting in settings.items():
                key = field_name(audit, name)
                if key in self.errors:
                    continue
                raw = cleaned.get(key)
                if cleaned.get(key + OFF_SUFFIX):
                    raw = None
                elif raw is None or raw == "":
                    raw = self.defaults[audit][name]
                in_force = self.current[audit][name]
                if _same_as_shown(setting, raw, in_force):
                    raw = in_force  # re-saving a rounded value keeps the exact one (log 2, say)
                try:
                    values[name] = setting.check(name, raw)
                except ValueError as error:
                    self.add_error(key, _in_words(audit, name, setting, str(error)))
            if len(values) < len(settings):
                continue
            try:
                check_combination(audit, values)
            except ValueError as error:
                self._refuse_combination(audit, settings, values, _engine_words(audit, error))
                continue
            self._values[audit] = values
        return cleaned

    def _refuse_combination(self, audit: str, settings: dict[str, Setting], values: dict[str, Any], words: str) -> None:
        """A rule between values (a warn bound beyond its fail bound): the error goes on each field
        that the rule involves, and once more at the top of the audit's section."""
        for name in _culprits(audit, values, self.defaults[audit]):
            self.add_error(field_name(audit, name), f"{metric_labels.label(name, audit)} ({name}): {words}")
        message = f"{AUDIT_LABELS.get(audit, audit)}: {words}"
        self.section_errors.setdefault(audit, []).append(message)
        self.add_error(None, message)

    def audit_sections(self) -> list[AuditFields]:
        sections = []
        for audit, settings in self.declared.items():
            rows = [
                ThresholdRow(
                    code=name,
                    setting=setting,
                    value=self[field_name(audit, name)],
                    off=self[field_name(audit, name) + OFF_SUFFIX]
                    if field_name(audit, name) + OFF_SUFFIX in self.fields
                    else None,
                    current=value_text(setting, self.current[audit][name]),
                    default=value_text(setting, self.defaults[audit][name]),
                )
                for name, setting in settings.items()
            ]
            label = AUDIT_LABELS.get(audit, audit)
            sections.append(AuditFields(audit, label, rows, self.section_errors.get(audit, [])))
        return sections

    def values(self) -> dict[str, dict[str, Any]]:
        """The cleaned values as audit -> threshold -> value; an empty field takes the default."""
        return {audit: dict(values) for audit, values in self._values.items()}
