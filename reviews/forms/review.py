"""Forms of the review workflow: a reviewer's verdicts, audit waivers, signatures, withdrawal.

The signature form checks the password with django.contrib.auth.authenticate, so a wrong
password is a failed login for django-axes and counts toward the lockout.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any, cast

from django import forms
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.http import HttpRequest
from django.utils.safestring import SafeString

from reviews.enums import STATEMENT_REQUIRED, EvaluationPhase, Meaning, OverclaimFinding, Verdict
from reviews.forms import LONG_TEXT
from reviews.models import GuidelineItem, User
from reviews.services.review import VerdictInput

UNDECIDED = ""
VERDICT_CHOICES: list[tuple[str, str]] = [(UNDECIDED, "Undecided"), *Verdict.choices]
COMMENT_HELP = "Required for a concern or a change: say what and why."


def _text(**kwargs: Any) -> forms.CharField:
    kwargs.setdefault("max_length", LONG_TEXT)
    kwargs.setdefault("required", False)
    kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3}))
    return forms.CharField(**kwargs)


# The button colour of each verdict choice on the review page.
CHOICE_BUTTON = {
    UNDECIDED: "btn-outline-secondary",
    Verdict.ACCEPTABLE: "btn-outline-success",
    Verdict.CONCERN: "btn-outline-warning",
    Verdict.MUST_CHANGE: "btn-outline-danger",
}


@dataclass(frozen=True)
class VerdictChoice:
    value: str
    label: str
    id: str
    checked: bool
    button: str  # the label's Bootstrap button class


@dataclass
class ItemControls:
    """One item's verdict radios and comment box as plain values, for the template to write.

    The review page shows these for every catalogue item (about 50): rendered through Django's
    widget templates they were most of the page's time (issue 13). The values, ids and aria
    attributes are the ones the form's widgets render (tests/reviews/test_review_render.py
    compares the two); the form still validates what is posted.
    """

    verdict_name: str
    choices: list[VerdictChoice]
    verdict_errors: list[str]
    comment_name: str
    comment_id: str
    comment: str  # the text in the box, "" for none
    comment_max_length: int | None
    comment_describedby: str
    comment_errors: list[str]

    @property
    def radios_html(self) -> SafeString:
        """The verdict radios and their labels, exactly as round_review.html's loop over
        `choices` wrote them (indentation included): about 200 per page, written here in one
        pass instead of a template loop (issue 13). Every value is escaped (html.escape, which is
        what Django's autoescaping calls, without its lazy-string wrapper)."""
        invalid = ' aria-invalid="true"' if self.verdict_errors else ""
        name = escape(self.verdict_name)
        parts = [
            f'\n                    <input type="radio" name="{name}" value="{escape(choice.value)}" class="btn-check" '
            f'id="{escape(choice.id)}"{invalid}{" checked" if choice.checked else ""}>'
            f'<label class="btn {escape(choice.button)}" for="{escape(choice.id)}">{escape(choice.label)}</label>'
            "\n                  "
            for choice in self.choices
        ]
        return SafeString("".join(parts))


class ReviewForm(forms.Form):
    """A verdict and a comment per item, and the overclaim check (EV-1, EV-10, OV-2).

    Fields are named by item code (`verdict_EV-1`, `comment_EV-1`). A draft may leave items
    undecided; submitting needs every verdict and the whole overclaim check.
    """

    declared_phase = forms.TypedChoiceField(
        label="Evaluation phase the project has reached (EV-1)",
        choices=[("", "Not decided yet"), *EvaluationPhase.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    overclaim = forms.ChoiceField(
        label="Do the claims stay within that phase?",
        choices=[("", "Not decided yet"), *OverclaimFinding.choices],
        required=False,
        widget=forms.RadioSelect,
    )
    overclaim_note = _text(
        label="Note on the claims",
        help_text="Required for an overclaim: which claims go beyond the declared phase or the evidence (EV-10).",
    )

    def __init__(
        self,
        *args: Any,
        items: list[GuidelineItem],
        submitting: bool = False,
        item_fields: bool = True,
        **kwargs: Any,
    ) -> None:
        """`item_fields=False` leaves out the ~90 per-item fields, for an unbound form that only
        shows its controls (controls() reads their initial values without them); such a form
        cannot validate anything."""
        super().__init__(*args, **kwargs)
        if self.is_bound and not item_fields:
            raise ValueError("A review form without its item fields cannot validate posted data.")
        self.items = items
        self.submitting = submitting
        for item in items if item_fields else ():
            self.fields[self.verdict_name(item)] = forms.ChoiceField(
                label=f"Verdict on {item.code}",
                choices=VERDICT_CHOICES,
                required=False,
                widget=forms.RadioSelect(attrs={"class": "btn-check"}),
            )
            self.fields[self.comment_name(item)] = _text(
                label=f"Comment on {item.code}",
                help_text=COMMENT_HELP,
                widget=forms.Textarea(attrs={"rows": 2, "class": "form-control form-control-sm"}),
            )

    @staticmethod
    def verdict_name(item: GuidelineItem) -> str:
        return f"verdict_{item.code}"

    @staticmethod
    def comment_name(item: GuidelineItem) -> str:
        return f"comment_{item.code}"

    def controls(self) -> dict[str, ItemControls]:
        """Every item's controls by item code, with what the form shows: the posted values of a
        bound form (the reviewer's choices, kept when refused), else the initial ones."""
        return {item.code: self._item_controls(item) for item in self.items}

    def _shown(self, name: str) -> str:
        field = self.fields.get(name)
        if self.is_bound:
            value = self.data.get(name)
        elif field is not None:
            value = self.get_initial_for_field(field, name)
        else:  # a form without its item fields (item_fields=False): the fields have no initial of their own
            value = self.initial.get(name)
        return "" if value is None else str(value)

    def _errors_of(self, name: str) -> list[str]:
        """The field's error messages (none for an unbound form, which is never validated)."""
        return [str(message) for message in self.errors.get(name, [])] if self.is_bound else []

    def _auto_id(self, name: str) -> str:
        """The id Django gives the field's widget (BoundField.auto_id)."""
        auto_id = str(self.auto_id or "")
        return auto_id % name if "%s" in auto_id else (name if self.auto_id else "")

    def _item_controls(self, item: GuidelineItem) -> ItemControls:
        verdict_name, comment_name = self.verdict_name(item), self.comment_name(item)
        verdict_id, comment_id = self._auto_id(verdict_name), self._auto_id(comment_name)
        chosen = self._shown(verdict_name)
        choices = [
            VerdictChoice(value, label, f"{verdict_id}_{index}", value == chosen, CHOICE_BUTTON[value])
            for index, (value, label) in enumerate(VERDICT_CHOICES)
        ]
        comment_errors = self._errors_of(comment_name)
        comment_field = cast(forms.CharField | None, self.fields.get(comment_name))
        max_length = comment_field.max_length if comment_field is not None else LONG_TEXT
        help_text = comment_field.help_text if comment_field is not None else COMMENT_HELP
        described = [f"{comment_id}_helptext"] if help_text else []
        described += [f"{comment_id}_error"] if comment_errors else []
        return ItemControls(
            verdict_name=verdict_name,
            choices=choices,
            verdict_errors=self._errors_of(verdict_name),
            comment_name=comment_name,
            comment_id=comment_id,
            comment=self._shown(comment_name),
            comment_max_length=max_length,
            comment_describedby=" ".join(described),
            comment_errors=comment_errors,
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for item in self.items:
            verdict = data.get(self.verdict_name(item)) or UNDECIDED
            comment = (data.get(self.comment_name(item)) or "").strip()
            if verdict not in (UNDECIDED, Verdict.ACCEPTABLE) and not comment:
                self.add_error(
                    self.comment_name(item),
                    f"{item.code}: “{Verdict(verdict).label}” needs a comment saying what the concern is or what must change.",
                )
            if self.submitting and verdict == UNDECIDED:
                self.add_error(self.verdict_name(item), f"{item.code}: choose a verdict before submitting the review.")
        if data.get("overclaim") == OverclaimFinding.OVERCLAIM and not (data.get("overclaim_note") or "").strip():
            self.add_error("overclaim_note", "Say which claims go beyond the declared phase or the evidence.")
        if self.submitting:
            if data.get("declared_phase") is None:
                self.add_error("declared_phase", "Choose the evaluation phase the project declares (EV-1).")
            if not data.get("overclaim"):
                self.add_error("overclaim", "Give your finding on the claims (EV-10, OV-2).")
        return data

    def verdicts(self) -> list[VerdictInput]:
        return [
            VerdictInput(
                item=item,
                verdict=self.cleaned_data.get(self.verdict_name(item)) or UNDECIDED,
                comment=self.cleaned_data.get(self.comment_name(item)) or "",
            )
            for item in self.items
        ]


class WaiverForm(forms.Form):
    # The audit's status the page showed: a result that changed since is a conflict, not a waiver.
    seen = forms.CharField(widget=forms.HiddenInput, required=False, max_length=20)
    reason = _text(
        label="Reason for accepting this result",
        required=True,
        error_messages={"required": "A waiver needs a written reason."},
        help_text="Why the project may be approved although this audit failed or could not be computed.",
    )

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise ValidationError("A waiver needs a written reason.")
        return reason


class SignatureForm(forms.Form):
    """The meaning, its statement, the digest the page showed, and the password again."""

    meaning = forms.ChoiceField(label="Your decision", widget=forms.RadioSelect)
    statement = _text(
        label="Statement",
        help_text="The conditions (approve with conditions), what must change (request changes) or the reasons (reject).",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    digest = forms.CharField(
        label="Digest of the round",
        widget=forms.HiddenInput,
        max_length=64,
        # A SHA-256 in lowercase hex, as the page shows it; anything else is not a digest the page
        # showed, refused here rather than compared with the round's (a conflict).
        validators=[RegexValidator(r"\A[0-9a-f]{64}\Z", "Digest of the round: not a SHA-256 digest.")],
    )
    password = forms.CharField(
        label="Your password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Signing needs your password again. Wrong passwords count toward the account lockout.",
    )

    def __init__(
        self, *args: Any, request: HttpRequest, signer: User, meanings: tuple[str, ...], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.signer = signer
        cast(forms.ChoiceField, self.fields["meaning"]).choices = [(m, Meaning(m).label) for m in meanings]

    def clean_password(self) -> str:
        password = str(self.cleaned_data["password"])
        user = authenticate(request=self.request, username=self.signer.get_username(), password=password)
        if getattr(self.request, "axes_locked_out", False):  # django-axes' middleware shows its lockout page
            raise ValidationError(
                "Too many wrong passwords: signing (and logging in) from your address is locked for a while. "
                "Nothing was signed."
            )
        if user is None or user.pk != self.signer.pk:
            raise ValidationError("The password is not correct. Nothing was signed.")
        return password

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        meaning = data.get("meaning")
        if meaning in STATEMENT_REQUIRED and not (data.get("statement") or "").strip():
            label = Meaning(meaning).label
            self.add_error("statement", f"“{label}” needs {STATEMENT_REQUIRED[Meaning(meaning)]} in writing.")
        return data


class WithdrawForm(forms.Form):
    reason = _text(
        label="Why withdraw the project?",
        required=True,
        error_messages={"required": "Say why the project is withdrawn."},
        help_text="Shown to the reviewers and recorded in the history.",
    )

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise ValidationError("Say why the project is withdrawn.")
        return reason
