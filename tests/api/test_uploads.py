"""Resumable uploads and image sets through the API (docs/pipeline/README.md, the protocol)."""

from __future__ import annotations

import hashlib
import io
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.template.defaultfilters import filesizeformat
from django.test import override_settings
from django.utils import timezone

from api.enums import TokenScope, UploadStatus
from api.models import ChunkedUpload
from api.services.uploads import ChunkRange, upload_append, upload_start
from api.tasks import expire_uploads
from audits.enums import SetRole, SetStatus
from audits.models import ImageSet
from audits.services.ingest import image_set_ingest
from tests.api.client import api_client
from tests.audits.images import write_png
from tests.factories import ProjectFactory
from tests.reviews.test_access import CT_SMALL
from tests.reviews.test_request_cap import CountingStream

pytestmark = pytest.mark.django_db


def _url(project, upload_id=None) -> str:
    base = f"/api/v1/projects/{project.pk}/uploads/"
    return f"{base}{upload_id}/" if upload_id else base


def _start(client, project, content: bytes, **extra):
    response = client.post(_url(project), {"filename": "scan.dcm", "size": len(content), **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _put(client, project, upload_id, content: bytes, start: int, end: int, size: int | None = None):
    return client.generic(
        "PUT",
        _url(project, upload_id),
        content[start : end + 1],
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes {start}-{end}/{size or len(content)}",
    )


def _stored(upload_id) -> bytes:
    upload = ChunkedUpload.objects.get(pk=upload_id)
    return Path(storages["private"].path(upload.stored_name)).read_bytes()


CONTENT = Path(CT_SMALL).read_bytes()


def test_an_interrupted_upload_resumes_from_the_offset_and_completes(project, researcher):
    client = api_client(researcher)
    digest = hashlib.sha256(CONTENT).hexdigest()
    opened = _start(client, project, CONTENT, sha256=digest)
    assert opened["offset"] == 0 and opened["status"] == "open" and opened["size"] == len(CONTENT)
    assert opened["chunk_max_bytes"] == settings.API_UPLOAD_CHUNK_MAX_BYTES
    upload_id = opened["id"]
    assert _put(client, project, upload_id, CONTENT, 0, 9999).json()["offset"] == 10000
    # The chunk 10000-19999 is lost on the way; the next one would leave a gap.
    gap = _put(client, project, upload_id, CONTENT, 20000, 29999)
    assert gap.status_code == 409 and gap.json()["offset"] == 10000
    assert "gap" in gap.json()["detail"]
    # The client asks where to resume and sends the rest.
    resume = client.get(_url(project, upload_id)).json()["offset"]
    assert resume == 10000
    assert _put(client, project, upload_id, CONTENT, resume, 19999).json()["offset"] == 20000
    done = _put(client, project, upload_id, CONTENT, 20000, len(CONTENT) - 1)
    assert done.status_code == 200 and done.json()["status"] == "complete"
    assert _stored(upload_id) == CONTENT


def test_a_repeated_chunk_changes_nothing_and_an_overlap_is_refused(project, researcher):
    client = api_client(researcher)
    upload_id = _start(client, project, CONTENT)["id"]
    _put(client, project, upload_id, CONTENT, 0, 999)
    repeat = client.generic(
        "PUT", _url(project, upload_id), b"x" * 1000, content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes 0-999/{len(CONTENT)}",
    )  # fmt: skip
    assert repeat.status_code == 200 and repeat.json()["offset"] == 1000
    overlap = _put(client, project, upload_id, CONTENT, 500, 1499)
    assert overlap.status_code == 409 and overlap.json()["offset"] == 1000
    assert _stored(upload_id) == CONTENT[:1000]  # neither the repeat nor the overlap was written


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"HTTP_CONTENT_RANGE": "bytes 0-9"}, "Content-Range"),
        ({"HTTP_CONTENT_RANGE": "bytes 9-0/100"}, "Content-Range"),
        ({"HTTP_CONTENT_RANGE": "bytes 0-9/99"}, None),  # not the declared size
    ],
)
def test_a_malformed_range_is_a_400_naming_it(project, researcher, headers, field):
    client = api_client(researcher)
    upload_id = _start(client, project, b"y" * 100)["id"]
    response = client.generic(
        "PUT", _url(project, upload_id), b"y" * 10, content_type="application/octet-stream", **headers
    )
    assert response.status_code == 400
    if field:
        assert field in response.json()["errors"]
    assert ChunkedUpload.objects.get(pk=upload_id).received == 0


def test_a_wrong_digest_empties_the_upload_to_start_again(project, researcher):
    client = api_client(researcher)
    opened = _start(client, project, CONTENT, sha256=hashlib.sha256(CONTENT).hexdigest())
    corrupt = bytearray(CONTENT)
    corrupt[5000] ^= 0xFF
    _put(client, project, opened["id"], bytes(corrupt), 0, 9999)
    refused = _put(client, project, opened["id"], bytes(corrupt), 10000, len(CONTENT) - 1)
    assert refused.status_code == 422
    assert refused.json()["offset"] == 0 and refused.json()["status"] == "open"
    assert "SHA-256" in refused.json()["detail"]
    assert _stored(opened["id"]) == b""
    assert _put(client, project, opened["id"], CONTENT, 0, len(CONTENT) - 1).json()["status"] == "complete"


def test_an_upload_over_the_set_limit_is_refused_at_once(project, researcher):
    response = api_client(researcher).post(
        _url(project), {"filename": "huge.zip", "size": settings.IMAGE_UPLOAD_MAX_BYTES + 1}, format="json"
    )
    assert response.status_code == 400 and "size" in response.json()["errors"]
    assert not ChunkedUpload.objects.exists()


@override_settings(API_UPLOAD_CHUNK_MAX_BYTES=1000, REQUEST_LIMITS={**settings.REQUEST_LIMITS, "api:upload": 1000})
def test_a_chunk_over_the_limit_is_413_before_a_byte_is_read(project, researcher):
    client = api_client(researcher)
    upload_id = _start(client, project, CONTENT)["id"]
    stream = CountingStream(5000)
    response = client.generic(
        "PUT", _url(project, upload_id), content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes 0-4999/{len(CONTENT)}", CONTENT_LENGTH="5000", **{"wsgi.input": stream},
    )  # fmt: skip
    assert response.status_code == 413
    assert response.json()["detail"] == (
        "This request is larger than the 1,000 bytes this URL accepts. It was 5,000 bytes; nothing of it was "
        "read or stored. Send a large file as a resumable upload, in chunks no larger than the upload's "
        "chunk_max_bytes."
    )
    assert stream.position == 0
    assert ChunkedUpload.objects.get(pk=upload_id).received == 0


def test_an_outsiders_large_chunk_is_refused_unread(project, researcher, other_researcher):
    upload_id = _start(api_client(researcher), project, CONTENT)["id"]
    for client, expected in ((api_client(other_researcher), 404), (api_client(None), 401)):
        stream = CountingStream(len(CONTENT))
        response = client.generic(
            "PUT", _url(project, upload_id), content_type="application/octet-stream",
            HTTP_CONTENT_RANGE=f"bytes 0-{len(CONTENT) - 1}/{len(CONTENT)}", CONTENT_LENGTH=str(len(CONTENT)),
            **{"wsgi.input": stream},
        )  # fmt: skip
        assert response.status_code == expected and stream.position == 0
        assert response["Content-Type"] == "application/json"
    assert ChunkedUpload.objects.get(pk=upload_id).received == 0


def test_another_users_upload_is_not_found(project, researcher, other_researcher, admin_user):
    upload_id = _start(api_client(researcher), project, CONTENT)["id"]
    theirs = ProjectFactory(owner=other_researcher)
    other = api_client(other_researcher)
    assert other.get(_url(project, upload_id)).status_code == 404
    assert other.get(_url(theirs, upload_id)).status_code == 404  # their own project, not their upload
    assert _put(other, theirs, upload_id, CONTENT, 0, 99).status_code == 404
    assert api_client(admin_user).get(_url(project, upload_id)).status_code == 404
    assert ChunkedUpload.objects.get(pk=upload_id).received == 0


def test_a_read_token_may_not_upload(project, researcher):
    reader = api_client(researcher, scope=TokenScope.READ)
    response = reader.post(_url(project), {"filename": "a.dcm", "size": 10}, format="json")
    assert response.status_code == 403 and "read and write" in response.json()["detail"]
    upload_id = _start(api_client(researcher), project, CONTENT)["id"]
    assert _put(reader, project, upload_id, CONTENT, 0, 99).status_code == 403
    assert reader.delete(_url(project, upload_id)).status_code == 403
    assert ChunkedUpload.objects.get(pk=upload_id).status == UploadStatus.OPEN


def test_cancel_deletes_the_bytes(project, researcher):
    client = api_client(researcher)
    upload_id = _start(client, project, CONTENT)["id"]
    _put(client, project, upload_id, CONTENT, 0, 99)
    path = Path(storages["private"].path(ChunkedUpload.objects.get(pk=upload_id).stored_name))
    with_commit = client.delete(_url(project, upload_id))
    assert with_commit.status_code == 204
    assert ChunkedUpload.objects.get(pk=upload_id).status == UploadStatus.CANCELLED
    assert _put(client, project, upload_id, CONTENT, 100, 199).status_code == 409
    assert client.delete(_url(project, upload_id)).status_code == 409
    assert path.exists() is False or path.stat().st_size == 100  # deleted after the test's transaction commits


def test_expired_uploads_are_deleted_by_the_beat_task(project, researcher, django_capture_on_commit_callbacks):
    client = api_client(researcher)
    old, fresh = (_start(client, project, CONTENT)["id"] for _ in range(2))
    ChunkedUpload.objects.filter(pk=old).update(expires_at=timezone.now() - timedelta(minutes=1))
    path = Path(storages["private"].path(ChunkedUpload.objects.get(pk=old).stored_name))
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_uploads() == 1
    assert not path.exists()
    assert ChunkedUpload.objects.get(pk=old).status == UploadStatus.CANCELLED
    assert ChunkedUpload.objects.get(pk=fresh).status == UploadStatus.OPEN


def test_uploads_make_a_set_that_the_ingest_makes_current(project, researcher, tmp_path):
    client = api_client(researcher)
    png = write_png(tmp_path / "synthetic.png").read_bytes()
    ids = []
    for content in (CONTENT, png):
        upload_id = _start(client, project, content)["id"]
        _put(client, project, upload_id, content, 0, len(content) - 1)
        ids.append(upload_id)
    response = client.post(
        f"/api/v1/projects/{project.pk}/image-sets/", {"role": "synthetic", "uploads": ids}, format="json"
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "ingesting" and created["is_current"] is False
    image_set = ImageSet.objects.get(pk=created["id"])
    assert len(image_set.staged) == 2
    assert all(not Path(storages["private"].path(f"chunked/{i.replace('-', '')}")).exists() for i in ids)  # moved
    assert set(ChunkedUpload.objects.values_list("status", flat=True)) == {UploadStatus.USED}
    image_set_ingest(image_set_id=image_set.pk)  # what the worker runs
    detail = client.get(f"/api/v1/projects/{project.pk}/image-sets/{image_set.pk}/").json()
    assert detail["status"] == SetStatus.READY and detail["is_current"] is True
    assert detail["n_files"] == 2 and detail["n_accepted"] == 2 and detail["rejected_files"] == []
    again = client.post(
        f"/api/v1/projects/{project.pk}/image-sets/", {"role": "synthetic", "uploads": ids[:1]}, format="json"
    )
    assert again.status_code == 400 and "uploads" in again.json()["errors"]
    listed = client.get(f"/api/v1/projects/{project.pk}/image-sets/").json()
    assert [entry["id"] for entry in listed["results"]] == [image_set.pk]


def test_a_refused_side_file_keeps_the_uploads_usable(project, researcher):
    client = api_client(researcher)
    ids = []
    for content in (CONTENT, b"file\n\x00\x00"):
        upload_id = _start(client, project, content)["id"]
        _put(client, project, upload_id, content, 0, len(content) - 1)
        ids.append(upload_id)
    body = {"role": "synthetic", "uploads": ids[:1], "metadata_upload": ids[1]}
    response = client.post(f"/api/v1/projects/{project.pk}/image-sets/", body, format="json")
    assert response.status_code == 400 and "metadata_upload" in response.json()["errors"]
    assert not ImageSet.objects.exists()
    assert set(ChunkedUpload.objects.values_list("status", flat=True)) == {UploadStatus.COMPLETE}


def test_a_small_set_in_one_multipart_request(project, researcher):
    response = api_client(researcher).post(
        f"/api/v1/projects/{project.pk}/image-sets/",
        {"role": SetRole.HOLDOUT, "files": [SimpleUploadedFile("held-out.dcm", CONTENT)]},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    image_set = ImageSet.objects.get(pk=response.json()["id"])
    assert image_set.role == SetRole.HOLDOUT and image_set.staged[0][0] == "held-out.dcm"


def test_a_submitted_project_takes_no_upload(project, researcher):
    from reviews.services.projects import project_submit
    from tests.reviews.test_access import answer_all_required

    answer_all_required(project, file_name="e.txt", content=b"evidence")
    project_submit(actor=researcher, project=project)
    response = api_client(researcher).post(_url(project), {"filename": "a.dcm", "size": 10}, format="json")
    assert response.status_code == 403 and "submitted" in response.json()["detail"]


def test_open_and_unused_uploads_are_held_to_a_quota(project, researcher, other_researcher):
    client = api_client(researcher)
    with override_settings(API_UPLOAD_QUOTA_BYTES=2500):
        first = _start(client, project, b"a" * 1000)["id"]
        second = _start(client, project, b"b" * 1000)["id"]
        assert _put(client, project, second, b"b" * 1000, 0, 999).json()["status"] == "complete"  # still held
        refused = client.post(_url(project), {"filename": "c.dcm", "size": 1000}, format="json")
        assert refused.status_code == 409
        detail = refused.json()["detail"]
        assert filesizeformat(2000) in detail and filesizeformat(2500) in detail
        assert "cancel" in detail and "make an image set" in detail
        assert ChunkedUpload.objects.filter(owner=researcher).count() == 2
        # The quota is the user's own: another researcher opens theirs undisturbed.
        theirs = ProjectFactory(owner=other_researcher)
        assert _start(api_client(other_researcher), theirs, b"d" * 2000)["status"] == "open"
        # Cancelling one frees its share.
        assert client.delete(_url(project, first)).status_code == 204
        assert _start(client, project, b"c" * 1000)["status"] == "open"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_needs_postgres")  # SELECT ... FOR UPDATE NOWAIT; CI fails rather than skips
def test_no_transaction_or_row_lock_is_held_while_a_chunk_body_is_read(project, researcher):
    """A slow client must not keep a connection idle in a transaction holding the row's lock:
    while the body is being read, another connection takes that lock at once (NOWAIT)."""
    upload = upload_start(actor=researcher, project=project, filename="scan.dcm", size=len(CONTENT))
    seen: list[object] = []

    def lock_from_another_connection() -> None:
        try:
            with transaction.atomic():
                ChunkedUpload.objects.select_for_update(nowait=True).get(pk=upload.pk)
            seen.append("free")
        except DatabaseError:
            seen.append("locked")
        finally:
            connection.close()

    body = io.BytesIO(CONTENT)

    def slow_read(size: int) -> bytes:
        seen.append(connection.in_atomic_block)
        other = threading.Thread(target=lock_from_another_connection)
        other.start()
        other.join()
        return body.read(size)

    whole = ChunkRange(start=0, end=len(CONTENT) - 1, size=len(CONTENT))
    done = upload_append(upload_id=upload.pk, chunk=whole, read=slow_read)
    assert done.status == UploadStatus.COMPLETE and _stored(upload.pk) == CONTENT
    assert seen[:2] == [False, "free"] and "locked" not in seen and True not in seen


def test_resending_the_last_chunk_completes_an_upload_left_open_with_every_byte(project, researcher):
    """The worker died between appending the last chunk and marking the upload complete."""
    client = api_client(researcher)
    upload_id = _start(client, project, CONTENT, sha256=hashlib.sha256(CONTENT).hexdigest())["id"]
    _put(client, project, upload_id, CONTENT, 0, len(CONTENT) - 1)
    ChunkedUpload.objects.filter(pk=upload_id).update(status=UploadStatus.OPEN)
    again = _put(client, project, upload_id, CONTENT, 10000, len(CONTENT) - 1)
    assert again.status_code == 200 and again.json()["status"] == "complete"
    assert again.json()["offset"] == len(CONTENT) and _stored(upload_id) == CONTENT
