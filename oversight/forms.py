"""The dashboard's filters: guideline version, modality, synthesis task, first-submission dates.

A GET form: its values travel in the URL (so a view of the board can be bookmarked or sent),
and an invalid value is named and left out rather than failing the page.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from oversight.selectors import BoardFilters
from reviews.enums import Modality, SynthesisTask, VersionStatus
from reviews.models import GuidelineVersion


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj)


# A range that holds every first submission, with room around it: at the ends of what Python holds
# (9999-12-31) the day after a "until" date overflowed and the board answered 500.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
_DAY_RANGE = f"Enter a date from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}."
DAY_VALIDATORS = [MinValueValidator(FIRST_DAY, _DAY_RANGE), MaxValueValidator(LAST_DAY, _DAY_RANGE)]


class BoardFilterForm(forms.Form):
    version = VersionChoiceField(
        label="Guideline version",
        queryset=GuidelineVersion.objects.filter(status=VersionStatus.PUBLISHED).select_related("guideline_set"),
        required=False,
        empty_label="All versions",
    )
    modality = forms.ChoiceField(label="Modality", choices=[("", "All modalities"), *Modality.choices], required=False)
    task = forms.ChoiceField(
        label="Synthesis task", choices=[("", "All tasks"), *SynthesisTask.choices], required=False
    )
    submitted_after = forms.DateField(
        label="First submitted from",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="YYYY-MM-DD, inclusive.",
        error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
        validators=DAY_VALIDATORS,
    )
    submitted_before = forms.DateField(
        label="First submitted until",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="YYYY-MM-DD, inclusive.",
        error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
        validators=DAY_VALIDATORS,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "filter-%s")
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = (
                "form-select form-select-sm"
                if isinstance(field.widget, forms.Select)
                else "form-control form-control-sm"
            )
            field.widget.attrs.setdefault("class", css)
        self.fields["version"].error_messages["invalid_choice"] = (
            "There is no published guideline version with this id."
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        after, before = cleaned.get("submitted_after"), cleaned.get("submitted_before")
        if after and before and after > before:
            self.add_error("submitted_before", "This date is before the “first submitted from” date.")
        return cleaned

    def filters(self) -> BoardFilters:
        """The valid filters; an invalid one is left out (the page names it)."""
        if not self.is_bound:
            return BoardFilters()
        self.is_valid()
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["class"] = f"{attrs.get('class', '')} is-invalid".strip()
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = "filter-errors"
        data = getattr(self, "cleaned_data", {})
        return BoardFilters(
            version=data.get("version"),
            modality=data.get("modality") or "",
            task=data.get("task") or "",
            submitted_after=data.get("submitted_after"),
            submitted_before=data.get("submitted_before"),
        )
