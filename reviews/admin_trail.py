"""Every change made through the Django admin writes the same hash-chained activity row as
the app's own pages, in the transaction of the change (SECURITY.md: no gap in the trail).

`LoggedAdmin` hooks the methods the admin itself calls after each change: `log_addition`,
`log_change` and `log_deletions` (the add and change forms, the list's inline edits, the
password form, the delete page and the bulk delete action), and `save_formset` for the rows
of inlines. The values before a change are read when the admin loads the object
(`get_object`) or, for list edits, just before saving; a row records the fields that changed
with their old and new values. A password is never logged, only that it changed.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse

from reviews.enums import Action
from reviews.services.activity import activity_record, changed_values

SECRET_FIELDS = frozenset({"password"})
_BEFORE = "_admin_trail_before"


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID, timedelta)):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, (str, int, float, bool, list, dict)) or value is None:
        return value
    return str(value)


def _key(obj: models.Model) -> tuple[str, str]:
    return obj._meta.label_lower, str(obj.pk)


class LoggedAdmin(admin.ModelAdmin):
    """Mix into every ModelAdmin that can change something; `logged_fields` narrows what is
    compared (default: every concrete and many-to-many field)."""

    logged_fields: tuple[str, ...] | None = None

    def trail_values(self, obj: models.Model) -> dict[str, Any]:
        """The object's field values as the log keeps them (foreign keys as ids, m2m as sorted ids)."""
        values: dict[str, Any] = {}
        for field in obj._meta.concrete_fields:
            if self.logged_fields is None or field.name in self.logged_fields or field.name in SECRET_FIELDS:
                values[field.name] = _plain(field.value_from_object(obj))
        if obj.pk is not None:
            for m2m in obj._meta.many_to_many:
                if self.logged_fields is None or m2m.name in self.logged_fields:
                    values[m2m.name] = sorted(getattr(obj, m2m.name).values_list("pk", flat=True))
        return values

    # Values before the change -------------------------------------------------------
    def _remember(self, request: HttpRequest, obj: models.Model, *, fresh: bool) -> None:
        store: dict[tuple[str, str], dict[str, Any]] = request.__dict__.setdefault(_BEFORE, {})
        if _key(obj) in store:
            return
        if fresh:  # the instance may already carry the form's values: read the row
            obj = type(obj)._default_manager.get(pk=obj.pk)
        store[_key(obj)] = self.trail_values(obj)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None and request.method == "POST":
            self._remember(request, obj, fresh=False)
        return obj

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            self._remember(request, obj, fresh=True)
        super().save_model(request, obj, form, change)

    # The log rows ---------------------------------------------------------------------
    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        entry = super().log_addition(request, obj, message)
        activity_record(actor=request.user, action=Action.CREATE, obj=obj, new=_public(self.trail_values(obj)))
        return entry

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        entry = super().log_change(request, obj, message)
        before = request.__dict__.get(_BEFORE, {}).pop(_key(obj), None)
        old, new = _changes(before or {}, self.trail_values(obj))
        if new:
            activity_record(actor=request.user, action=Action.CHANGE, obj=obj, old=old or None, new=new)
        return entry

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        entries = super().log_deletions(request, queryset)
        for obj in queryset:
            activity_record(actor=request.user, action=Action.DELETE, obj=obj, old=_public(self.trail_values(obj)))
        return entries

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Inline rows (the stages of a version): each added, changed or deleted row is logged."""
        trail = _InlineTrail(self, formset)
        trail.record_deletions(request)  # like log_deletions: before the rows are gone
        super().save_formset(request, form, formset, change)
        trail.record_saved(request)

    def response_action(self, request: HttpRequest, queryset: Any, *args: Any, **kwargs: Any) -> HttpResponse | None:
        # The bulk delete action logs, then deletes: one transaction for both.
        with transaction.atomic(using=queryset.db):
            return super().response_action(request, queryset, *args, **kwargs)


class _InlineTrail:
    """The inline rows' values before the formset saves them (read from the table: the forms
    have already written the posted values onto the instances)."""

    def __init__(self, admin_: LoggedAdmin, formset: Any) -> None:
        self.admin = admin_
        self.formset = formset
        self.before: dict[tuple[str, str], dict[str, Any]] = {}
        for inline_form in formset.initial_forms:
            instance = inline_form.instance
            if instance.pk is not None and (inline_form.has_changed() or inline_form in formset.deleted_forms):
                row = type(instance)._default_manager.filter(pk=instance.pk).first()
                if row is not None:
                    self.before[_key(row)] = admin_.trail_values(row)

    def record_deletions(self, request: HttpRequest) -> None:
        for inline_form in self.formset.deleted_forms:
            obj = inline_form.instance
            if obj.pk is not None:
                old = _public(self.before.get(_key(obj), {})) or None
                activity_record(actor=request.user, action=Action.DELETE, obj=obj, old=old)

    def record_saved(self, request: HttpRequest) -> None:
        for obj in self.formset.new_objects:
            new = _public(self.admin.trail_values(obj))
            activity_record(actor=request.user, action=Action.CREATE, obj=obj, new=new)
        for obj, _fields in self.formset.changed_objects:
            old, new = _changes(self.before.get(_key(obj), {}), self.admin.trail_values(obj))
            if new:
                activity_record(actor=request.user, action=Action.CHANGE, obj=obj, old=old or None, new=new)


def _public(values: dict[str, Any]) -> dict[str, Any]:
    """Values fit for the log: a password only as whether one is set."""
    shown = {key: value for key, value in values.items() if key not in SECRET_FIELDS}
    for key in SECRET_FIELDS & values.keys():
        shown[key] = "set" if values[key] and not str(values[key]).startswith("!") else "unusable"
    return shown


def _changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(old, new) of the fields that changed; a changed password appears only as "changed"."""
    old, new = changed_values(before, after) if before else ({}, _public(after))
    for key in SECRET_FIELDS & new.keys():
        old.pop(key, None)
        new[key] = "changed"
    return old, new
