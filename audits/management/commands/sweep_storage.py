"""Delete the private files no row needs any more, now (the beat task audits.sweep_storage does it daily)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from config.storage import sweep_all


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-hours",
            type=float,
            default=settings.PRIVATE_SWEEP_GRACE_HOURS,
            help="spare files changed more recently than this (default PRIVATE_SWEEP_GRACE_HOURS)",
        )

    def handle(self, *args: Any, older_than_hours: float, **options: Any) -> None:
        if older_than_hours < 1:
            self.stderr.write("--older-than-hours must be at least 1: newer files may be in the middle of an upload.")
            raise SystemExit(2)
        for folder, count in sweep_all(older_than=older_than_hours * 3600).items():
            self.stdout.write(f"{folder}/: {count} file(s) no row needs deleted")
