"""What a person may set on an audit, and what its metrics are called in words.

Each audit module (`audits.engine.<audit>`) declares, beside its default parameters
(`DEFAULTS` or `DEFAULT_PARAMS`):

- `THRESHOLDS: dict[str, Setting]`: the parameters a person may set on the project's
  thresholds form, each with its type, bounds and a human label. Every key is a key of the
  defaults. Parameters of the defaults that are not in THRESHOLDS are compute settings
  (block sizes, seeds, thread counts, sample caps): they are never on the form, and a stored
  value for them is ignored.
- `METRIC_LABELS: dict[str, str]`: metric code name -> a phrase a clinician can read
  ("files marked synthetic without the generating equipment"); the pages show the phrase and
  keep the code name in a tooltip.

`Setting.check` is the one validation: the form calls it so that an invalid value is refused
on the form, and the engine's own `resolve_params` may call it too, so the form can never
accept a value that the engine would refuse at run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["int", "float", "bool", "choice"]


@dataclass(frozen=True)
class Setting:
    """One parameter a person may set: its type, bounds (inclusive) or choices, and words."""

    label: str  # what the field is called on the form, in words
    kind: Kind
    low: float | None = None  # inclusive bounds for "int" and "float"
    high: float | None = None
    choices: tuple[tuple[str, str], ...] = ()  # (value, label) for "choice"
    help: str = ""  # one sentence: what raising or lowering it does
    unit: str = ""  # shown after the field ("%", "px", "images")
    allow_none: bool = False  # None is a meaningful value ("off", "no limit")

    def check(self, name: str, value: Any) -> Any:
        """The value in its canonical type, or ValueError naming the parameter and the rule."""
        if value is None:
            if self.allow_none:
                return None
            raise ValueError(f"{self.label} ({name}) needs a value")
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{self.label} ({name}) must be true or false, got {value!r}")
            return value
        if self.kind == "choice":
            allowed = [choice for choice, _ in self.choices]
            if value not in allowed:
                raise ValueError(f"{self.label} ({name}) must be one of {', '.join(allowed)}, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.label} ({name}) must be a number, got {value!r}")
        if self.kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{self.label} ({name}) must be a whole number, got {value!r}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{self.label} ({name}) must be a finite number, got {value!r}")
        if self.low is not None and value < self.low:
            raise ValueError(f"{self.label} ({name}) must be at least {self.low:g}, got {value!r}")
        if self.high is not None and value > self.high:
            raise ValueError(f"{self.label} ({name}) must be at most {self.high:g}, got {value!r}")
        return value


def check_thresholds(audit: str, thresholds: dict[str, Setting], params: dict[str, Any]) -> dict[str, Any]:
    """`params` with every declared threshold checked; ValueError naming the audit on the first bad one."""
    checked = dict(params)
    for name, setting in thresholds.items():
        if name in checked:
            try:
                checked[name] = setting.check(name, checked[name])
            except ValueError as error:
                raise ValueError(f"{audit}: {error}") from None
    return checked
