from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, UserCreationForm, UsernameField
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat

from reviews.enums import JUSTIFICATION_REQUIRED, AnswerStatus, Modality, Role
from reviews.models import Project, User
from reviews.validators import ACCEPTED_LABEL, LONG_TEXT, ValidatedEvidence, validate_evidence_file

MAX_FILES_PER_ANSWER = 5


def _long_text(**kwargs: Any) -> forms.CharField:
    kwargs.setdefault("max_length", LONG_TEXT)
    kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4}))
    return forms.CharField(**kwargs)


class LoginForm(AuthenticationForm):
    """Django's login form, with the username's length enforced before anything looks it up."""

    username = UsernameField(max_length=150, widget=forms.TextInput(attrs={"autofocus": True}))


class RegistrationForm(UserCreationForm):
    full_name = forms.CharField(max_length=200, help_text="As it should appear on reviews and signatures.")
    email = forms.EmailField(max_length=254)
    affiliation = forms.CharField(max_length=200, help_text="Institution, lab or company.")

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "full_name", "email", "affiliation")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError("An account with this email address already exists.")
        return email


class UserCreateForm(forms.ModelForm):
    """An admin creates an account; its owner chooses the password through an emailed
    invitation (reviews.services.accounts.invitation_send), so no admin ever knows it."""

    class Meta:
        model = User
        fields = ("username", "full_name", "email", "affiliation", "role", "expertise")
        help_texts = {"email": "The invitation to choose a password goes to this address."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.fields["role"].initial = Role.REVIEWER

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise ValidationError("An account with this email address already exists.")
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("role") == Role.REVIEWER and not data.get("expertise"):
            self.add_error("expertise", "A reviewer needs an expertise kind.")
        if data.get("role") != Role.REVIEWER and data.get("expertise"):
            self.add_error("expertise", "Only reviewers have an expertise kind; leave it empty.")
        return data


class UserUpdateForm(UserCreateForm):
    class Meta(UserCreateForm.Meta):
        fields = ("full_name", "email", "affiliation", "role", "expertise", "is_active")


class InvitablePasswordResetForm(PasswordResetForm):
    """Django's reset request, also for an invited account that has not chosen a password yet
    (Django skips those): an invitation that expired is renewed by asking here."""

    def get_users(self, email: str) -> Iterator[User]:
        return iter(User.objects.filter(email__iexact=email, is_active=True))


class ProjectForm(forms.ModelForm):
    modalities = forms.MultipleChoiceField(
        choices=Modality.choices, widget=forms.CheckboxSelectMultiple, help_text="Every modality the images cover."
    )
    summary = _long_text(help_text="What the synthetic images are for, in a few sentences.")
    intended_use = _long_text(help_text="Who uses the synthetic images, in what setting, for what decision.")
    prohibited_uses = _long_text(help_text="E.g. diagnosis, or presenting synthetic images as real patient cases.")
    data_sources = _long_text(help_text="Every training and reference dataset: source, licence, access date.")

    class Meta:
        model = Project
        fields = (
            "title",
            "summary",
            "synthesis_task",
            "modalities",
            "generator_family",
            "intended_use",
            "prohibited_uses",
            "data_sources",
        )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input. Empty files pass here so that the content check names them."""

    widget = MultipleFileInput

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, (list, tuple)) else ([data] if data else [])
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class AnswerForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Not answered yet"), *AnswerStatus.choices],
        required=False,
        widget=forms.RadioSelect,
    )
    justification = _long_text(
        required=False, help_text="Required when the item is not met or not applicable: say why."
    )
    evidence_text = _long_text(
        required=False,
        label="Evidence",
        help_text="Markdown. Describe the evidence or where it is in your documents.",
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    evidence_files = MultipleFileField(
        required=False,
        label="Attach evidence files",
        help_text=f"{ACCEPTED_LABEL}; up to {MAX_FILES_PER_ANSWER} at a time.",
    )

    def __init__(self, *args: Any, rejected_uploads: list[tuple[str, str, int]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rejected_uploads = rejected_uploads or []

    def clean_evidence_files(self) -> list[ValidatedEvidence]:
        errors: list[str] = [
            f"“{name}” is larger than the limit of {filesizeformat(limit)} and was not uploaded."
            for _field, name, limit in self.rejected_uploads
        ]
        files = self.cleaned_data.get("evidence_files") or []
        if len(files) > MAX_FILES_PER_ANSWER:
            raise ValidationError(f"Attach at most {MAX_FILES_PER_ANSWER} files at a time.")
        validated = []
        for upload in files:
            try:
                validated.append(validate_evidence_file(upload))
            except ValidationError as exc:
                errors.extend(exc.messages)
        if errors:
            raise ValidationError(errors)
        return validated

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("status") in JUSTIFICATION_REQUIRED and not data.get("justification", "").strip():
            label = AnswerStatus(data["status"]).label.lower()
            self.add_error("justification", f"Explain why this item is {label}: a justification is required.")
        return data
