"""Forms of the guideline editor (drafts only; the services refuse published versions)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from reviews.enums import AuditKind, Automation
from reviews.models import GuidelineVersion, ReviewPolicy, Stage
from reviews.validators import LONG_TEXT

ITEM_CODE = re.compile(r"^[A-Z]{1,4}-[0-9]{1,3}$")
STAGE_CODE = re.compile(r"^[A-Z]{1,6}$")


def _text(
    label: str, *, required: bool = False, rows: int = 3, help_text: str = "", missing: str = ""
) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=LONG_TEXT,
        widget=forms.Textarea(attrs={"rows": rows}),
        help_text=help_text,
        error_messages={
            "max_length": f"{label} is too long: at most {LONG_TEXT:,} characters (it has %(show_value)d).",
            "required": missing or f"{label} is required.",
        },
    )


def _code(value: str, pattern: re.Pattern[str], example: str) -> str:
    code = value.strip().upper()
    if not pattern.match(code):
        raise ValidationError(f"“{value[:20]}” is not a valid code: use the form {example}.")
    return code


class NotesForm(forms.Form):
    notes = _text("Editor's notes", rows=4, help_text="How this version was compiled. Shown to administrators only.")


class StageForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=6, help_text="Capital letters, e.g. PF. Fixed once the stage exists."
    )
    name = forms.CharField(label="Name", max_length=100)
    description = _text("Description", rows=2)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["code"]

    def clean_code(self) -> str:
        return _code(str(self.cleaned_data["code"]), STAGE_CODE, "PF (one to six capital letters)")

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not name:
            raise ValidationError("Give the stage a name.")
        return name


class ItemForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=8, help_text="Letters, a dash and a number, e.g. EV-12. Fixed once the item exists."
    )
    stage = forms.ModelChoiceField(queryset=Stage.objects.none(), label="Stage", empty_label=None)
    requirement = _text(
        "Requirement", required=True, rows=4, missing="Write the requirement: what the researcher must show."
    )
    rationale = _text("Rationale")
    evidence = _text("Evidence to attach", rows=2)
    required = forms.BooleanField(label="Required for submission", required=False, initial=True)
    audit = forms.ChoiceField(
        label="Bound audit",
        choices=[("", "None"), *AuditKind.choices],
        required=False,
        help_text="The audit whose result is shown beside the item as evidence.",
    )
    automation = forms.ChoiceField(label="Automation", choices=Automation.choices, initial=Automation.MANUAL)
    automation_note = forms.CharField(label="Automation note", max_length=200, required=False)

    def __init__(self, *args: Any, version: GuidelineVersion, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = Stage.objects.filter(version=version).order_by("order")  # type: ignore[attr-defined]
        self.fields["stage"].label_from_instance = lambda stage: f"{stage.code} · {stage.name}"  # type: ignore[attr-defined]
        if editing:
            del self.fields["code"]

    def clean_code(self) -> str:
        return _code(str(self.cleaned_data["code"]), ITEM_CODE, "EV-12 (capital letters, a dash, a number)")

    def clean_requirement(self) -> str:
        requirement = str(self.cleaned_data["requirement"]).strip()
        if not requirement:
            raise ValidationError("Write the requirement: what the researcher must show.")
        return requirement


class PolicyForm(forms.ModelForm):
    class Meta:
        model = ReviewPolicy
        fields = ["approvals_required", "require_technical_and_non_technical", "final_decision", "review_days",
                  "reminder_days"]  # fmt: skip
        labels = {
            "approvals_required": "Approving signatures needed",
            "require_technical_and_non_technical": "At least one technical and one non-technical approval",
            "reminder_days": "Reminder, days before the due date",
            "review_days": "Days to review",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["approvals_required"].min_value = 1  # type: ignore[attr-defined]
        self.fields["approvals_required"].widget.attrs["min"] = 1
        self.fields["approvals_required"].validators.append(_at_least_one("approvals"))
        self.fields["review_days"].validators.append(_at_least_one("review days"))
        for name in ("approvals_required", "review_days", "reminder_days"):
            self.fields[name].validators.append(_at_most(name.replace("_", " "), 365))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        review, reminder = data.get("review_days"), data.get("reminder_days")
        if review is not None and reminder is not None and reminder >= review:
            self.add_error("reminder_days", "Reminders come before the due date: use fewer days than the review days.")
        return data


def _at_least_one(what: str) -> Any:
    def check(value: int) -> None:
        if value < 1:
            raise ValidationError(f"At least 1 of the {what} is needed.")

    return check


def _at_most(what: str, limit: int) -> Any:
    def check(value: int) -> None:
        if value > limit:
            raise ValidationError(f"At most {limit} {what}.")

    return check


class ConfirmForm(forms.Form):
    confirm = forms.BooleanField(
        required=True,
        error_messages={"required": "Tick the box to confirm."},
    )

    def __init__(self, *args: Any, label: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["confirm"].label = label
