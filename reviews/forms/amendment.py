from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from reviews.forms import LONG_TEXT


class AmendForm(forms.Form):
    """Opening an amendment of an approved project: why, in words the reviewers will read."""

    reason = forms.CharField(
        label="Why amend the approved project?",
        max_length=LONG_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Say why the project is amended."},
        help_text="What changes and why. Shown to the reviewers of the next round and kept in the project's history.",
    )

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise ValidationError("Say why the project is amended.")
        return reason
