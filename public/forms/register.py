"""Forms of the public register: the board's setting, the register's search, and the
listing choice on the submission page."""

from __future__ import annotations

from typing import Any

from django import forms

from public.models import Listing, RegisterSettings
from reviews.enums import Modality, SynthesisTask

LISTING_LABEL = "List this project on the public register once it is approved"


class RegisterSettingsForm(forms.ModelForm):
    class Meta:
        model = RegisterSettings
        fields = ["listing", "show_signer_names"]
        widgets = {"listing": forms.RadioSelect}
        labels = {"listing": "Listing on the public register"}
        help_texts = {
            "listing": "Opt-in and default set how the choice is offered at the next submissions. With listing "
            "mandatory the register shows every approved project, those approved before too, whatever its "
            "researcher chose.",
        }


class RegisterSearchForm(forms.Form):
    """The register's search and filters, kept in the URL (GET). A bad value is a form error
    named on the page, never a 500 and never silently ignored."""

    q = forms.CharField(label="Search titles, summaries and uses", required=False, max_length=200)
    task = forms.ChoiceField(
        label="Synthesis task", required=False, choices=[("", "Any synthesis task"), *SynthesisTask.choices]
    )
    modality = forms.ChoiceField(label="Modality", required=False, choices=[("", "Any modality"), *Modality.choices])

    def clean_q(self) -> str:
        # Django's CharField already refuses null characters, with its own message.
        return str(self.cleaned_data.get("q") or "").strip()


class ListingChoiceForm(forms.Form):
    """The researcher's choice at submission. Its default follows the board's setting; with
    listing mandatory there is no choice to make, and the form says so instead."""

    public_listing = forms.BooleanField(label=LISTING_LABEL, required=False)

    def __init__(self, *args: Any, listing: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.listing = listing
        if listing == Listing.MANDATORY:
            del self.fields["public_listing"]
        else:
            self.fields["public_listing"].initial = listing == Listing.DEFAULT

    @property
    def mandatory(self) -> bool:
        return self.listing == Listing.MANDATORY

    def chosen(self) -> bool:
        """Whether the researcher chose to list the project (call after is_valid). Under
        mandatory listing there was no choice, so nothing is chosen: the register lists the
        project because of the setting (public.selectors.register.register_rounds), and a
        board that later makes listing optional does not find it "chosen"."""
        return not self.mandatory and bool(self.cleaned_data.get("public_listing"))
