"""The token pages' forms: creating a personal token, and the board's filters of every token."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar, cast

import django_filters
from django import forms
from django.conf import settings
from django.db.models import F, QuerySet
from django.utils import timezone

from api.enums import TokenScope, TokenStatus
from api.models import ApiToken
from api.selectors.tokens import token_status_q
from api.services.tokens import NAME_MAX, TOKEN_START
from reviews.filters import ListFilterSet, _search_filter

EXPIRY_DAYS = (7, 30, 90, 365)
DEFAULT_EXPIRY_DAYS = 30


def _days_label(days: int) -> str:
    return "1 year" if days == 365 else f"{days} days"


def expiry_choices() -> list[tuple[str, str]]:
    """The usual lifetimes up to settings.API_TOKEN_MAX_DAYS; when that is shorter than all of
    them, the longest allowed is the only choice."""
    allowed = [days for days in EXPIRY_DAYS if days <= settings.API_TOKEN_MAX_DAYS] or [settings.API_TOKEN_MAX_DAYS]
    return [(str(days), _days_label(days)) for days in allowed]


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=NAME_MAX,
        help_text="What the token is for, e.g. “training pipeline on the lab cluster”.",
        error_messages={"required": "Give the token a name that says what it is for."},
    )
    scope = forms.ChoiceField(
        label="Scope",
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        widget=forms.RadioSelect,
        help_text="“Read” sees what your account sees; “Read and write” may also create and change projects, "
        "upload image sets and request audits. No token can sign a decision: signing stays in the browser, "
        "with your password.",
        error_messages={
            "required": "Choose what the token may do.",
            "invalid_choice": "Choose Read or Read and write.",
        },
    )
    expires_in = forms.TypedChoiceField(
        label="Expires in",
        coerce=int,
        error_messages={"required": "Choose when the token expires.", "invalid_choice": "Choose one of the lifetimes."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = expiry_choices()
        field = cast(forms.TypedChoiceField, self.fields["expires_in"])
        field.choices = choices
        values = [value for value, _label in choices]
        field.initial = str(DEFAULT_EXPIRY_DAYS) if str(DEFAULT_EXPIRY_DAYS) in values else values[-1]
        field.help_text = f"Every token expires; the longest a token may last is {settings.API_TOKEN_MAX_DAYS} days."

    def expires_at(self, now: datetime | None = None) -> datetime:
        return (now or timezone.now()) + timedelta(days=self.cleaned_data["expires_in"])


class TokenFilter(ListFilterSet):
    """The board's list of every account's tokens."""

    SORTS: ClassVar[dict[str, tuple[str, tuple[Any, ...]]]] = {
        "-created": ("Newest first", (F("created_at").desc(), F("pk").desc())),
        "created": ("Oldest first", (F("created_at").asc(), F("pk").asc())),
        "-used": ("Last used, most recent first", (F("last_used_at").desc(nulls_last=True), F("pk").desc())),
        "expires": ("Expiry, soonest first", (F("expires_at").asc(), F("pk").asc())),
        "user": ("Account", (F("user__full_name").asc(), F("user__username").asc(), F("pk").asc())),
    }
    PRIMARY = ("q", "status", "scope")

    q = _search_filter("Account (name, username, email), token name or prefix")
    SEARCH_FIELDS = ("user__username", "user__full_name", "user__email", "name", "prefix")
    status = django_filters.ChoiceFilter(
        label="Status", choices=TokenStatus.choices, method="filter_status", empty_label="Any status"
    )
    scope = django_filters.ChoiceFilter(label="Scope", choices=TokenScope.choices, empty_label="Any scope")

    class Meta:
        model = ApiToken
        fields: list[str] = []

    def search(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        # A token pasted from a log starts with the fixed "msr_" and may end with "…": the prefix is what is stored.
        return super().search(queryset, name, value.replace(TOKEN_START, " ").replace("…", " "))

    def filter_status(self, queryset: QuerySet[ApiToken], name: str, value: str) -> QuerySet[ApiToken]:
        return queryset.filter(token_status_q(value))
