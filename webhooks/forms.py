"""The hook form: project (own projects; every project for administrators), URL and events."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError

from reviews.enums import EventKind
from reviews.models import Project, User
from webhooks.enums import EVENT_MEANINGS
from webhooks.selectors import hook_projects
from webhooks.validators import URL_MAX_LENGTH, validate_hook_url

EVERY_PROJECT = ""


def _event_choices(user: User) -> list[tuple[str, str]]:
    kinds: list[EventKind] = [kind for kind in EventKind if kind != EventKind.OBJECTION_RECEIVED]
    if user.has_perm("webhooks.subscribe_objections"):
        kinds.append(EventKind.OBJECTION_RECEIVED)
    return [(kind.value, f"{kind.label} ({kind.value}): {EVENT_MEANINGS[kind]}") for kind in kinds]


class WebhookForm(forms.Form):
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(),
        required=False,
        help_text="Deliveries report events of this project only.",
    )
    url = forms.CharField(
        label="Payload URL",
        max_length=URL_MAX_LENGTH,
        validators=[validate_hook_url],
        help_text="Where each event is POSTed as JSON, e.g. https://ci.example.org/hooks/misyn. "
        "Use https:// outside a test setup.",
        widget=forms.URLInput,
    )
    events = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        help_text="Deliveries are sent for the events ticked here.",
        error_messages={"required": "Choose at least one event."},
    )
    is_active = forms.BooleanField(
        label="Active", required=False, initial=True, help_text="A paused hook receives nothing."
    )

    def __init__(self, *args: Any, user: User, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        cast(forms.MultipleChoiceField, self.fields["events"]).choices = _event_choices(user)
        if editing:
            del self.fields["project"]
            return
        del self.fields["is_active"]
        project = cast(forms.ModelChoiceField, self.fields["project"])
        project.queryset = hook_projects(user)
        if user.has_perm("webhooks.hook_every_project"):
            project.empty_label = "Every project"
            project.help_text = "Deliveries report events of this project, or of every project."
        else:
            project.required = True
            project.empty_label = None

    def clean_events(self) -> list[str]:
        events: list[str] = self.cleaned_data["events"]
        if not events:
            raise ValidationError("Choose at least one event.")
        return events
