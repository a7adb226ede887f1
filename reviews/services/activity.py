from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models

from reviews.enums import Action
from reviews.models import ActivityEntry, Project
from reviews.services.chain import chain_append


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def field_values(obj: models.Model, fields: list[str]) -> dict[str, Any]:
    return {name: _jsonable(getattr(obj, name)) for name in fields}


def changed_values(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The subset of two value dicts that differs, as (old, new)."""
    keys = [key for key in new if old.get(key) != new[key]]
    return {key: old.get(key) for key in keys}, {key: new[key] for key in keys}


def activity_record(
    *,
    actor: Any,
    action: Action,
    obj: models.Model,
    project: Project | None = None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    actor_name: str = "system",
) -> ActivityEntry:
    """Append one activity row. Call it inside the transaction of the change it records.
    Without a signed-in actor the row names `actor_name` ("system", or e.g. "a member of the
    public" for what the public register receives)."""
    actor_user = actor if getattr(actor, "is_authenticated", False) else None
    entry = ActivityEntry(
        actor=actor_user,
        actor_name=(actor_user.display_name if actor_user else actor_name),
        action=action,
        project=project,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:300],
        old=_jsonable_tree(old),
        new=_jsonable_tree(new),
    )
    return chain_append(entry)


def _jsonable_tree(value: Any) -> Any:
    """What the JSON column will give back, so the row hashes the same before and after."""
    if value is None:
        return None
    # allow_nan=False: PostgreSQL's jsonb refuses NaN and Infinity, so they are an error here,
    # not a 500 at insert. A whole float beyond 2**53 becomes the integer it stands for, as
    # jsonb would read it back, so that the row hashes the same before and after.
    return json.loads(json.dumps(value, default=_jsonable, allow_nan=False), parse_float=_read_float)


def _read_float(text: str) -> float | int:
    number = float(text)
    return int(number) if number.is_integer() and abs(number) >= 2**53 else number
