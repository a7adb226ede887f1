from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from reviews.services.catalogue import DEFAULT_CATALOGUE, catalogue_load


class Command(BaseCommand):
    help = "Load a shipped guideline catalogue (default: MISyn v1) as a published version. Safe to repeat."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_CATALOGUE)

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        version, created = catalogue_load(path=path)
        items = version.items.count()
        stages = version.stages.count()
        state = "loaded" if created else "already present"
        self.stdout.write(self.style.SUCCESS(f"{version}: {state}, {items} items in {stages} stages."))
