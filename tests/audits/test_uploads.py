"""Uploading an image set: every file checked by content, stored privately, audits queued."""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tarfile
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from audits.engine.preprocess import Preprocessing
from audits.engine.readers import NOT_AN_IMAGE, read_file
from audits.enums import RunStatus, SetRole, SetStatus
from audits.models import AuditRun, ImageFile, ImageSet
from audits.services import ingest as ingest_service
from audits.services import uploads
from audits.services.ingest import image_set_ingest
from audits.services.uploads import UploadRejected, image_set_upload
from reviews.enums import Action, ProjectStatus
from reviews.models import ActivityEntry
from reviews.services.projects import ProjectNotEditable
from tests.audits.images import dicom_source, write_nifti, write_text_as_dcm, write_truncated_file

pytestmark = pytest.mark.django_db

CT = dicom_source("CT_small.dcm").read_bytes()
MR = dicom_source("MR_small.dcm").read_bytes()
RANDOM_NAME = re.compile(r"^images/(\d+)/[0-9a-f]{32}$")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tgz_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


@pytest.fixture
def hostile(tmp_path: Path) -> dict[str, bytes]:
    return {
        "text.dcm": write_text_as_dcm(tmp_path / "text.dcm").read_bytes(),
        "truncated.dcm": write_truncated_file(tmp_path / "truncated.dcm").read_bytes(),
    }


@pytest.fixture
def scans_zip(hostile: dict[str, bytes]) -> bytes:
    return zip_of(
        {
            "scans/ct.dcm": CT,
            "scans/mr.dcm": MR,
            "scans/notes.dcm": hostile["text.dcm"],
            "scans/truncated.dcm": hostile["truncated.dcm"],
        }
    )


@pytest.fixture(autouse=True)
def upload_temp(tmp_path: Path, settings):
    """Uploads unpack here, so that a test can see the temporary folders go again."""
    folder = tmp_path / "upload-temp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


def private_tree() -> set[str]:
    root = Path(settings.PRIVATE_STORAGE_ROOT)
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def assert_nothing_saved(before: set[str], upload_temp: Path) -> None:
    assert ImageSet.objects.count() == 0 and ImageFile.objects.count() == 0
    assert AuditRun.objects.count() == 0
    assert not ActivityEntry.objects.filter(action=Action.UPLOAD).exists()
    assert private_tree() == before
    assert list(upload_temp.iterdir()) == []


# --------------------------------------------------------------------------- the service


def ingest(image_set: ImageSet) -> ImageSet:
    """What the worker's audits.ingest_set task does, in this process."""
    result = image_set_ingest(image_set_id=image_set.pk)
    assert result is not None
    return result


def test_the_upload_stages_the_files_and_queues_the_ingest_without_reading_them(
    project, researcher, scans_zip, upload_temp, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        image_set = image_set_upload(
            actor=researcher, project=project, role=SetRole.SYNTHETIC, files=[upload("scans.zip", scans_zip)]
        )
    assert image_set.status == SetStatus.INGESTING and not image_set.is_current
    assert ImageFile.objects.count() == 0 and AuditRun.objects.count() == 0  # nothing read in the request
    ((label, staged),) = image_set.staged
    assert label == "scans.zip" and staged.startswith(f"uploads/{image_set.pk}/")
    assert (Path(settings.PRIVATE_STORAGE_ROOT) / staged).read_bytes() == scans_zip
    assert len(callbacks) == 1  # the ingest message waits for the commit
    entry = ActivityEntry.objects.get(action=Action.UPLOAD)
    assert entry.new == {"role": "synthetic", "status": "ingesting", "uploaded_files": 1}
    assert list(upload_temp.iterdir()) == []


def test_a_zip_of_real_dicom_is_read_in_the_ingest_stored_and_queued(
    project, researcher, scans_zip, hostile, upload_temp, django_capture_on_commit_callbacks
) -> None:
    image_set = image_set_upload(
        actor=researcher, project=project, role=SetRole.SYNTHETIC, files=[upload("scans.zip", scans_zip)]
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        image_set = ingest(image_set)

    assert image_set.status == SetStatus.READY and image_set.is_current and image_set.uploaded_by == researcher
    assert (image_set.n_files, image_set.n_accepted, image_set.n_rejected, image_set.n_images) == (4, 2, 2, 2)
    assert image_set.n_read == 4 and image_set.worker.endswith(f":{os.getpid()}") and image_set.attempts == 1
    files = {f.name: f for f in image_set.files.all()}
    assert sorted(files) == ["scans/ct.dcm", "scans/mr.dcm", "scans/notes.dcm", "scans/truncated.dcm"]

    for name, data, source in (("scans/ct.dcm", CT, "CT_small.dcm"), ("scans/mr.dcm", MR, "MR_small.dcm")):
        image_file = files[name]
        header = pydicom.dcmread(dicom_source(source), stop_before_pixels=True)
        assert image_file.error == "" and image_file.format == "dicom"
        assert (image_file.width, image_file.height, image_file.slices) == (header.Columns, header.Rows, 1)
        assert image_file.size == len(data) and image_file.sha256 == sha(data)  # of the bytes as uploaded
        match = RANDOM_NAME.match(image_file.stored.name)
        assert match and int(match.group(1)) == image_set.pk  # random, not the uploaded name
        stored = Path(settings.PRIVATE_STORAGE_ROOT) / image_file.stored.name
        assert stored.read_bytes() == bytes(128) + data[128:] and stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert image_file.header  # selected header values, JSON

    for name, data in (("scans/notes.dcm", hostile["text.dcm"]), ("scans/truncated.dcm", hostile["truncated.dcm"])):
        rejected = files[name]
        assert rejected.error and not rejected.stored and rejected.format == ""
        assert rejected.size == len(data) and rejected.sha256 == sha(data)
    assert files["scans/notes.dcm"].error == NOT_AN_IMAGE

    lines = sorted(f"{name}:{sha(data)}" for name, data in (("scans/ct.dcm", CT), ("scans/mr.dcm", MR)))
    assert image_set.digest == sha("\n".join(lines).encode())

    entry = ActivityEntry.objects.filter(action=Action.CHANGE, object_id=str(image_set.pk)).get()
    assert entry.project == project
    assert entry.new == {"status": "ready", "n_files": 4, "n_accepted": 2, "n_rejected": 2, "digest": image_set.digest}

    run = AuditRun.objects.get(project=project)
    assert run.status == RunStatus.QUEUED and list(run.sets.all()) == [image_set]
    assert run.reason == "synthetic set uploaded" and run.requested_by == researcher
    assert len(callbacks) == 2  # the run's message and the staging clean-up wait for the commit
    for callback in callbacks[1:]:
        callback()
    assert not {name for _label, name in image_set.staged} & private_tree()  # staging removed after the commit
    assert list(upload_temp.iterdir()) == []  # the extraction folder is gone


def test_the_dicom_preamble_is_zeroed_in_storage_and_the_digest_is_of_the_upload(project, researcher) -> None:
    planted = b"<html><script>alert(1)</script></html>MZ\x90\x00".ljust(128, b" ") + CT[128:]
    first = image_set_upload(
        actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", planted)], ingest_now=True
    )
    image_file = first.files.get()
    stored = (Path(settings.PRIVATE_STORAGE_ROOT) / image_file.stored.name).read_bytes()
    assert stored[:128] == bytes(128) and stored[128:] == CT[128:]
    assert image_file.sha256 == sha(planted) and image_file.size == len(planted)
    again = image_set_upload(
        actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", planted)], ingest_now=True
    )
    assert again.digest == first.digest and again.is_current  # a re-upload of the same bytes: the same digest
    record, _images = read_file(Path(image_file.stored.path), "ct.dcm", Preprocessing())
    assert record.accepted and record.header["SOPInstanceUID"]  # the stored copy still reads


def test_a_new_upload_supersedes_the_current_set_of_its_role(project, researcher) -> None:
    def now(role: str, *files: SimpleUploadedFile) -> ImageSet:
        return image_set_upload(actor=researcher, project=project, role=role, files=list(files), ingest_now=True)

    reference = now("reference", upload("mr.dcm", MR))
    first = now("synthetic", upload("ct.dcm", CT))
    second = now("synthetic", upload("ct.dcm", CT), upload("mr.dcm", MR))
    first.refresh_from_db()
    reference.refresh_from_db()
    assert not first.is_current and second.is_current and reference.is_current
    assert set(ImageSet.objects.filter(project=project, is_current=True)) == {reference, second}
    assert first.files.count() == 1  # the old set keeps its manifest
    assert ActivityEntry.objects.filter(action=Action.UPLOAD).count() == 3
    latest = AuditRun.objects.filter(project=project).first()
    assert latest is not None and set(latest.sets.all()) == {reference, second}


def test_an_ingesting_set_is_not_current_and_an_older_upload_never_overtakes_a_newer_one(project, researcher) -> None:
    current = image_set_upload(
        actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", CT)], ingest_now=True
    )
    older = image_set_upload(actor=researcher, project=project, role="synthetic", files=[upload("mr.dcm", MR)])
    newer = image_set_upload(actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", CT)])
    assert set(ImageSet.objects.filter(is_current=True)) == {current}  # both still being read
    assert ingest(newer).is_current
    older = ingest(older)
    assert older.status == SetStatus.FAILED and not older.is_current
    assert "A newer upload of this set became current" in older.message
    assert set(ImageSet.objects.filter(is_current=True)) == {newer}


def test_loose_files_and_archives_mix_and_duplicate_names_are_made_unique(project, researcher) -> None:
    image_set = image_set_upload(
        actor=researcher,
        project=project,
        role=SetRole.REFERENCE,
        files=[
            upload("ct.dcm", CT),
            upload("more.zip", zip_of({"ct.dcm": MR, "b/mr.dcm": MR})),
            upload("ct.dcm", CT),
            upload("archive.bin", tgz_of({"c/ct.dcm": CT})),  # recognised by content, not by name
        ],
        ingest_now=True,
    )
    names = dict(image_set.files.values_list("name", "sha256"))
    assert names == {
        "ct.dcm": sha(CT),
        "ct~2.dcm": sha(MR),
        "ct~3.dcm": sha(CT),
        "b/mr.dcm": sha(MR),
        "c/ct.dcm": sha(CT),
    }
    assert image_set.n_accepted == 5
    assert any("Renamed a second “ct.dcm” to “ct~2.dcm”" in note for note in image_set.notes)


def test_a_nested_archive_is_a_rejected_file_that_says_why(project, researcher) -> None:
    inner = zip_of({"ct.dcm": CT})
    image_set = image_set_upload(
        actor=researcher,
        project=project,
        role="synthetic",
        files=[upload("outer.zip", zip_of({"mr.dcm": MR, "inner.zip": inner, "inner.tgz": tgz_of({"a.dcm": CT})}))],
        ingest_now=True,
    )
    files = {f.name: f for f in image_set.files.all()}
    assert files["mr.dcm"].accepted and image_set.is_current
    for name, kind in (("inner.zip", "zip"), ("inner.tgz", "tar")):
        assert files[name].error.startswith(f"a {kind} archive inside the uploaded archive: nested archives are not")


def test_a_nifti_sidecar_travels_with_its_image(project, researcher, tmp_path) -> None:
    nifti = write_nifti(tmp_path / "brain.nii.gz", kind="slice", flag="sidecar")
    archive = zip_of(
        {
            "brain.nii.gz": nifti.read_bytes(),
            "brain.json": (tmp_path / "brain.json").read_bytes(),
            "stray.json": b'{"a": 1}',
        }
    )
    image_set = image_set_upload(
        actor=researcher, project=project, role="synthetic", files=[upload("set.zip", archive)], ingest_now=True
    )
    files = {f.name: f for f in image_set.files.all()}
    assert sorted(files) == ["brain.nii.gz", "stray.json"]
    assert files["brain.nii.gz"].format == "nifti" and files["brain.nii.gz"].header["sidecar"]["SyntheticData"] == "YES"
    assert "sidecar" in files["stray.json"].error


def test_a_set_without_one_valid_file_is_refused_and_the_previous_set_stays(project, researcher, hostile) -> None:
    previous = image_set_upload(
        actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", CT)], ingest_now=True
    )
    runs_before = AuditRun.objects.count()
    image_set = image_set_upload(
        actor=researcher,
        project=project,
        role="synthetic",
        files=[upload("notes.dcm", hostile["text.dcm"])],
        ingest_now=True,
    )
    # Recorded with each file's reason, but it neither replaces the readable set nor is audited:
    # a set of nothing would be judged "not computable" and pass a pipeline's check.
    assert (image_set.n_files, image_set.n_accepted) == (1, 0)
    assert image_set.files.get().error == NOT_AN_IMAGE
    assert image_set.status == SetStatus.REFUSED and not image_set.is_current
    assert image_set.message.startswith("None of the 1 file could be read as an image (“notes.dcm”: ")
    previous.refresh_from_db()
    assert previous.is_current and AuditRun.objects.count() == runs_before


def test_a_refused_archive_is_refused_in_the_ingest_and_the_previous_set_stays(project, researcher) -> None:
    previous = image_set_upload(
        actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", CT)], ingest_now=True
    )
    runs_before = AuditRun.objects.count()
    stored_before = {name for name in private_tree() if name.startswith("images/")}
    hostile = zip_of({"ct.dcm": CT, "../../evil.dcm": CT})
    image_set = image_set_upload(
        actor=researcher,
        project=project,
        role="synthetic",
        files=[upload("mr.dcm", MR), upload("bad.zip", hostile)],
        ingest_now=True,
    )
    assert image_set.status == SetStatus.REFUSED and not image_set.is_current
    assert "The archive “bad.zip” was refused" in image_set.message and "outside" in image_set.message
    previous.refresh_from_db()
    assert previous.is_current and image_set.files.count() == 0
    assert AuditRun.objects.count() == runs_before
    assert {name for name in private_tree() if name.startswith("images/")} == stored_before


def test_a_failing_ingest_keeps_no_stored_file_and_leaves_the_previous_set(project, researcher, monkeypatch) -> None:
    previous = image_set_upload(
        actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", CT)], ingest_now=True
    )
    stored_before = {name for name in private_tree() if name.startswith("images/")}

    def fault(**kwargs: object) -> None:
        raise RuntimeError("fault injected after the files were stored")

    monkeypatch.setattr(ingest_service, "audit_run_request", fault)
    image_set = image_set_upload(
        actor=researcher, project=project, role="synthetic", files=[upload("mr.dcm", MR)], ingest_now=True
    )
    assert image_set.status == SetStatus.FAILED and "fault injected" in image_set.message
    previous.refresh_from_db()
    assert previous.is_current and image_set.files.count() == 0
    assert {name for name in private_tree() if name.startswith("images/")} == stored_before


def test_staged_bytes_are_deleted_when_the_upload_transaction_fails(
    project, researcher, upload_temp, monkeypatch
) -> None:
    before = private_tree()

    def fault(**kwargs: object) -> None:
        raise RuntimeError("fault injected after the files were staged")

    monkeypatch.setattr(uploads, "activity_record", fault)
    with pytest.raises(RuntimeError):
        image_set_upload(
            actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", CT), upload("mr.dcm", MR)]
        )
    assert_nothing_saved(before, upload_temp)


def test_a_delivered_twice_ingest_is_harmless(project, researcher) -> None:
    image_set = image_set_upload(actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", CT)])
    assert ingest(image_set).is_current
    assert image_set_ingest(image_set_id=image_set.pk) is None  # the second delivery finds it done
    assert ImageFile.objects.filter(image_set=image_set).count() == 1 and AuditRun.objects.count() == 1


def test_no_upload_once_the_project_is_submitted(project, researcher, upload_temp) -> None:
    before = private_tree()
    project.status = ProjectStatus.SUBMITTED
    project.save()
    with pytest.raises(ProjectNotEditable):
        image_set_upload(actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", CT)])
    assert_nothing_saved(before, upload_temp)


def test_a_project_submitted_while_the_files_are_read_keeps_its_sets(project, researcher) -> None:
    image_set = image_set_upload(actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", CT)])
    project.status = ProjectStatus.SUBMITTED
    project.save()
    image_set = ingest(image_set)
    assert image_set.status == SetStatus.FAILED and not image_set.is_current
    assert "submitted while the files were being read" in image_set.message
    assert AuditRun.objects.count() == 0


def test_metadata_and_manifest_are_checked_and_kept(project, researcher) -> None:
    metadata = "file,sex,age\nct.dcm,F,54\nmissing.dcm,M,60\n"
    manifest = '[{"file": "ct.dcm", "generator": "test-gan", "version": "1.0", "seed": 7}]'
    image_set = image_set_upload(
        actor=researcher,
        project=project,
        role="synthetic",
        files=[upload("ct.dcm", CT), upload("mr.dcm", MR)],
        metadata=upload("subjects.csv", ("\ufeff" + metadata).encode()),
        manifest=upload("manifest.json", manifest.encode()),
        value_map=upload("groups.csv", b"attribute,value,group\nsex,W,F\n"),
        ingest_now=True,
    )
    assert image_set.metadata_csv == metadata and image_set.metadata_name == "subjects.csv"
    assert image_set.manifest_text == manifest and image_set.manifest_name == "manifest.json"
    assert image_set.value_map_text == "attribute,value,group\nsex,W,F\n" and image_set.value_map_name == "groups.csv"
    notes = image_set.notes
    assert any("names 1 file(s) that are not accepted files of the set, e.g. “missing.dcm”" in n for n in notes)
    assert any("1 accepted file(s) have no entry in the manifest, e.g. “mr.dcm”" in n for n in notes)


@pytest.mark.parametrize(
    ("field", "name", "data", "role", "words"),
    [
        ("metadata", "meta.csv", b"file,sex\nct.dcm,F,extra\n", "synthetic", "line 2: expected 2 fields"),
        ("metadata", "meta.csv", b"file,sex\nct.dcm,\xff\n", "synthetic", "not UTF-8"),
        ("metadata", "meta.csv", b"", "synthetic", "empty"),
        ("metadata", "meta.csv", b"a" * (5 * 1024 * 1024 + 1), "synthetic", "at most 5.0"),
        ("manifest", "manifest.json", b"{not json", "synthetic", "does not parse"),
        ("manifest", "manifest.csv", b"generator,seed\ngan,1\n", "synthetic", "no file column"),
        ("manifest", "manifest.csv", b"file,generator\nct.dcm,gan\n", "reference", "synthetic set only"),
        ("value_map", "map.csv", b"attribute,value,group\nsex,,F\n", "synthetic", "line 2: the value is empty"),
        ("value_map", "map.csv", b"attribute,value,group,note\nsex,W,F,x\n", "holdout", "unexpected column 'note'"),
    ],
)
def test_bad_side_files_are_refused_with_their_reason(
    project, researcher, upload_temp, field, name, data, role, words
) -> None:
    before = private_tree()
    with pytest.raises(UploadRejected) as caught:
        image_set_upload(
            actor=researcher, project=project, role=role, files=[upload("ct.dcm", CT)], **{field: upload(name, data)}
        )
    assert caught.value.field == field and words in caught.value.message
    assert_nothing_saved(before, upload_temp)


# --------------------------------------------------------------------------- the view


def url(project) -> str:
    return reverse("imageset-upload", kwargs={"pk": project.pk})


@pytest.fixture
def owner_client(client, researcher):
    client.force_login(researcher)
    return client


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_form_shows_formats_current_sets_and_the_progress_bar(owner_client, project, researcher) -> None:
    image_set_upload(actor=researcher, project=project, role="reference", files=[upload("mr.dcm", MR)], ingest_now=True)
    image_set_upload(actor=researcher, project=project, role="synthetic", files=[upload("ct.dcm", CT)])
    response = owner_client.get(url(project))
    assert response.status_code == 200
    html = response.content.decode()
    for words in ("JPEG 2000", "NIfTI (.nii, .nii.gz)", "PNG", "zip / tar archives", "Synthetic set only"):
        assert words in html
    assert "Reference set (real training images)" in html and "1 of 1 file accepted" in html
    assert "Being read" in html and "not current until every file is read" in html  # the synthetic upload
    assert "data-upload-progress" in html and "w-pct-0" in html and "js/upload.js" in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None  # no inline script under the CSP
    assert "style=" not in html


@override_settings(FILE_UPLOAD_MAX_MEMORY_SIZE=0)  # every upload is a temporary file, moved into storage
def test_a_post_stages_the_set_redirects_to_it_and_the_page_follows_the_ingest(
    owner_client, project, scans_zip
) -> None:
    files = [upload("scans.zip", scans_zip), upload("loose-ct.dcm", CT)]
    response = owner_client.post(url(project), {"role": "synthetic", "files": files})
    image_set = ImageSet.objects.get(project=project)
    detail = reverse("imageset-detail", kwargs={"pk": project.pk, "set_pk": image_set.pk})
    assert response.status_code == 302 and response["Location"] == detail
    (message,) = messages_of(response)
    assert message.startswith("Upload received: 2 files. A worker is now checking and reading them")
    assert image_set.status == SetStatus.INGESTING and AuditRun.objects.count() == 0

    page = owner_client.get(detail).content.decode()
    assert "Reading files: 0 read, 0 accepted, 0 rejected" in page and "Waiting for a worker" in page
    status_url = reverse("imageset-status", kwargs={"pk": project.pk, "set_pk": image_set.pk})
    assert f'data-status-url="{status_url}"' in page and "js/audits.js" in page and "File manifest" not in page
    assert owner_client.get(status_url).json()["finished"] is False
    overview = owner_client.get(reverse("audits-overview", kwargs={"pk": project.pk})).content.decode()
    assert "reading files" in overview and "Not current yet" in overview

    image_set_ingest(image_set_id=image_set.pk)
    state = owner_client.get(status_url).json()
    assert state["finished"] is True and state["status"] == "ready"
    assert (state["read"], state["accepted"], state["rejected"]) == (5, 3, 2)
    page = owner_client.get(detail).content.decode()
    assert "File manifest" in page and "Reading files" not in page and "loose-ct.dcm" in page
    image_set.refresh_from_db()
    assert image_set.n_accepted == 3 and AuditRun.objects.filter(project=project).count() == 1
    stored = image_set.files.exclude(stored="")
    assert sorted(stored.values_list("name", flat=True)) == ["loose-ct.dcm", "scans/ct.dcm", "scans/mr.dcm"]
    for image_file in stored:
        path = Path(settings.PRIVATE_STORAGE_ROOT) / image_file.stored.name
        assert path.is_file() and path.read_bytes()[:128] == bytes(128)


def test_a_set_without_valid_files_says_so(owner_client, project, hostile) -> None:
    response = owner_client.post(url(project), {"role": "reference", "files": [upload("x.dcm", hostile["text.dcm"])]})
    assert response.status_code == 302
    image_set_ingest(image_set_id=ImageSet.objects.get().pk)
    page = owner_client.get(response["Location"]).content.decode()
    assert "This upload was refused" in page and "None of the 1 file could be read as an image" in page
    assert "x.dcm" in page and AuditRun.objects.count() == 0


def test_a_refused_archive_is_shown_with_its_reason_and_nothing_is_stored(owner_client, project, upload_temp) -> None:
    before = private_tree()
    bomb = zip_of({"zeros.dcm": bytes(50 * 1024 * 1024)})
    response = owner_client.post(url(project), {"role": "synthetic", "files": [upload("bomb.zip", bomb)]})
    assert response.status_code == 302
    image_set = image_set_ingest(image_set_id=ImageSet.objects.get().pk)
    assert image_set is not None and image_set.status == SetStatus.REFUSED
    page = owner_client.get(response["Location"]).content.decode()
    assert "This upload was refused" in page and "The archive “bomb.zip” was refused" in page
    assert "expands more than 100 times" in page and "zeros.dcm" in page
    assert {name for name in private_tree() - before if not name.startswith("uploads/")} == set()
    assert ImageFile.objects.count() == 0 and AuditRun.objects.count() == 0
    assert list(upload_temp.iterdir()) == []


@override_settings(UPLOAD_LIMITS={"imageset-upload": 1024})
def test_a_file_over_the_streaming_cap_is_named_in_the_error(owner_client, project, upload_temp) -> None:
    before = private_tree()
    response = owner_client.post(url(project), {"role": "synthetic", "files": [upload("big-ct.dcm", CT)]})
    assert response.status_code == 400
    assert response.context["form"].errors["files"] == [
        "“big-ct.dcm” is larger than the limit of 1.0\xa0KB per file and was not uploaded."
    ]
    assert_nothing_saved(before, upload_temp)


@pytest.mark.parametrize(
    ("field", "name", "data", "role", "words"),
    [
        ("metadata", "meta.csv", b"file,sex\nct.dcm,F,extra\n", "synthetic", "line 2: expected 2 fields"),
        ("manifest", "manifest.json", b'{"images": 3}', "synthetic", "must be a list"),
        # text no database column holds, written as JSON escapes (the bytes themselves are plain)
        ("manifest", "manifest.json", rb'[{"file": "a\u0000b.dcm", "seed": 1}]', "synthetic", "entry 1 holds"),
        ("manifest", "manifest.json", rb'[{"file": "ct.dcm"}, {"file": "a\ud800.dcm"}]', "synthetic", "entry 2 holds"),
        ("manifest", "manifest.json", rb'[{"file": "ct.dcm", "no\u0000te": "x"}]', "synthetic", "entry 1 holds"),
        ("manifest", "manifest.csv", b"file,generator,version,seed\nct.dcm,gan,1,7\n", "holdout", "synthetic set only"),
        (
            "value_map",
            "map.csv",
            b"attribute,value\nsex,W\n",
            "synthetic",
            "the header needs attribute, value and group",
        ),
        (
            "value_map",
            "map.csv",
            b"attribute,value,group\nsex,W,F\nsex,w ,M\n",
            "reference",
            "line 3: sex",
        ),
    ],
)
def test_bad_metadata_or_manifest_is_a_field_error(
    owner_client, project, upload_temp, field, name, data, role, words
) -> None:
    before = private_tree()
    response = owner_client.post(
        url(project), {"role": role, "files": [upload("ct.dcm", CT)], field: upload(name, data)}
    )
    assert response.status_code == 400
    assert any(words in error for error in response.context["form"].errors[field])
    assert words in response.content.decode()
    assert_nothing_saved(before, upload_temp)


def test_no_files_is_a_field_error(owner_client, project) -> None:
    response = owner_client.post(url(project), {"role": "synthetic"})
    assert response.status_code == 400
    assert response.context["form"].errors["files"] == ["Choose at least one image file or archive."]


def test_a_submitted_project_refuses_uploads(owner_client, project, upload_temp) -> None:
    before = private_tree()
    project.status = ProjectStatus.SUBMITTED
    project.save()
    assert owner_client.get(url(project)).status_code == 403
    response = owner_client.post(url(project), {"role": "synthetic", "files": [upload("ct.dcm", CT)]})
    assert response.status_code == 403
    assert_nothing_saved(before, upload_temp)


def test_another_researcher_gets_404_and_stores_nothing(client, project, other_researcher, upload_temp) -> None:
    before = private_tree()
    client.force_login(other_researcher)
    assert client.get(url(project)).status_code == 404
    response = client.post(url(project), {"role": "synthetic", "files": [upload("ct.dcm", CT)]})
    assert response.status_code == 404 and project.title.encode() not in response.content
    assert_nothing_saved(before, upload_temp)


def test_an_admin_may_look_but_not_upload_and_anonymous_must_log_in(client, project, admin_user) -> None:
    response = client.get(url(project))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    client.force_login(admin_user)
    assert client.get(url(project)).status_code == 403
    assert client.post(url(project), {"role": "synthetic", "files": [upload("ct.dcm", CT)]}).status_code == 403
    assert ImageSet.objects.count() == 0
