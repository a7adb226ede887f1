"""The object store down or overloaded: an ingest waits for it with its files kept, the pages and
the API answer 503 with Retry-After and a sentence, and a request whose change committed is not
turned into a 500 by a delete that could not reach the store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from boto3.exceptions import RetriesExceededError, S3UploadFailedError
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from api.enums import UploadStatus
from api.models import ChunkedUpload
from audits.enums import SetRole, SetStatus
from audits.models import ImageSet
from audits.services.ingest import STORAGE_WAIT, image_set_ingest, reconcile_ingests
from audits.services.uploads import image_set_upload
from config.storage import STORAGE_UNAVAILABLE_MESSAGE, StorageUnavailable, storage_unavailable, sweep_all
from reviews.models import EvidenceFile
from reviews.views.errors import server_error
from tests.api.client import api_client
from tests.audits.images import write_png
from tests.workflow import attach_evidence

pytestmark = pytest.mark.django_db


def _client_error(status: int, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


def test_an_outage_is_told_apart_from_a_missing_or_refused_object() -> None:
    assert storage_unavailable(EndpointConnectionError(endpoint_url="http://store:9000"))
    assert storage_unavailable(ReadTimeoutError(endpoint_url="http://store:9000"))
    assert storage_unavailable(_client_error(503, "SlowDown"))
    assert storage_unavailable(_client_error(500, "InternalError"))
    assert storage_unavailable(_client_error(400, "RequestTimeout"))
    assert not storage_unavailable(_client_error(404, "NoSuchKey"))
    assert not storage_unavailable(_client_error(403, "AccessDenied"))
    assert not storage_unavailable(ValueError("bad input"))
    # boto3's transfers wrap the cause: an upload raises while handling it, a download keeps it.
    try:
        try:
            raise _client_error(503, "ServiceUnavailable")
        except ClientError as exc:
            raise S3UploadFailedError(f"Failed to upload: {exc}")  # noqa: B904 - as boto3 raises it
    except S3UploadFailedError as wrapped:
        assert storage_unavailable(wrapped)
    assert storage_unavailable(RetriesExceededError(ReadTimeoutError(endpoint_url="http://store:9000")))
    assert isinstance(StorageUnavailable(), ConnectionError)  # a transient error for the tasks' retries


def test_an_ingest_while_the_store_is_down_waits_and_keeps_the_uploaded_files(
    s3, outage, project, tmp_path, django_capture_on_commit_callbacks
):
    png = write_png(tmp_path / "slice.png").read_bytes()
    upload = SimpleUploadedFile("slice.png", png, content_type="image/png")
    image_set = image_set_upload(actor=project.owner, project=project, role=SetRole.SYNTHETIC, files=[upload])
    staged = [name for _label, name in image_set.staged]
    assert s3.keys("uploads/") == sorted(staged)

    outage.down()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(StorageUnavailable):
        image_set_ingest(image_set_id=image_set.pk)
    image_set.refresh_from_db()
    assert image_set.status == SetStatus.INGESTING, image_set.message  # not failed: nothing is wrong with the files
    assert image_set.worker == "" and image_set.message == STORAGE_WAIT  # claimable again, and the page says why
    assert s3.keys("uploads/") == sorted(staged)  # the user need not upload again
    assert s3.keys("images/") == []

    outage.up()
    with django_capture_on_commit_callbacks(execute=True):
        image_set_ingest(image_set_id=image_set.pk)  # the task's retry
    image_set.refresh_from_db()
    assert image_set.status == SetStatus.READY and image_set.n_accepted == 1, image_set.message
    assert s3.read(image_set.files.get().stored.name) == png
    assert s3.keys("uploads/") == []


def test_a_waiting_ingest_is_resent_by_the_reconciler_once_its_retries_are_used_up(
    s3, outage, project, tmp_path, django_capture_on_commit_callbacks
):
    upload = SimpleUploadedFile("slice.png", write_png(tmp_path / "slice.png").read_bytes(), content_type="image/png")
    image_set = image_set_upload(actor=project.owner, project=project, role=SetRole.SYNTHETIC, files=[upload])
    outage.down()
    for _retry in range(3):  # more attempts than AUDIT_MAX_ATTEMPTS would allow a lost worker
        with pytest.raises(StorageUnavailable):
            image_set_ingest(image_set_id=image_set.pk)
    ImageSet.objects.filter(pk=image_set.pk).update(lease_until=timezone.now() - timedelta(seconds=1))  # resend due
    with django_capture_on_commit_callbacks(execute=False):
        counts = reconcile_ingests()
    assert counts["resent"] == 1 and counts["failed"] == 0
    assert ImageSet.objects.get(pk=image_set.pk).status == SetStatus.INGESTING


def test_downloading_evidence_while_the_store_is_down_answers_503_in_words(s3, outage, client, project, items):
    evidence = attach_evidence(project, "protocol.txt", b"kept while the store is down\n")
    page_url = reverse("evidence-download", kwargs={"pk": project.pk, "evidence_pk": evidence.pk})
    api_url = reverse("api:project-evidence-content", kwargs={"id": project.pk, "evidence_id": evidence.pk})
    client.force_login(project.owner)

    outage.down()
    page = client.get(page_url)
    assert page.status_code == 503 and page["Retry-After"] == "60"
    assert page.context["reason"] == STORAGE_UNAVAILABLE_MESSAGE
    assert "The file store cannot be reached right now; nothing you saved was lost." in page.content.decode()
    assert "try again in about 60 seconds" in page.content.decode()
    assert "its database or its message store" not in page.content.decode()
    through_api = api_client(project.owner).get(api_url)
    assert through_api.status_code == 503 and through_api["Retry-After"] == "60"
    assert through_api.json()["detail"] == STORAGE_UNAVAILABLE_MESSAGE

    outage.up()
    assert client.get(page_url).status_code == 200  # nothing was lost
    assert s3.keys("evidence/") == [evidence.file.name]


def test_any_page_failing_on_the_store_answers_503_not_500() -> None:
    request = RequestFactory().get("/projects/1/")
    try:
        raise _client_error(503, "SlowDown")
    except ClientError:
        response = server_error(request)
    assert response.status_code == 503 and response["Retry-After"] == "60"
    try:
        raise _client_error(403, "AccessDenied")
    except ClientError:
        response = server_error(request)
    assert response.status_code == 500  # a refusal is a fault to fix, not an outage to wait out


def test_a_cancel_that_committed_answers_204_though_the_store_is_down(
    s3, outage, project, researcher, django_capture_on_commit_callbacks
):
    client = api_client(researcher)
    base = f"/api/v1/projects/{project.pk}/uploads/"
    upload_id = client.post(base, {"filename": "scan.dcm", "size": 2000}, format="json").json()["id"]
    client.generic(
        "PUT",
        f"{base}{upload_id}/",
        b"x" * 1000,
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE="bytes 0-999/2000",
    )
    outage.down()
    with django_capture_on_commit_callbacks(execute=True):
        cancelled = client.delete(f"{base}{upload_id}/")
    assert cancelled.status_code == 204  # the cancel committed: no 500 that a retry turns into a 409
    assert ChunkedUpload.objects.get(pk=upload_id).status == UploadStatus.CANCELLED


def test_removing_evidence_while_the_store_is_down_removes_it_and_the_sweep_takes_the_bytes(
    s3, outage, client, project, items, django_capture_on_commit_callbacks
):
    evidence = attach_evidence(project, "protocol.txt", b"removed while the store is down\n")
    client.force_login(project.owner)
    outage.down()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("evidence-delete", kwargs={"pk": project.pk, "evidence_pk": evidence.pk}))
    assert response.status_code == 302  # the removal committed: the researcher is not shown an error
    assert not EvidenceFile.objects.filter(pk=evidence.pk).exists()
    outage.up()
    assert s3.keys("evidence/") == [evidence.file.name]  # the bytes stayed, named by no row
    sweep_all(older_than=-60)  # the daily sweep, counting every object as old
    assert s3.keys("evidence/") == []
