"""Forms of the objection channel: the public form (with its honeypot), and the triage and
response forms. Every error names the field and what is wrong."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from public.models import ObjectionKind, Remedy
from reviews.validators import LONG_TEXT


def _required_text(value: object, message: str) -> str:
    text = str(value or "").strip()
    if not text:
        raise ValidationError(message)
    return text


class ObjectionForm(forms.Form):
    """Anyone's question or objection. `website` is a honeypot: hidden from people (a CSS
    class, skipped by screen readers and the keyboard), filled only by robots."""

    kind = forms.ChoiceField(
        label="What are you sending?",
        choices=ObjectionKind.choices,
        initial=ObjectionKind.QUESTION,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose a question or an objection.",
            "invalid_choice": "Choose a question or an objection.",
        },
    )
    text = forms.CharField(
        label="Your question or objection",
        max_length=LONG_TEXT,
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages={"required": "Write your question or objection."},
        help_text="The board reads it, may show it to the project's researcher to ask for a response, and may "
        "publish it on the register (never your name or email).",
    )
    name = forms.CharField(
        label="Your name (optional)", max_length=200, required=False, help_text="Only the board sees it."
    )
    email = forms.EmailField(
        label="Your email (optional)",
        required=False,
        max_length=254,
        error_messages={"invalid": "Enter an email address such as name@example.org, or leave it empty."},
        help_text="We email you the tracking link and each change of status. Only the board sees it.",
    )
    website = forms.CharField(
        label="Leave this field empty",
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    def clean_text(self) -> str:
        return _required_text(self.cleaned_data.get("text"), "Write your question or objection.")

    @property
    def is_robot(self) -> bool:
        return bool(str(self.data.get("website", "")).strip())


# Who reads each reason. A suspension's reason is the upheld objection's, and the public
# register gives it as the reason of the suspension; a reinstatement's is the board's own note.
UPHOLD_HELP = "Shown to the sender and on the public register (with a suspension, as its reason)."
REINSTATE_HELP = "Kept in the project's history; not shown on the public register."


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=LONG_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Give the reason: the sender and the register read it."},
        help_text="Shown to the sender and on the register.",
    )

    def clean_reason(self) -> str:
        return _required_text(self.cleaned_data.get("reason"), "Give the reason: the sender and the register read it.")


class DismissForm(ReasonForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "dismiss")
        super().__init__(*args, **kwargs)
        self.fields["reason"].label = "Why it is dismissed"


class ReinstateForm(ReasonForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "reinstate")
        super().__init__(*args, **kwargs)
        self.fields["reason"].label = "Why the approval is reinstated"
        self.fields["reason"].help_text = REINSTATE_HELP


class UpholdForm(ReasonForm):
    remedy = forms.ChoiceField(
        label="Remedy",
        choices=Remedy.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose the remedy: an amendment or a suspension of the approval.",
            "invalid_choice": "Choose the remedy: an amendment or a suspension of the approval.",
        },
    )
    field_order = ["remedy", "reason"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].label = "Why it is upheld"
        self.fields["reason"].help_text = UPHOLD_HELP


class ResponseForm(forms.Form):
    text = forms.CharField(
        label="Response",
        max_length=LONG_TEXT,
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"required": "Write the response."},
    )

    def clean_text(self) -> str:
        return _required_text(self.cleaned_data.get("text"), "Write the response.")
