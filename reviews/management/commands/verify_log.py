"""Check the append-only records: both hash chains, and what each signature signed.

    manage.py verify_log

Walks the activity log and the signatures in chain order (streamed, a batch at a time),
checks that every signature's digest is its round's digest and that every round's digest is
the SHA-256 of its frozen text. Prints one line per chain when all holds; otherwise one line
per break (table, row id, position, problem) and exits with status 1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from reviews.models import ActivityEntry, Round, Signature
from reviews.models.chain import Chained, ChainHead
from reviews.services.chain import ChainBreak, chain_verify


def _table(model: type[Any]) -> str:
    return str(model._meta.db_table)


def round_breaks(*, batch: int) -> Iterator[ChainBreak]:
    """Rounds whose frozen text no longer hashes to their digest."""
    rows = Round.objects.order_by("pk").only("pk", "project_id", "number", "canonical_json", "digest")
    for round_ in rows.iterator(chunk_size=batch):
        if hashlib.sha256(round_.canonical_json.encode("utf-8")).hexdigest() != round_.digest:
            yield ChainBreak(
                _table(Round),
                None,
                round_.pk,
                f"round {round_.number} of project {round_.project_id}: its frozen text does not match its digest",
            )


def signature_digest_breaks(*, batch: int) -> Iterator[ChainBreak]:
    """Signatures whose recorded digest is not the digest of the round they belong to."""
    rows = Signature.objects.order_by("seq").values_list("pk", "seq", "round_digest", "round__digest")
    for pk, seq, signed, current in rows.iterator(chunk_size=batch):
        if signed != current:
            yield ChainBreak(
                _table(Signature), seq, pk, "the digest it signed is not its round's digest (the round changed since)"
            )


@contextmanager
def _one_snapshot() -> Iterator[None]:
    """On PostgreSQL, read everything in one read-only snapshot, so rows appended while the
    check runs (the application keeps working) neither show up half-way nor look like a break."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


class Command(BaseCommand):
    help = (
        "Verify the hash chains of the activity log and the signatures, and the round digests "
        "that signatures cover. Exits with status 1 and lists every break if anything does not hold."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=2000, help="Rows read per query (default 2000).")

    def handle(self, *args: Any, batch: int, **options: Any) -> None:
        if batch < 1:
            raise CommandError("--batch must be at least 1.")
        with _one_snapshot():
            breaks = self._verify(batch)
        if breaks:
            raise CommandError(
                f"verify_log: {breaks} break{'s' if breaks != 1 else ''} found. "
                "Records were changed or removed outside the application; see the lines above."
            )
        self.stdout.write(self.style.SUCCESS("verify_log: OK, every chain and digest holds."))

    def _verify(self, batch: int) -> int:
        chains: tuple[type[Chained], ...] = (ActivityEntry, Signature)
        breaks = 0
        for model in chains:
            rows = model._default_manager.count()
            found = self._report(model, chain_verify(model, batch=batch))
            breaks += found
            head = ChainHead.objects.filter(name=model.CHAIN).first()
            ends = f"; head at position {head.seq}, hash {head.last_hash}" if head is not None else ""
            self._summary(f"{_table(model)} hash chain ({model.CHAIN})", rows, found, ends)
        rows = Signature.objects.count()
        found = self._report(Signature, signature_digest_breaks(batch=batch))
        breaks += found
        self._summary(f"{_table(Signature)} round digests", rows, found)
        rows = Round.objects.count()
        found = self._report(Round, round_breaks(batch=batch))
        breaks += found
        self._summary(f"{_table(Round)} frozen text digests", rows, found)
        return breaks

    def _report(self, model: type[Any], found: Iterator[ChainBreak]) -> int:
        count = 0
        for problem in found:
            count += 1
            row = "-" if problem.pk is None else problem.pk
            position = "-" if problem.seq is None else problem.seq
            self.stderr.write(f"BREAK table={_table(model)} row={row} position={position}: {problem.problem}")
        return count

    def _summary(self, what: str, rows: int, found: int, extra: str = "") -> None:
        state = "OK" if not found else f"{found} break{'s' if found != 1 else ''}"
        self.stdout.write(f"{what}: {rows} row{'s' if rows != 1 else ''} checked, {state}{extra}")
