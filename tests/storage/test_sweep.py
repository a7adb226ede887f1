"""The storage sweep (config.storage.sweep_all): files no row needs any more are deleted once old enough,
on the filesystem and on object storage; whatever a row still names, or is young, stays.

Files are left behind in the ways the app leaves them: a run's end whose delete never ran (a store
that was down at the commit), a set's staged uploads after its ingest ended, evidence rows deleted
in bulk (a guideline version upgrade drops removed items' answers), an upload's bytes after a
failed delete. "Old" is made by setting the file's modification time (filesystem) or by a sweep that
counts everything as old (object storage, whose times cannot be set).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import storages
from django.core.management import call_command
from django.urls import reverse

from api.enums import UploadStatus
from api.models import ChunkedUpload
from api.services.uploads import upload_start
from audits.enums import ChunkKind, RunStatus, SetStatus
from audits.models import AuditChunk, AuditRun, ImageFile, ImageSet
from audits.services import runs
from config import storage as config_storage
from config.storage import private_storage, private_storage_settings, sweep_all, write_atomic
from reviews.models import EvidenceFile
from tests.audits.test_runs_search import _run
from tests.workflow import attach_evidence

pytestmark = pytest.mark.django_db

DAY = 24 * 3600


@pytest.fixture
def folder(settings: Any, tmp_path: Path) -> Path:
    """A private folder of this test's own, so that the sweep sees only this test's files."""
    root = tmp_path / "private"
    root.mkdir()
    settings.PRIVATE_STORAGE_ROOT = root
    private = private_storage_settings(root=root)
    settings.STORAGES = {**settings.STORAGES, "default": private, "private": private}
    fields = [ImageFile._meta.get_field("stored"), EvidenceFile._meta.get_field("file")]
    before = [field.storage for field in fields]  # type: ignore[union-attr]
    for field in fields:
        field.storage = storages["private"]  # type: ignore[union-attr]
    yield root
    for field, storage in zip(fields, before, strict=True):
        field.storage = storage  # type: ignore[union-attr]


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Move the sweep's clock on by `days` (a file's own times cannot be set back: a rename or
    `os.utime` sets its inode's change time to now, which the sweep also reads)."""

    def move(days: float = 2) -> None:
        monkeypatch.setattr(config_storage, "_now", lambda: time.time() + days * DAY)

    return move


def _names(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def _world(project, researcher, tmp_path: Path) -> dict[str, Any]:
    """A finished run whose files stayed, a running one's, a read set's staged uploads, evidence kept
    and evidence whose rows went in bulk, an open upload and a cancelled one's bytes."""
    run = _run(project, researcher, tmp_path / "a")  # read chunks done: their artifacts are stored
    finished = list(AuditChunk.objects.filter(run=run, kind=ChunkKind.READ).values_list("artifact", flat=True))
    runs.run_fail(run_id=run.pk, reason="ended while the store was down")  # the delete after commit never ran
    live_run = AuditRun.objects.create(project=project, requested_by=researcher, status=RunStatus.RUNNING)
    live_artifact = write_atomic(f"runs/{live_run.pk}/chunk-0-a1.npz", b"in use")
    ready = ImageSet.objects.filter(project=project, status=SetStatus.READY).first()
    assert ready is not None
    staged_left = write_atomic(f"uploads/{ready.pk}/{'a' * 32}", b"staged, ingest ended")
    reading = ImageSet.objects.create(
        project=project, role=ready.role, status=SetStatus.INGESTING, uploaded_by=researcher, is_current=False
    )
    staged_live = write_atomic(f"uploads/{reading.pk}/{'b' * 32}", b"staged, being read")
    image_in_reading = write_atomic(f"images/{reading.pk}/{'9' * 32}", b"read, its row not written yet")
    stray_image = write_atomic(f"images/{ready.pk}/{'c' * 32}", b"an image no row names")
    dropped_name = attach_evidence(project, "dropped.txt", b"evidence whose row went in bulk").file.name
    EvidenceFile.objects.filter(file=dropped_name).delete()  # a bulk delete: no file is deleted with it
    kept_evidence = attach_evidence(project, "kept.txt", b"kept").file.name
    open_upload = upload_start(actor=researcher, project=project, filename="scan.dcm", size=10)
    write_atomic(open_upload.stored_name, b"0123")
    gone = upload_start(actor=researcher, project=project, filename="old.dcm", size=10)
    write_atomic(gone.stored_name, b"cancelled")
    write_atomic(f"{gone.stored_name}.parts/{0:015d}", b"cancelled")
    ChunkedUpload.objects.filter(pk=gone.pk).update(status=UploadStatus.CANCELLED)
    return {
        "deleted": {
            *finished,
            staged_left,
            # the ingested sets' staged uploads, whose removal after the ingest's commit never ran
            *(name for done in ImageSet.objects.filter(status=SetStatus.READY) for _label, name in done.staged),
            stray_image,
            dropped_name,
            gone.stored_name,
            f"{gone.stored_name}.parts/{0:015d}",
        },
        "kept": {
            live_artifact,
            staged_live,
            image_in_reading,
            kept_evidence,
            open_upload.stored_name,
            *ImageFile.objects.exclude(stored="").values_list("stored", flat=True),
        },
    }


def test_old_files_no_row_needs_are_deleted_and_the_rest_stays(
    folder, later, client, project, researcher, items, tmp_path
):
    world = _world(project, researcher, tmp_path)
    (folder / "letters").mkdir()
    (folder / "letters" / "unknown.pdf").write_bytes(b"a folder no app registered")
    before = _names(folder)
    assert world["deleted"] | world["kept"] <= before

    assert sum(sweep_all(older_than=DAY).values()) == 0  # everything is new: nothing is touched
    assert _names(folder) == before

    later(days=2)
    counts = sweep_all(older_than=DAY)
    assert _names(folder) == before - world["deleted"]
    by_folder = {folder: sum(name.startswith(f"{folder}/") for name in world["deleted"]) for folder in counts}
    assert counts == by_folder and by_folder["chunked"] == 2 and by_folder["runs"] >= 2
    assert "letters/unknown.pdf" in _names(folder)  # not a registered folder: never swept
    assert not (folder / "runs" / str(AuditChunk.objects.first().run_id)).exists()  # emptied folders go too

    # what stayed still works: the set's images are shown, the kept evidence downloads
    client.force_login(project.owner)
    evidence = EvidenceFile.objects.get()  # the one row left
    url = reverse("evidence-download", kwargs={"pk": project.pk, "evidence_pk": evidence.pk})
    assert b"".join(client.get(url).streaming_content) == b"kept"


def test_a_file_written_within_the_grace_is_spared_though_no_row_names_it_yet(folder, later, project, items):
    staged = write_atomic("uploads/999999/" + "e" * 32, b"an upload whose set row has not committed yet")
    moved = folder / "uploads" / "999999" / ("f" * 32)  # moved into place by a rename: an old content time
    (folder / "elsewhere").write_bytes(b"an API upload's bytes, received two days ago")
    os.utime(folder / "elsewhere", (time.time() - 2 * DAY, time.time() - 2 * DAY))
    os.rename(folder / "elsewhere", moved)
    assert sweep_all(older_than=DAY)["uploads"] == 0
    assert private_storage().exists(staged) and moved.exists()
    later(days=2)
    assert sweep_all(older_than=DAY)["uploads"] == 2  # no row ever came for them


def test_the_command_sweeps_and_refuses_a_grace_under_an_hour(folder, later, project, researcher, items, capsys):
    stray = write_atomic("images/999999/" + "f" * 32, b"an image of a deleted set")
    later(days=2)
    with pytest.raises(SystemExit):
        call_command("sweep_storage", older_than_hours=0.5)
    assert private_storage().exists(stray)
    call_command("sweep_storage")
    assert not private_storage().exists(stray)
    assert "images/: 1 file(s) no row needs deleted" in capsys.readouterr().out


def test_the_sweep_on_object_storage(s3, project, researcher, items, tmp_path):
    world = _world(project, researcher, tmp_path)
    assert world["deleted"] | world["kept"] <= set(s3.keys())
    assert sum(sweep_all(older_than=DAY).values()) == 0  # just written
    before = set(s3.keys())
    sweep_all(older_than=-60)  # counts every object as old
    assert set(s3.keys()) == before - world["deleted"]


def test_the_sweep_goes_through_a_folder_of_many_files_in_batches(folder, later, project, researcher, items):
    orphan = write_atomic("evidence/" + "0" * 32, b"no row names it")
    strays = [write_atomic(f"images/999999/{i:032x}", b"x") for i in range(1005)]  # past one batch of 1000
    later(days=2)
    counts = sweep_all(older_than=DAY)
    assert counts["images"] == len(strays) and counts["evidence"] == 1
    assert not any(private_storage().exists(name) for name in [*strays, orphan])
