"""Forms of the assignment pages, the reviewer's invitation and the notification list.

They validate what was typed; the services in reviews.services.review decide whether the
change may happen (state, roles, races) and say why not.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from reviews.enums import Role
from reviews.models import Project, User

STATEMENT_MAX = 5000
LATEST_DUE_DAYS = 366


def _statement(label: str, *, required: bool, help_text: str = "", rows: int = 3, **kwargs: Any) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=STATEMENT_MAX,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": rows}),
        **kwargs,
    )


class _ReviewerField(forms.ModelChoiceField):
    """Any posted value that is not an assignable reviewer's id gets the one message naming the
    field (Django's own "Null characters are not allowed." names nothing)."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class AssignForm(forms.Form):
    """One suggested reviewer and a due date. The reviewer is a hidden field, so it is checked
    against the people who may be assigned to this project: never its own researcher."""

    reviewer = _ReviewerField(
        queryset=User.objects.none(),
        widget=forms.HiddenInput,
        error_messages={
            "required": "Reviewer: choose a reviewer to assign.",
            "invalid_choice": "Reviewer: this person cannot be assigned to this project (only an active reviewer "
            "who is not the project's researcher can).",
        },
    )
    due_date = forms.DateField(
        label="Due date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"required": "Give a due date.", "invalid": "Enter the due date as YYYY-MM-DD."},
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ModelChoiceField, self.fields["reviewer"])
        field.queryset = User.objects.filter(role=Role.REVIEWER, is_active=True).exclude(pk=project.owner_id)

    def clean_due_date(self) -> date:
        due: date = self.cleaned_data["due_date"]
        today = timezone.localdate()
        if due < today:
            raise ValidationError("The due date is in the past.")
        if due > today + timedelta(days=LATEST_DUE_DAYS):
            raise ValidationError("Choose a due date within a year.")
        return due


class RemoveForm(forms.Form):
    reason = _statement(
        "Reason for removing",
        required=True,
        rows=2,
        help_text="Recorded in the project's history, e.g. a declared conflict or no response.",
        error_messages={"required": "Say why the reviewer is removed."},
    )


CONFLICT_NONE = "none"
CONFLICT_DECLARE = "declare"


class AcceptForm(forms.Form):
    """Accepting always says something about conflicts: none, or which."""

    conflict = forms.ChoiceField(
        label="Conflict of interest",
        choices=[
            (CONFLICT_NONE, "I have no conflict of interest with this project or its researcher"),
            (CONFLICT_DECLARE, "I have a conflict of interest to declare"),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": "Say whether you have a conflict of interest."},
    )
    conflict_statement = _statement(
        "Conflict of interest statement",
        required=False,
        help_text="A declared conflict is shown to the administrators; you can read the project but not review or sign it.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        statement = data.get("conflict_statement", "")
        if data.get("conflict") == CONFLICT_DECLARE and not statement:
            self.add_error("conflict_statement", "Describe the conflict of interest you declare.")
        if data.get("conflict") == CONFLICT_NONE and statement:
            self.add_error(
                "conflict_statement",
                "You chose “no conflict” but wrote a statement: choose “I have a conflict of interest to declare” "
                "or clear the statement.",
            )
        return data


class DeclineForm(forms.Form):
    decline_reason = _statement("Reason for declining (optional)", required=False, rows=2)


class ConflictForm(forms.Form):
    statement = _statement(
        "Conflict of interest found since accepting",
        required=True,
        help_text="Once declared you can no longer review or sign this project; the administrators are told.",
        error_messages={"required": "Describe the conflict of interest."},
    )


class NotificationReadForm(forms.Form):
    """Mark one notification read (with `notification`) or all of them (without)."""

    notification = forms.IntegerField(
        label="Notification",
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        widget=forms.HiddenInput,
        error_messages={"invalid": "not a notification number."},
    )
    next = forms.CharField(label="Page to return to", required=False, max_length=2000, widget=forms.HiddenInput)

    def error_summary(self) -> str:
        """Every error with the name of its field (the fields are hidden, so no form shows them)."""
        return " ".join(
            f"{self.fields[name].label if name in self.fields else 'Form'}: {error}"
            for name, errors in self.errors.items()
            for error in errors
        )
