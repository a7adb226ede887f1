"""Appending to and verifying the hash chains of reviews.models.chain."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

from django.db import transaction
from django.db.models import F

from reviews.models.chain import GENESIS, Chained, ChainHead

C = TypeVar("C", bound=Chained)


def chain_append(row: C) -> C:
    """Give `row` the next position of its chain and insert it, inside the caller's transaction.

    The UPDATE of the head row comes first: it takes the row lock on PostgreSQL (and the
    write lock on SQLite), so concurrent appends queue up behind it until commit and every
    row sees the true previous hash.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("chain_append must run inside the transaction of the change it records.")
    ChainHead.objects.get_or_create(name=row.CHAIN)
    ChainHead.objects.filter(name=row.CHAIN).update(seq=F("seq") + 1)
    head = ChainHead.objects.get(name=row.CHAIN)
    row.seq, row.prev_hash = head.seq, head.last_hash
    row.hash = row.compute_hash()
    row.save(force_insert=True)
    ChainHead.objects.filter(name=row.CHAIN).update(last_hash=row.hash)
    return row


@dataclass(frozen=True)
class ChainBreak:
    chain: str
    seq: int | None
    pk: object
    problem: str

    def __str__(self) -> str:
        where = f"row {self.pk} (position {self.seq})" if self.pk is not None else f"position {self.seq}"
        return f"{self.chain}: {where}: {self.problem}"


def chain_verify(model: type[Chained], *, batch: int = 2000) -> Iterator[ChainBreak]:
    """Walk the chain in order and yield every place where it does not hold together."""
    name, expected_prev, expected_seq = model.CHAIN, GENESIS, 1
    for row in model._default_manager.order_by("seq").iterator(chunk_size=batch):
        if row.seq != expected_seq:
            yield ChainBreak(name, expected_seq, None, f"missing; the next row present is at position {row.seq}")
        if row.prev_hash != expected_prev:
            yield ChainBreak(name, row.seq, row.pk, "its link to the previous row does not match")
        if row.compute_hash() != row.hash:
            yield ChainBreak(name, row.seq, row.pk, "its content does not match its hash (changed after writing)")
        expected_prev, expected_seq = row.hash, row.seq + 1
    head = ChainHead.objects.filter(name=name).first()
    last_seq = expected_seq - 1
    if head is not None and (head.seq != last_seq or head.last_hash != expected_prev):
        yield ChainBreak(
            name, head.seq, None, f"the chain's head records {head.seq} rows but the table ends at position {last_seq}"
        )
    if head is None and last_seq:
        yield ChainBreak(name, None, None, "rows exist but the chain has no head")
