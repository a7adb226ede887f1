"""Which stored files of the audits app a row still needs (config.storage.sweep, issue 13 hardening).

The app deletes a file when its row goes (a finished run's artifacts, an ended ingest's staged
uploads) after the commit, best effort: a store that is down at that moment leaves the file, and
a deleted set or project leaves its images. These rules name what must stay; the sweep deletes
the rest once it is old enough not to be in the middle of being written.
"""

from __future__ import annotations

from audits.enums import RunStatus, SetStatus
from audits.models import AuditRun, ImageFile, ImageSet


def _owner_id(name: str) -> int | None:
    """The row id in a name `<folder>/<id>/...`; None for a name no code of this app writes."""
    parts = name.split("/")
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None


def runs_needed(names: list[str]) -> set[str]:
    """`runs/<run id>/...`: the artifacts of a run still queued or running."""
    ids = {owner for owner in map(_owner_id, names) if owner is not None}
    live = set(
        AuditRun.objects.filter(pk__in=ids, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).values_list(
            "pk", flat=True
        )
    )
    return {name for name in names if _owner_id(name) in live}


def uploads_needed(names: list[str]) -> set[str]:
    """`uploads/<set id>/...`: the staged uploads of a set still being read."""
    ids = {owner for owner in map(_owner_id, names) if owner is not None}
    reading = set(ImageSet.objects.filter(pk__in=ids, status=SetStatus.INGESTING).values_list("pk", flat=True))
    return {name for name in names if _owner_id(name) in reading}


def images_needed(names: list[str]) -> set[str]:
    """`images/<set id>/<random>`: the images an image file row names, and every image of a set still
    being read (its rows are written at the end of the ingest, however long it takes)."""
    ids = {owner for owner in map(_owner_id, names) if owner is not None}
    reading = set(ImageSet.objects.filter(pk__in=ids, status=SetStatus.INGESTING).values_list("pk", flat=True))
    named = set(ImageFile.objects.filter(stored__in=names).values_list("stored", flat=True))
    return {name for name in names if name in named or _owner_id(name) in reading}
