"""Too many files on the upload page: a readable refusal from the server, never a bare 400 or 500."""

from __future__ import annotations

from html import unescape

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from audits.enums import RunStatus, SetStatus
from audits.forms import _loose_file_limit
from audits.models import AuditRun, ImageSet
from audits.services.uploads import image_set_upload
from config.storage import private_storage
from tests.audits.images import dicom_source

pytestmark = pytest.mark.django_db

CT = dicom_source("CT_small.dcm").read_bytes()


def scans(count: int) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(f"scan-{k:02d}.dcm", CT, content_type="application/dicom") for k in range(count)]


@pytest.fixture
def csrf_client(researcher) -> Client:
    """A browser-like client: the CSRF check is enforced, the token comes from the form page."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(researcher)
    return client


def post_with_token(client: Client, url: str, files: list[SimpleUploadedFile]) -> object:
    client.get(url)
    return client.post(
        url, {"role": "synthetic", "files": files, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    )


def test_more_files_than_django_parses_show_the_form_again_with_the_limit(csrf_client, project) -> None:
    url = reverse("imageset-upload", kwargs={"pk": project.pk})
    too_many = settings.DATA_UPLOAD_MAX_NUMBER_FILES + 3  # Django's TooManyFilesSent
    response = post_with_token(csrf_client, url, scans(too_many))
    assert response.status_code == 400
    html = response.content.decode()
    assert f"Too many files: one upload carries at most {_loose_file_limit()} image files" in html
    assert "zip or tar archive" in html and "Nothing was uploaded" in html
    assert "TooManyFilesSent" not in html and "Traceback" not in html
    assert 'name="files"' in html and "Upload and check" in html  # the form, to try again
    assert not ImageSet.objects.exists() and not AuditRun.objects.exists()


def test_a_refused_body_needs_no_token_but_a_real_upload_does(csrf_client, project) -> None:
    url = reverse("imageset-upload", kwargs={"pk": project.pk})
    refused = csrf_client.post(url, {"role": "synthetic", "files": scans(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)})
    assert refused.status_code == 400 and "Too many files" in refused.content.decode()
    forged = csrf_client.post(url, {"role": "synthetic", "files": scans(1)})
    assert forged.status_code == 403  # the CSRF check still guards every upload that would store something
    assert not ImageSet.objects.exists()


def test_more_image_files_than_the_stated_limit_is_a_field_error(csrf_client, project) -> None:
    url = reverse("imageset-upload", kwargs={"pk": project.pk})
    count = _loose_file_limit() + 1  # within what Django parses, beyond what the page promises
    assert count <= settings.DATA_UPLOAD_MAX_NUMBER_FILES
    response = post_with_token(csrf_client, url, scans(count))
    assert response.status_code == 400
    assert f"{count} files were chosen. Too many files" in response.content.decode()
    assert not ImageSet.objects.exists()


def test_within_the_limit_the_upload_goes_through_with_the_token(csrf_client, project) -> None:
    url = reverse("imageset-upload", kwargs={"pk": project.pk})
    response = post_with_token(csrf_client, url, scans(2))
    image_set = ImageSet.objects.get(project=project)
    assert response.status_code == 302 and response["Location"].endswith(f"/audits/sets/{image_set.pk}/")
    assert len(image_set.staged) == 2


def test_the_page_states_the_limits_the_script_checks(csrf_client, project) -> None:
    html = csrf_client.get(reverse("imageset-upload", kwargs={"pk": project.pk})).content.decode()
    assert f'data-max-files="{_loose_file_limit()}"' in html
    assert f'data-max-file-bytes="{settings.IMAGE_UPLOAD_MAX_BYTES}"' in html
    assert "data-warn-unsaved" in html and 'data-extensions=".dcm' in html
    assert f"at most {_loose_file_limit()} image files or archives" in html


def test_a_folder_of_a_few_hundred_loose_files_goes_through_in_one_upload(csrf_client, project) -> None:
    """A researcher picks a folder's worth of loose DICOM files: one upload takes them all."""
    assert _loose_file_limit() == 500
    url = reverse("imageset-upload", kwargs={"pk": project.pk})
    response = post_with_token(csrf_client, url, scans(300))
    image_set = ImageSet.objects.get(project=project)
    assert response.status_code == 302 and response["Location"].endswith(f"/audits/sets/{image_set.pk}/")
    assert len(image_set.staged) == 300
    assert sorted(label for label, _name in image_set.staged)[:2] == ["scan-00.dcm", "scan-01.dcm"]


@pytest.mark.parametrize("extra", [1, 4], ids=["past-the-page-limit", "past-what-django-parses"])
def test_past_the_limit_the_message_names_it_and_the_current_set_stays(csrf_client, project, researcher, extra) -> None:
    """Past the limit (the form's check, or Django's own count of files in the body): the page
    names the limit and says to use a zip, and the set already uploaded stays current, whole."""
    current = image_set_upload(actor=researcher, project=project, role="synthetic", files=scans(2), ingest_now=True)
    assert current.is_current and current.status == SetStatus.READY
    staged = [name for _label, name in current.staged]
    url = reverse("imageset-upload", kwargs={"pk": project.pk})
    response = post_with_token(csrf_client, url, scans(_loose_file_limit() + extra))
    assert response.status_code == 400
    html = unescape(response.content.decode())
    assert "one upload carries at most 500 image files or archives" in html
    assert "For more than 500 files, put the images in one zip or tar archive" in html
    assert "the current sets are as they were" in html
    assert "Traceback" not in html and "Bad Request" not in html
    assert list(ImageSet.objects.values_list("pk", flat=True)) == [current.pk]
    current.refresh_from_db()
    assert current.is_current and current.status == SetStatus.READY
    assert all(private_storage().exists(name) for name in staged)
    assert not AuditRun.objects.filter(status=RunStatus.FAILED).exists()
