"""Hash chains for append-only tables (the activity log and signatures).

Each row stores its position (`seq`), the hash of the row before it and its own hash:
SHA-256 of the canonical JSON of its content, `seq` and `prev_hash`. Changing, removing
or reordering any row breaks the chain from there on, which `manage.py verify_log` reports.
Rows are appended only through reviews.services.chain.chain_append, which serialises
appends on the chain's head row.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from django.db import models

GENESIS = "0" * 64


def _canonical(value: Any) -> Any:
    """Values as they read back from any database: aware datetimes as ISO text, and floats
    that are whole numbers as integers (PostgreSQL's jsonb prints 1e20 as an integer)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    return value


def chain_hash(payload: dict[str, Any]) -> str:
    text = json.dumps(_canonical(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ChainHead(models.Model):
    """The newest position of one chain. Appends lock this row, so they happen one at a time."""

    name = models.CharField(max_length=50, primary_key=True)
    seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS)

    def __str__(self) -> str:
        return f"{self.name} @ {self.seq}"


class Chained(models.Model):
    """An append-only row in a hash chain. Subclasses name their chain and hashed fields."""

    CHAIN: str = ""
    HASHED_FIELDS: tuple[str, ...] = ()

    seq = models.PositiveBigIntegerField(unique=True, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError(f"{str(self._meta.verbose_name_plural).capitalize()} are append-only.")
        if not self.hash:
            raise ValueError("Append through reviews.services.chain.chain_append.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"{str(self._meta.verbose_name_plural).capitalize()} are append-only.")

    def chain_payload(self) -> dict[str, Any]:
        payload = {name: getattr(self, name) for name in self.HASHED_FIELDS}
        return {**payload, "seq": self.seq, "prev_hash": self.prev_hash}

    def compute_hash(self) -> str:
        return chain_hash(self.chain_payload())
