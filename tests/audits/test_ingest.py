"""Ingestion in the worker: budgets that hold with bounded memory, redelivery, the reconciler, a broker outage.

The ingest here runs in the test process through the same service the `audits.ingest_set`
task calls (tests/audits/test_live.py runs it in a real worker). Memory is measured with
tracemalloc (every bytes object zlib and the readers make is traced): a refusal must cost
megabytes where the expansion would have cost a gigabyte.
"""

from __future__ import annotations

import json
import resource
import struct
import tracemalloc
import zlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import kombu.exceptions
import pytest
from celery import current_app
from django.conf import settings
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from audits.enums import RunStatus, SetRole, SetStatus
from audits.models import AuditRun, ImageFile, ImageSet
from audits.services import runs
from audits.services.ingest import WORKERS_UNREACHABLE, _storable, image_set_ingest, ingest_claim, reconcile_ingests
from audits.services.uploads import image_set_upload
from tests.audits.images import dicom_source
from tests.audits.test_archives import many_member_zip

pytestmark = pytest.mark.django_db

CT = dicom_source("CT_small.dcm").read_bytes()
MR = dicom_source("MR_small.dcm").read_bytes()
MiB = 1024 * 1024


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def nifti_header(dims: tuple[int, ...], datatype: int = 16, bitpix: int = 32) -> bytes:
    """A NIfTI-1 header (348 bytes, 4 bytes of extension flag) declaring `dims` of float32 by default."""
    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, len(dims), *dims, *(1,) * (7 - len(dims)))
    struct.pack_into("<hh", header, 70, datatype, bitpix)
    struct.pack_into("<4f", header, 76, 1.0, 1.0, 1.0, 1.0)
    struct.pack_into("<f", header, 108, 352.0)
    struct.pack_into("<f", header, 112, 1.0)  # scl_slope
    header[344:348] = b"n+1\0"
    return bytes(header)


def gzip_of_zeros(head: bytes, zeros: int) -> bytes:
    """gzip(head + `zeros` zero bytes), built fast: after a full flush every 1 MiB of zeros deflates
    to the same bytes, so the stream is one block repeated (a valid stream, about 1 KB per MiB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(bytes(MiB)) + packer.flush(zlib.Z_FULL_FLUSH)
    end = packer.flush()
    crc = zlib.crc32(head)
    for _ in range(zeros // MiB):
        crc = zlib.crc32(bytes(MiB), crc)
    trailer = struct.pack("<LL", crc, (len(head) + zeros) & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + start + block * (zeros // MiB) + end + trailer


def measured(action: Callable[[], Any]) -> tuple[Any, int, int]:
    """(result, peak traced Python allocation in bytes, growth of the process's peak RSS in bytes)."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        result = action()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    return result, peak, rss_growth


@pytest.fixture
def current(project, researcher) -> ImageSet:
    """A current synthetic set, which a refused or failed ingest must leave current."""
    return image_set_upload(
        actor=researcher, project=project, role=SetRole.SYNTHETIC, files=[upload("ct.dcm", CT)], ingest_now=True
    )


def assert_still_current(image_set: ImageSet) -> None:
    image_set.refresh_from_db()
    assert image_set.is_current and image_set.status == SetStatus.READY
    assert set(ImageSet.objects.filter(is_current=True)) == {image_set}


# --------------------------------------------------------------------------- budgets with bounded memory


def test_a_many_member_zip_bomb_is_refused_in_the_ingest_with_bounded_memory(project, researcher, current) -> None:
    bomb = many_member_zip(1100, MiB - 1)  # 1.3 MB that expands to 1.07 GiB, every member under the floor
    staged = image_set_upload(actor=researcher, project=project, role="synthetic", files=[upload("slices.zip", bomb)])
    image_set, peak, rss_growth = measured(lambda: image_set_ingest(image_set_id=staged.pk))
    print(f"zip bomb refused: traced peak {peak / MiB:.1f} MiB, peak RSS growth {rss_growth / MiB:.1f} MiB")
    assert image_set.status == SetStatus.REFUSED
    assert image_set.message.startswith("The archive “slices.zip” was refused: it expands more than 100 times")
    assert "ARCHIVE_MAX_RATIO" in image_set.message
    assert peak < 16 * MiB and rss_growth < 64 * MiB  # the expansion would have been 1,100 MiB
    assert image_set.files.count() == 0
    assert_still_current(current)


def test_a_nii_gz_declaring_a_huge_volume_is_refused_before_decompressing(project, researcher) -> None:
    # The attack: 1 MB of gzip holding a header that declares 1024 x 1024 x 256 float32 voxels (1 GiB)
    # and the full gigabyte of zeros behind it.
    lying = gzip_of_zeros(nifti_header((1024, 1024, 256)), 1024 * MiB)
    assert len(lying) < 1.2 * MiB
    staged = image_set_upload(
        actor=researcher,
        project=project,
        role="synthetic",
        files=[upload("volume.nii.gz", lying), upload("ct.dcm", CT)],
    )
    image_set, peak, rss_growth = measured(lambda: image_set_ingest(image_set_id=staged.pk))
    print(f"lying .nii.gz refused: traced peak {peak / MiB:.1f} MiB, peak RSS growth {rss_growth / MiB:.1f} MiB")
    assert image_set.status == SetStatus.READY and image_set.is_current  # one bad file does not refuse the set
    refused = image_set.files.get(name="volume.nii.gz")
    assert refused.error == (
        "NIfTI header declares 1024x1024x256 voxels x 4 bytes = 1 GiB of pixel data, more than the limit of "
        "512 MiB per file; nothing was decompressed"
    )
    assert not refused.stored and image_set.files.get(name="ct.dcm").accepted
    assert peak < 16 * MiB and rss_growth < 64 * MiB


def test_a_nii_gz_stream_longer_than_its_header_declares_is_stopped_at_the_declared_size(project, researcher) -> None:
    # The header declares 64 x 64 x 1 float32 (16 KiB); the stream goes on for 256 MiB.
    lying = gzip_of_zeros(nifti_header((64, 64, 1)), 256 * MiB)
    staged = image_set_upload(
        actor=researcher, project=project, role="synthetic", files=[upload("slice.nii.gz", lying)]
    )
    image_set, peak, _rss = measured(lambda: image_set_ingest(image_set_id=staged.pk))
    error = image_set.files.get().error
    assert error.startswith("NIfTI .gz stream decompresses to more than its header declares (16.3 KiB)")
    assert "decompression was stopped there" in error
    assert peak < 16 * MiB


def test_the_declared_pixel_budget_is_a_setting(project, researcher, settings) -> None:
    settings.IMAGE_MAX_DECLARED_BYTES = 16 * 1024  # CT_small declares 128 x 128 x 16 bits = 32 KiB
    image_set = image_set_upload(
        actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", CT)], ingest_now=True
    )
    assert image_set.files.get().error == (
        "DICOM header declares 128x128 pixels x 1 frames x 1 samples x 16 bits = 32 KiB of pixel data, "
        "more than the limit of 16 KiB per file; no pixel was decoded"
    )


def test_the_time_limit_holds_between_files_whatever_swallows_the_signal(
    project, researcher, current, settings
) -> None:
    """Celery's soft limit is a signal that a library's own `except Exception` may swallow; the
    ingest also checks the limit itself between files, so a set over it always fails, with why."""
    settings.AUDIT_TASK_TIME_LIMIT = 0
    image_set = image_set_upload(
        actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", CT)], ingest_now=True
    )
    assert image_set.status == SetStatus.FAILED and not image_set.is_current
    assert image_set.message.startswith("Reading the files took longer than the limit of 0 s per set")
    current.refresh_from_db()
    assert current.is_current


def test_the_upload_budget_spans_archives_and_loose_files(project, researcher, current, settings) -> None:
    settings.UPLOAD_MAX_EXPANDED_BYTES = len(CT) + len(MR) // 2
    image_set = image_set_upload(
        actor=researcher,
        project=project,
        role="synthetic",
        files=[upload("ct.dcm", CT), upload("more.zip", many_member_zip(1, 1)), upload("mr.dcm", MR)],
        ingest_now=True,
    )
    assert image_set.status == SetStatus.REFUSED
    assert image_set.message.startswith("The upload was refused at “mr.dcm”: the upload's files add up to more than")
    assert_still_current(current)


# --------------------------------------------------------------------------- delivery and the reconciler


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, dict[str, Any]]]:
    """Messages handed to Celery (the broker itself is not our code), instead of a broker."""
    messages: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(current_app, "send_task", lambda name, kwargs=None, **_: messages.append((name, kwargs)))
    return messages


def test_a_second_delivery_while_a_worker_holds_the_set_does_nothing(project, researcher) -> None:
    staged = image_set_upload(actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", CT)])
    held = ingest_claim(image_set_id=staged.pk)
    assert held is not None and held.attempts == 1
    assert image_set_ingest(image_set_id=staged.pk) is None  # redelivered while the first one reads
    staged.refresh_from_db()
    assert staged.status == SetStatus.INGESTING and staged.attempts == 1 and staged.files.count() == 0


def test_the_reconciler_resends_a_lost_message_then_hands_on_and_finally_fails_a_lost_worker(
    project, researcher, current, sent, django_capture_on_commit_callbacks
) -> None:
    staged = image_set_upload(actor=researcher, project=project, role="synthetic", files=[upload("mr.dcm", MR)])
    # The message was lost (never executed here); not due yet, then due.
    with django_capture_on_commit_callbacks(execute=True):
        assert reconcile_ingests()["resent"] == 0
    ImageSet.objects.filter(pk=staged.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert reconcile_ingests() == {"requeued": 0, "failed": 0, "resent": 1}
    assert sent == [("audits.ingest_set", {"image_set_id": staged.pk})]

    for attempt in range(1, settings.AUDIT_MAX_ATTEMPTS + 1):
        assert ingest_claim(image_set_id=staged.pk) is not None  # a worker takes it, then dies
        ImageSet.objects.filter(pk=staged.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        with django_capture_on_commit_callbacks(execute=True):
            counts = reconcile_ingests()
        last = attempt == settings.AUDIT_MAX_ATTEMPTS
        assert counts == {"requeued": 0 if last else 1, "failed": 1 if last else 0, "resent": 0}
    staged.refresh_from_db()
    assert staged.status == SetStatus.FAILED and not staged.is_current
    assert staged.message.startswith(f"The worker reading these files was lost {settings.AUDIT_MAX_ATTEMPTS} times")
    assert len(sent) == settings.AUDIT_MAX_ATTEMPTS  # the first resend and each hand-on
    assert_still_current(current)
    assert image_set_ingest(image_set_id=staged.pk) is None  # a late delivery changes nothing


@pytest.mark.django_db(transaction=True)
def test_a_broker_down_at_upload_keeps_the_files_and_the_reconcilers_send_later(
    client, project, researcher, monkeypatch
) -> None:
    def broker_down(*args: object, **kwargs: object) -> None:
        raise kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(current_app, "send_task", broker_down)
    client.force_login(researcher)
    response = client.post(
        reverse("imageset-upload", kwargs={"pk": project.pk}),
        {"role": "synthetic", "files": [upload("ct.dcm", CT), upload("mr.dcm", MR)]},
    )
    assert response.status_code == 302
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert "the workers are unreachable right now, it will start when they are back" in message
    image_set = ImageSet.objects.get(project=project)
    assert image_set.status == SetStatus.INGESTING and image_set.message == WORKERS_UNREACHABLE
    for _label, name in image_set.staged:  # committed with its row: kept
        assert (Path(settings.PRIVATE_STORAGE_ROOT) / name).is_file()
    page = client.get(response["Location"]).content.decode()
    assert WORKERS_UNREACHABLE in page

    # Still down for the reconciler's pass: nothing lost, nothing raised.
    assert reconcile_ingests()["resent"] == 1
    image_set.refresh_from_db()
    assert image_set.message == WORKERS_UNREACHABLE and image_set.lease_until <= timezone.now()

    # The broker is back: the next pass sends the ingest; the worker (here, the service) reads the set.
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(current_app, "send_task", lambda name, kwargs=None, **_: sent.append((name, kwargs)))
    assert reconcile_ingests()["resent"] == 1
    assert sent == [("audits.ingest_set", {"image_set_id": image_set.pk})]
    monkeypatch.setattr(current_app, "send_task", broker_down)  # down again when the run is queued
    image_set = image_set_ingest(image_set_id=image_set.pk)
    assert image_set is not None and image_set.is_current and image_set.n_accepted == 2
    run = AuditRun.objects.get(project=project)
    assert run.status == RunStatus.QUEUED and ImageFile.objects.filter(image_set=image_set).count() == 2
    for image_file in ImageFile.objects.filter(image_set=image_set):
        assert Path(image_file.stored.path).is_file()
    monkeypatch.setattr(current_app, "send_task", lambda name, kwargs=None, **_: sent.append((name, kwargs)))
    AuditRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert runs.reconcile_runs()["resent"] == 1
    assert sent[-1] == ("audits.start_run", {"run_id": run.pk})


def test_asking_for_a_run_while_the_synthetic_set_is_read_says_so(client, project, researcher) -> None:
    image_set_upload(actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", CT)])
    client.force_login(researcher)
    response = client.post(reverse("audit-run-start", kwargs={"pk": project.pk}), follow=True)
    assert "The synthetic set is still being read; the audits start by themselves once it is done." in (
        response.content.decode()
    )
    assert not AuditRun.objects.exists()


def test_notes_are_kept_in_text_the_database_holds() -> None:
    """A header or side file may carry a NUL or an unpaired surrogate (JSON escapes write both):
    the set's notes drop the NUL and write the surrogate as "?", rather than fail the whole set."""
    kept = _storable({"name a\ud800": ["x\x00y", "\udfff", 3, None]})
    assert kept == {"name a?": ["xy", "?", 3, None]}
    assert json.dumps(kept, ensure_ascii=False).encode("utf-8")  # storable as UTF-8 text
