"""The thresholds form refuses exactly what the engine would refuse at run time, naming the field.

Iterates over every audit's declared THRESHOLDS: each value beyond its bounds, and pairs of
values of one audit at their bounds (where warn/fail orderings live), through the form and
through the engine's own checks (`Setting.check`, `check_thresholds` and `resolve_params`).
"""

from __future__ import annotations

import importlib
import itertools
from typing import Any

import pytest

from audits import metric_labels
from audits.engine.schema import Setting, check_thresholds
from audits.forms_thresholds import OFF_SUFFIX, ThresholdsForm, field_name
from audits.thresholds import declared_thresholds, default_thresholds, usable_thresholds

DECLARED = declared_thresholds()
DEFAULTS = default_thresholds()
NUMERIC = [
    (audit, name, setting)
    for audit, settings in DECLARED.items()
    for name, setting in settings.items()
    if setting.kind in ("int", "float")
]


def _engine_accepts(audit: str, values: dict[str, Any]) -> bool:
    try:
        check_thresholds(audit, DECLARED[audit], values)
        importlib.import_module(f"audits.engine.{audit}").resolve_params(dict(values))
    except ValueError:
        return False
    return True


def _post(audit: str, values: dict[str, Any]) -> dict[str, str]:
    data: dict[str, str] = {}
    for name, setting in DECLARED[audit].items():
        value = values.get(name, DEFAULTS[audit][name])
        key = field_name(audit, name)
        if value is None:
            if setting.allow_none and setting.kind in ("int", "float"):
                data[key + OFF_SUFFIX] = "on"
        elif setting.kind == "bool":
            data[key] = "true" if value else "false"
        else:
            data[key] = repr(value) if isinstance(value, float) else str(value)
    return data


def _candidates(setting: Setting) -> list[Any]:
    """The extremes, where orderings between two values are broken or held, and off."""
    if setting.kind == "bool":
        return [True, False]
    if setting.kind == "choice":
        return [choice for choice, _ in setting.choices]
    assert setting.low is not None and setting.high is not None
    values: list[Any] = [setting.low, setting.high]
    if setting.kind == "int":
        values = [int(value) for value in values]
    return [*values, None] if setting.allow_none else values


def test_every_numeric_threshold_has_bounds_to_test():
    assert NUMERIC, "no audit declares a numeric threshold"
    assert all(setting.low is not None and setting.high is not None for _a, _n, setting in NUMERIC)


@pytest.mark.parametrize(("audit", "name", "setting"), NUMERIC, ids=[f"{a}.{n}" for a, n, _s in NUMERIC])
def test_a_value_beyond_its_bounds_is_an_error_on_its_own_field(audit, name, setting):
    assert setting.low is not None and setting.high is not None
    step = 1 if setting.kind == "int" else max(abs(setting.high - setting.low) * 1e-3, 1e-12)
    for value in (setting.low - step, setting.high + step):
        form = ThresholdsForm(_post(audit, {name: value}))
        assert not form.is_valid()
        assert not _engine_accepts(audit, {**DEFAULTS[audit], name: value})
        errors = form.errors.get(field_name(audit, name))
        assert errors, f"{audit}.{name}={value!r}: no error on its field; errors: {form.errors.as_data()}"
        assert f"({name})" in errors[0] and metric_labels.label(name, audit) in errors[0]
        assert set(form.errors) <= {field_name(audit, name), "__all__"}


PAIRS = [
    (audit, first, second)
    for audit, settings in DECLARED.items()
    for first, second in itertools.combinations(settings, 2)
    if settings[first].kind != "bool" and settings[second].kind != "bool"
]


@pytest.mark.parametrize(("audit", "first", "second"), PAIRS, ids=[f"{a}.{f}+{s}" for a, f, s in PAIRS])
def test_pairs_of_values_pass_the_form_exactly_when_the_engine_takes_them(audit, first, second):
    settings = DECLARED[audit]
    for one, two in itertools.product(_candidates(settings[first]), _candidates(settings[second])):
        values = {**DEFAULTS[audit], first: one, second: two}
        form = ThresholdsForm(_post(audit, values))
        accepted = _engine_accepts(audit, values)
        assert form.is_valid() == accepted, f"{audit} {first}={one!r} {second}={two!r}: {form.errors.as_data()}"
        if accepted:
            saved = form.values()
            assert _engine_accepts(audit, saved.get(audit, {}))
            _effective, set_aside = usable_thresholds(saved)
            assert set_aside == []
        else:
            named = {field_name(audit, first), field_name(audit, second)} & set(form.errors)
            assert named, f"{audit} {first}={one!r} {second}={two!r}: the error names neither field"


def test_a_warn_bound_beyond_its_fail_bound_is_marked_on_the_field_that_was_changed():
    form = ThresholdsForm({"representation__tvd_fail": "0.01"})
    assert not form.is_valid()
    (error,) = form.errors[field_name("representation", "tvd_fail")]
    assert error.startswith(f"{metric_labels.label('tvd_fail', 'representation')} (tvd_fail): ")
    assert "tvd_warn" in error and field_name("representation", "tvd_warn") not in form.errors
