"""The app's private files on object storage, in this process: evidence, API uploads, an image set's ingest.

Nothing may land on the local disk: each test's private folder stays empty, the bytes are in the bucket.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from api.enums import UploadStatus
from api.models import ChunkedUpload
from audits.enums import SetRole, SetStatus
from audits.models import ImageSet
from audits.selectors import image_thumbnail_png
from audits.services.ingest import image_set_ingest
from audits.services.uploads import image_set_upload
from reviews.services.projects import evidence_delete
from tests.api.client import api_client
from tests.audits.images import write_png
from tests.reviews.test_access import CT_SMALL
from tests.workflow import attach_evidence

pytestmark = pytest.mark.django_db

CONTENT = Path(CT_SMALL).read_bytes()


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_evidence_is_stored_in_the_bucket_and_downloaded_by_those_who_may_see_it(
    s3, client, project, other_researcher, items
):
    marker = "EVIDENCE-ON-S3: protocol, résumé\n".encode()
    evidence = attach_evidence(project, "protocol.txt", marker)
    assert s3.keys("evidence/") == [evidence.file.name] and s3.read(evidence.file.name) == marker
    url = reverse("evidence-download", kwargs={"pk": project.pk, "evidence_pk": evidence.pk})

    client.force_login(project.owner)
    response = client.get(url)
    assert response.status_code == 200 and _body(response) == marker
    assert response["Content-Disposition"] == 'attachment; filename="protocol.txt"'
    client.force_login(other_researcher)
    assert client.get(url).status_code == 404  # permission checks unchanged: no file, no hint
    api_url = reverse("api:project-evidence-content", kwargs={"id": project.pk, "evidence_id": evidence.pk})
    through_api = api_client(project.owner).get(api_url)
    assert through_api.status_code == 200 and _body(through_api) == marker
    assert api_client(other_researcher).get(api_url).status_code == 404

    s3.client.delete_object(Bucket=s3.name, Key=evidence.file.name)
    client.force_login(project.owner)
    assert client.get(url).status_code == 404  # lost from the bucket: not found, not a 500


def test_deleting_evidence_deletes_its_object_once_committed(s3, project, django_capture_on_commit_callbacks):
    evidence = attach_evidence(project, "gone.txt", b"to be removed")
    with django_capture_on_commit_callbacks(execute=True):
        evidence_delete(actor=project.owner, evidence=evidence)
    assert s3.keys("evidence/") == []


def _url(project, upload_id=None) -> str:
    base = f"/api/v1/projects/{project.pk}/uploads/"
    return f"{base}{upload_id}/" if upload_id else base


def _put(client, project, upload_id, content: bytes, start: int, end: int):
    return client.generic(
        "PUT",
        _url(project, upload_id),
        content[start : end + 1],
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes {start}-{end}/{len(content)}",
    )


def test_an_api_upload_resumes_in_parts_and_completes_as_one_object(
    s3, project, researcher, tmp_path, django_capture_on_commit_callbacks
):
    client = api_client(researcher)
    digest = hashlib.sha256(CONTENT).hexdigest()
    opened = client.post(_url(project), {"filename": "scan.dcm", "size": len(CONTENT), "sha256": digest}, format="json")
    upload_id = opened.json()["id"]
    stored_name = ChunkedUpload.objects.get(pk=upload_id).stored_name
    assert _put(client, project, upload_id, CONTENT, 0, 999).json()["offset"] == 1000
    # Interrupted: a retry of the same chunk and an overlapping one change nothing; a gap is refused.
    assert _put(client, project, upload_id, CONTENT, 0, 999).json()["offset"] == 1000
    overlap = _put(client, project, upload_id, CONTENT, 500, 1999)
    assert overlap.status_code == 409 and overlap.json()["offset"] == 1000
    assert s3.keys(stored_name) == [f"{stored_name}.parts/{0:015d}"]
    assert client.get(_url(project, upload_id)).json()["offset"] == 1000  # where to resume, from any web host
    middle = _put(client, project, upload_id, CONTENT, 1000, 2999)
    assert middle.json()["offset"] == 3000
    with django_capture_on_commit_callbacks(execute=True):
        done = _put(client, project, upload_id, CONTENT, 3000, len(CONTENT) - 1)
    assert done.status_code == 200 and done.json()["status"] == "complete", done.content
    assert s3.keys(stored_name) == [stored_name]  # composed; the parts are gone
    assert s3.read(stored_name) == CONTENT

    png = write_png(tmp_path / "synthetic.png").read_bytes()
    second = client.post(_url(project), {"filename": "synthetic.png", "size": len(png)}, format="json").json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        _put(client, project, second, png, 0, len(png) - 1)
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(
            f"/api/v1/projects/{project.pk}/image-sets/",
            {"role": "synthetic", "uploads": [upload_id, second]},
            format="json",
        )
    assert created.status_code == 201, created.content
    image_set = ImageSet.objects.get(pk=created.json()["id"])
    assert [s3.read(name) for _label, name in image_set.staged] == [CONTENT, png]  # copied by the store
    assert s3.keys("chunked/") == []  # the uploads' own objects went with the commit
    assert set(ChunkedUpload.objects.values_list("status", flat=True)) == {UploadStatus.USED}
    with django_capture_on_commit_callbacks(execute=True):
        image_set_ingest(image_set_id=image_set.pk)
    image_set.refresh_from_db()
    assert image_set.status == SetStatus.READY and image_set.n_accepted == 2
    stored = {f.name: f.stored.name for f in image_set.files.all()}
    assert s3.read(stored["scan.dcm"]) == bytes(128) + CONTENT[128:]  # the preamble zeroed in the stored copy
    assert s3.read(stored["synthetic.png"]) == png
    assert s3.keys("uploads/") == []  # staging removed once the ingest ended
    assert not any(Path(settings.PRIVATE_STORAGE_ROOT).rglob("*"))


def test_an_api_upload_whose_digest_differs_is_emptied_and_taken_again(s3, project, researcher):
    client = api_client(researcher)
    wrong = hashlib.sha256(b"something else").hexdigest()
    upload_id = client.post(
        _url(project), {"filename": "scan.dcm", "size": len(CONTENT), "sha256": wrong}, format="json"
    ).json()["id"]
    stored_name = ChunkedUpload.objects.get(pk=upload_id).stored_name
    _put(client, project, upload_id, CONTENT, 0, 999)
    refused = _put(client, project, upload_id, CONTENT, 1000, len(CONTENT) - 1)
    assert refused.status_code == 422 and refused.json()["offset"] == 0
    assert s3.keys(stored_name) == []
    cancel = client.delete(_url(project, upload_id))
    assert cancel.status_code == 204


def test_cancelling_an_api_upload_removes_its_parts(s3, project, researcher, django_capture_on_commit_callbacks):
    client = api_client(researcher)
    upload_id = client.post(_url(project), {"filename": "scan.dcm", "size": len(CONTENT)}, format="json").json()["id"]
    _put(client, project, upload_id, CONTENT, 0, 999)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(_url(project, upload_id)).status_code == 204
    assert s3.keys("chunked/") == []


def test_an_image_set_ingested_from_the_bucket_shows_thumbnails(s3, project, tmp_path, client):
    archive_source = write_png(tmp_path / "slice.png").read_bytes()
    upload = SimpleUploadedFile("slice.png", archive_source, content_type="image/png")
    image_set = image_set_upload(
        actor=project.owner, project=project, role=SetRole.SYNTHETIC, files=[upload], ingest_now=True
    )
    assert image_set.status == SetStatus.READY, image_set.message
    image_file = image_set.files.get()
    assert s3.read(image_file.stored.name) == archive_source
    png = image_thumbnail_png(image_file, 0)
    assert png is not None and png.startswith(b"\x89PNG")
    assert not any(Path(settings.PRIVATE_STORAGE_ROOT).rglob("*"))
