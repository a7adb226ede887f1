from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import nh3
from django import template
from django.conf import settings
from django.template import engines
from django.template.loader import render_to_string
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from reviews.enums import (
    AnswerStatus,
    EvaluationPhase,
    ExpertiseKind,
    GeneratorFamily,
    Meaning,
    Modality,
    Outcome,
    OverclaimFinding,
    ProjectStatus,
    Role,
    SynthesisTask,
)
from reviews.forms.review import ReviewForm

register = template.Library()

_ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li",
    "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a", "del",
}  # fmt: skip


# CommonMark with tables; raw HTML in the text is shown as text, never passed through.
# markdown-it-py parses in linear time, so no evidence text within the form's limit can
# stall a page (Python-Markdown is quadratic on unclosed brackets).
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


@register.filter
def render_markdown(text: str) -> SafeString:
    """Markdown to HTML, then sanitised: no raw HTML, scripts, styles or event handlers survive."""
    html = _MARKDOWN.render(text or "")
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "th": {"align"}, "td": {"align"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # noqa: S308 (sanitised by nh3 just above)


@register.simple_tag
def badge(template_name: str, status: Any) -> SafeString:
    """A badge partial that depends on nothing but `status` (reviews/_answer_badge.html,
    audits/_result_badge.html), rendered once per process and status: the review page shows
    one per item, and an include each cost more than the rest of the item's row (issue 13)."""
    return _badge(template_name, "" if status is None else str(status))


@lru_cache(maxsize=256)
def _badge(template_name: str, status: str) -> SafeString:
    return mark_safe(render_to_string(template_name, {"status": status}))  # noqa: S308 (a template's own output)


@register.simple_tag
def status_badge(status: Any, label: Any) -> SafeString:
    """A project's status badge (reviews/_status_badge.html), once per process for each status
    and label: the lists show one per row, and an include cost more than the rest of the row."""
    return _status_badge(str(status), str(label))


@lru_cache(maxsize=64)
def _status_badge(status: str, label: str) -> SafeString:
    return mark_safe(render_to_string("reviews/_status_badge.html", {"status": status, "label": label}))  # noqa: S308 (a template's own output)


@register.simple_tag
def site_url(view_name: str) -> str:
    """The URL of a view without arguments, as {% url %} gives it, looked up once per process:
    the navigation bar and footer of base.html name about fifteen on every page (issue 13)."""
    return _site_url(view_name, get_script_prefix(), str(get_urlconf() or settings.ROOT_URLCONF))


@lru_cache(maxsize=128)
def _site_url(view_name: str, script_prefix: str, urlconf: str) -> str:
    return reverse(view_name, urlconf=urlconf)


def object_url(view_name: str, *args: int) -> str:
    """`reverse(view_name, args=args)`, looked up once per process for each address: the lists
    and the API's rows give one or two per row (about 0.1 ms each), for the same projects again
    and again. Bounded (least recently used addresses go first)."""
    return _object_url(view_name, args, get_script_prefix(), str(get_urlconf() or settings.ROOT_URLCONF))


@lru_cache(maxsize=8192)
def _object_url(view_name: str, args: tuple[int, ...], script_prefix: str, urlconf: str) -> str:
    return reverse(view_name, args=args, urlconf=urlconf)


@register.filter
def percent_class(value: Any) -> str:
    """A CSS class for a width in steps of 5 %, since inline styles are refused by the CSP."""
    try:
        number = max(0, min(100, int(value)))
    except (TypeError, ValueError):
        number = 0
    return f"w-pct-{5 * round(number / 5)}"


# Stored values of choice fields, shown by their labels in the history.
_LABELS: dict[str, dict[str, str]] = {
    "status": {**dict(AnswerStatus.choices), **dict(ProjectStatus.choices)},
    "synthesis_task": dict(SynthesisTask.choices),
    "generator_family": dict(GeneratorFamily.choices),
    "role": dict(Role.choices),
    "expertise": dict(ExpertiseKind.choices),
    "modalities": dict(Modality.choices),
    "meaning": dict(Meaning.choices),
    "outcome": dict(Outcome.choices),
}
# Fields whose values are codes of another app (e.g. an objection's status or remedy): shown
# as words even without their labels here.
_CODE_FIELDS = frozenset({"status", "step", "remedy", "kind", "action", "meaning", "outcome"})
_FIELD_NAMES = {"sha256": "SHA-256", "text_sha256": "Text (SHA-256)", "publish_text": "Text shown on the register"}


def _display(value: Any, field: str = "") -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        label = _LABELS.get(field, {}).get(value)
        if label is None and field in _CODE_FIELDS and value.replace("_", "").isalpha():
            label = value.replace("_", " ").capitalize()
        return label or value
    if isinstance(value, list):
        labels = _LABELS.get(field, {})
        return ", ".join(labels.get(str(part), str(part)) for part in value) or "—"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@register.filter
def changes(entry: Any) -> list[tuple[str, str, str]]:
    """An activity entry's values as (field, before, after) rows for people to read."""
    old, new = entry.old or {}, entry.new or {}
    fields = [*new, *(key for key in old if key not in new)]
    if entry.old is None:  # a creation: only the values that were filled in
        fields = [field for field in fields if new.get(field) not in (None, "", [])]
    return [
        (
            _FIELD_NAMES.get(field, field.replace("_", " ").capitalize()),
            _display(old.get(field), field) if field in old else "",
            _display(new.get(field), field) if field in new else "—",
        )
        for field in fields
    ]


# The overclaim check's three fields on the review page, as crispy-forms writes them.
_OVERCLAIM_FIELDS = (
    "{% load crispy_forms_tags %}{{ review_form.declared_phase|as_crispy_field }}\n"
    "          {{ review_form.overclaim|as_crispy_field }}\n"
    "          {{ review_form.overclaim_note|as_crispy_field }}"
)
_PHASES = frozenset(str(value) for value in EvaluationPhase.values)
_FINDINGS = frozenset(str(value) for value in OverclaimFinding.values)


@register.filter
def overclaim_fields(form: ReviewForm) -> SafeString:
    """The overclaim check's fields. An unbound form with no note shows nothing typed by anyone,
    only a phase and a finding out of fixed choices: that rendering is kept per process and pair
    of choices (each crispy field costs a millisecond); any other form is rendered as it is."""
    phase, finding = form.initial.get("declared_phase"), form.initial.get("overclaim")
    phase = "" if phase is None else str(phase)
    finding = "" if finding is None else str(finding)
    if (
        not form.is_bound
        and not form.initial.get("overclaim_note")
        and phase in _PHASES | {""}
        and finding in _FINDINGS | {""}
    ):
        return _blank_overclaim_html(phase, finding)
    return SafeString(engines["django"].from_string(_OVERCLAIM_FIELDS).render({"review_form": form}))


@lru_cache(maxsize=64)
def _blank_overclaim_html(phase: str, finding: str) -> SafeString:
    form = ReviewForm(initial={"declared_phase": phase, "overclaim": finding}, items=[], item_fields=False)
    return SafeString(engines["django"].from_string(_OVERCLAIM_FIELDS).render({"review_form": form}))
