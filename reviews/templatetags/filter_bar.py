"""The filter bar's fields (templates/_filters.html), rendered once per process for each state.

A field of the bar renders through crispy-forms and Django's widget templates: one template
render per option, so the bar's selects of every item code and every reviewer cost more than the
rest of a list page. What a field renders depends only on the field (its class, label, widget and
attributes, fixed per filter class), the value given in the URL, its errors and its choices. So
`filter_field` reads the choices once (the one query the widget would make), and keeps the
rendered HTML under a key of all of these: a renamed reviewer or a new item code is a new key,
never a stale bar. The cache is per process and bounded (least recently used entries go first),
as the values in the key come from the URL.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field
from django import forms, template
from django.forms.models import ModelChoiceIterator
from django.utils.safestring import SafeString

register = template.Library()

CACHE_SIZE = 512
_rendered: OrderedDict[str, SafeString] = OrderedDict()
_lock = threading.Lock()


def _choices_of(bound: forms.BoundField) -> list[tuple[str, str]]:
    """The widget's choices, read once and kept on this form's widget, so that rendering the
    field on a miss does not read them again (a model choice or a callable runs a query)."""
    widget = bound.field.widget
    if not hasattr(widget, "choices"):
        return []
    source = widget.choices
    if isinstance(source, ModelChoiceIterator):
        # The same choices from one plain query: iterating the iterator reads its rows with
        # QuerySet.iterator(), on PostgreSQL a server-side cursor (DECLARE, FETCH, CLOSE: three
        # round trips for a few dozen rows).
        # Two fields of one form with the same choices (the project list's guideline version and
        # first-decided version) read them once.
        read: dict[str, list[Any]] = bound.form.__dict__.setdefault("_filter_bar_rows", {})
        sql = str(source.queryset.query)
        if sql not in read:
            read[sql] = list(source.queryset.all())
        empty = [("", source.field.empty_label)] if source.field.empty_label is not None else []
        choices = empty + [source.choice(row) for row in read[sql]]
    else:
        # Iterated, not list(): list() asks a model choice iterator its len(), a COUNT query.
        choices = [choice for choice in source]
    widget.choices = choices
    return [(str(value), str(label)) for value, label in choices]


def _choices_digest(bound: forms.BoundField) -> str | None:
    """The digest of the rows the field's choices are made of, when its filter set gives one
    (reviews.filters.ListFilterSet.choice_digests: one query per form for all its fields)."""
    form = bound.form
    if "_choice_digests" not in form.__dict__:
        filter_set = getattr(form, "filter_set", None)
        form.__dict__["_choice_digests"] = filter_set.choice_digests() if filter_set is not None else {}
    digests: dict[str, str] = form.__dict__["_choice_digests"]
    return digests.get(bound.name)


def field_key(bound: forms.BoundField) -> str:
    """Everything the field's HTML depends on, hashed. Choices read from the database count by
    the digest of their rows when the filter set gives one, otherwise as read."""
    field, widget = bound.field, bound.field.widget
    digest = _choices_digest(bound)
    parts: list[Any] = [
        type(bound.form).__name__,
        type(field).__qualname__,
        type(widget).__qualname__,
        bound.html_name,
        bound.auto_id,
        str(bound.label),
        str(bound.help_text),
        field.required,
        field.disabled,
        sorted((str(name), str(value)) for name, value in widget.attrs.items()),
        bound.form.is_bound,
        repr(bound.value()),
        [str(error) for error in bound.errors],
        ("rows", digest) if digest is not None else _choices_of(bound),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


@register.filter
def filter_field(bound: forms.BoundField) -> SafeString:
    """`{{ field|as_crispy_field }}`, the same HTML, rendered once per key and process."""
    key = field_key(bound)
    with _lock:
        found = _rendered.get(key)
        if found is not None:
            _rendered.move_to_end(key)
            return found
    _choices_of(bound)  # read once (a field keyed by its rows' digest has not read them yet)
    html: SafeString = as_crispy_field(bound)
    with _lock:
        _rendered[key] = html
        while len(_rendered) > CACHE_SIZE:
            _rendered.popitem(last=False)
    return html
