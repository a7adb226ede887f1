"""`manage.py audit SYNTHETIC --reference REAL ...`: the audit suite on local files, no database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audits.cli import AuditInputError, any_failed, audit_paths, format_report, report_json

EXIT_FAILED = 1  # at least one audit failed
EXIT_BAD_ARGUMENTS = 2  # as argparse uses for a usage error


class Command(BaseCommand):
    help = (
        "Audit a synthetic image set against real reference images: folders or zip/tar archives of DICOM, "
        "NIfTI or PNG files. Prints a report (or --json); exits 0 when no audit failed, 1 when one did, "
        "2 on bad arguments. Needs no database."
    )
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("synthetic", type=Path, metavar="SYNTHETIC", help="folder or archive of synthetic images")
        parser.add_argument(
            "--reference",
            type=Path,
            required=True,
            metavar="REAL",
            help="folder or archive of the real training images",
        )
        parser.add_argument("--holdout", type=Path, metavar="HELDOUT", help="real images not used for training")
        parser.add_argument("--metadata", type=Path, metavar="CSV", help="per-file metadata of the synthetic set")
        parser.add_argument(
            "--reference-metadata", type=Path, metavar="CSV", help="per-file metadata of the reference set"
        )
        parser.add_argument(
            "--value-map",
            type=Path,
            metavar="CSV",
            help="subgroup value mapping (columns attribute, value, group) applied to every set's metadata",
        )
        parser.add_argument("--manifest", type=Path, metavar="FILE", help="generation manifest, CSV or JSON")
        parser.add_argument("--json", action="store_true", help="print the full results as JSON")
        parser.add_argument("--size", type=int, default=64, help="side in pixels images are compared at (64)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = audit_paths(
                synthetic=options["synthetic"],
                reference=options["reference"],
                holdout=options["holdout"],
                metadata=options["metadata"],
                reference_metadata=options["reference_metadata"],
                value_map=options["value_map"],
                manifest=options["manifest"],
                size=options["size"],
            )
        except AuditInputError as exc:
            raise CommandError(str(exc), returncode=EXIT_BAD_ARGUMENTS) from None
        if options["json"]:
            self.stdout.write(report_json(report))
        else:
            self.stdout.write(format_report(report), ending="")
        if any_failed(report):
            raise SystemExit(EXIT_FAILED)
