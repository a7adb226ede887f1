"""The request cap acts before a byte of the body is read (reviews.middleware.RequestCapMiddleware).

Each request here carries its body as a stream that counts what is read from it, so a test
can tell "refused before reading" from "read, then refused".
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from reviews.models import Answer
from tests.factories import ReviewerFactory

pytestmark = pytest.mark.django_db

BOUNDARY = "capboundary"
GIB = 1024**3


class CountingStream(io.RawIOBase):
    """`size` bytes of a multipart body made on demand (never held in memory); counts reads."""

    def __init__(self, size: int, head: bytes = b"") -> None:
        self.size = size
        self.head = head
        self.position = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.position
        n = left if n is None or n < 0 else min(n, left)
        start = self.position
        self.position += n
        head = self.head[start : start + n]
        return head + b"x" * (n - len(head))

    def readline(self, size: int = -1) -> bytes:  # type: ignore[override]
        return self.read(size if size and size > 0 else 8192)


def _multipart_head(field: str = "files", name: str = "big.dcm") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def _post(client: Client, url: str, stream: CountingStream, *, length: int | None = None, **extra: str):
    # The test client sets no content type for an empty `data`: give the environ ourselves.
    environ = {"wsgi.input": stream, "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}", **extra}
    if length is not None:
        environ["CONTENT_LENGTH"] = str(length)
    return client.generic("POST", url, b"", **environ)


@pytest.fixture
def strict() -> Client:
    """CSRF checks on, as in production: Django's 404 and 403 views run the CSRF check
    (requires_csrf_token), which parses a POST body unless the test client turns it off."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def temp_dir(tmp_path: Path):
    folder = tmp_path / "upload-temp"
    folder.mkdir()
    with override_settings(FILE_UPLOAD_TEMP_DIR=str(folder)):
        yield folder


def _upload_url(project) -> str:
    return reverse("imageset-upload", kwargs={"pk": project.pk})


def test_a_3_gib_body_is_refused_from_its_length_before_a_byte_is_read(strict, project, researcher, temp_dir):
    strict.force_login(researcher)
    stream = CountingStream(3 * GIB, _multipart_head())
    response = _post(strict, _upload_url(project), stream, length=3 * GIB)
    text = response.content.decode()
    cap = settings.REQUEST_LIMITS["imageset-upload"]
    assert response.status_code == 413
    assert f"larger than the {cap / 1024**2:,.0f} MB this page accepts" in text
    assert "nothing of it was read or stored" in text
    assert stream.position == 0
    assert list(temp_dir.iterdir()) == []
    # The refusal carries the headers of every page.
    assert response["X-Frame-Options"] == "DENY" and "script-src 'self'" in response["Content-Security-Policy"]


def test_every_other_url_has_the_default_cap(strict, researcher, temp_dir):
    strict.force_login(researcher)
    stream = CountingStream(settings.REQUEST_MAX_BYTES + 1)
    response = _post(strict, reverse("project-new"), stream, length=settings.REQUEST_MAX_BYTES + 1)
    assert response.status_code == 413 and stream.position == 0


def test_an_anonymous_upload_is_sent_to_log_in_without_reading_its_body(strict, project, temp_dir):
    stream = CountingStream(50 * 1024**2, _multipart_head())
    response = _post(strict, _upload_url(project), stream, length=50 * 1024**2)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert stream.position == 0 and list(temp_dir.iterdir()) == []


def test_a_forged_session_cookie_is_anonymous(strict, project, temp_dir):
    strict.cookies[settings.SESSION_COOKIE_NAME] = "not-a-session-anyone-has"
    stream = CountingStream(1024, _multipart_head())
    response = _post(strict, _upload_url(project), stream, length=1024)
    assert response.status_code == 302 and stream.position == 0


def test_a_large_anonymous_body_to_any_url_is_not_read(strict, temp_dir):
    size = settings.ANONYMOUS_REQUEST_MAX_BYTES + 1
    stream = CountingStream(size)
    response = _post(strict, reverse("login"), stream, length=size)
    assert response.status_code == 302 and stream.position == 0


def test_a_small_anonymous_form_still_reaches_the_login_page(client, researcher):
    response = client.post(reverse("login"), {"username": researcher.username, "password": "wrong password"})
    assert response.status_code == 200 and "username" in response.content.decode()


def test_an_upload_to_a_project_the_user_may_not_see_or_change_is_refused_unread(
    strict, project, other_researcher, temp_dir, caplog
):
    strict.force_login(other_researcher)  # may not see it: the view's own 404
    stream = CountingStream(1024 * 1024, _multipart_head())
    assert _post(strict, _upload_url(project), stream, length=1024 * 1024).status_code == 404
    assert stream.position == 0

    reviewer = ReviewerFactory()
    project.assignments.create(
        reviewer=reviewer, assigned_by=reviewer, status="accepted", due_date=timezone.localdate() + timedelta(days=21)
    )
    strict.force_login(reviewer)  # may see it, not change it: 403
    stream = CountingStream(1024 * 1024, _multipart_head())
    with caplog.at_level("WARNING", logger="reviews.security"):
        response = _post(strict, _upload_url(project), stream, length=1024 * 1024)
    assert response.status_code == 403 and stream.position == 0
    assert "only the project&#x27;s researcher can change it" in response.content.decode()
    first, line = [r.getMessage() for r in caplog.records if r.name == "reviews.security"]
    # The project someone may not see is answered as missing, and logged as the denial it is.
    assert first.startswith("denied status=404") and f'user="{other_researcher.username} ' in first
    assert f'user="{reviewer.username} (id {reviewer.pk})"' in line and "upload refused before reading" in line
    assert list(temp_dir.iterdir()) == []


def test_the_owner_upload_is_read(client, project, researcher):
    client.force_login(researcher)
    body = _multipart_head() + b"not an image\r\n" + f"--{BOUNDARY}--\r\n".encode()
    stream = CountingStream(len(body), body)
    response = _post(client, _upload_url(project), stream, length=len(body))
    assert stream.position == len(body)
    assert response.status_code in (200, 302, 400)


def test_a_chunked_body_without_a_length_is_refused_with_411(strict, researcher):
    strict.force_login(researcher)
    stream = CountingStream(10 * 1024**2)
    response = _post(strict, reverse("project-new"), stream, HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411 and stream.position == 0
    assert "must state its length" in response.content.decode()


def test_a_body_longer_than_its_content_length_is_read_only_to_that_length(client, project, researcher, items):
    """Django reads a body through a stream limited to Content-Length: the rest is never read."""
    client.force_login(researcher)
    fields = {"status": "met", "justification": "", "evidence_text": "Stated in the protocol."}
    body = (
        "".join(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in fields.items()
        ).encode()
        + f"--{BOUNDARY}--\r\n".encode()
    )
    stream = CountingStream(len(body) + 500 * 1024**2, body)
    url = reverse("answer-edit", kwargs={"pk": project.pk, "code": "PF-1"})
    response = _post(client, url, stream, length=len(body))
    assert response.status_code == 302
    assert stream.position <= len(body)
    assert Answer.objects.get(project=project, item__code="PF-1").evidence_text == "Stated in the protocol."


def test_a_file_over_its_own_cap_leaves_no_temporary_file(client, project, researcher, items, temp_dir):
    """The per-file cap (reviews.uploads.CappedUploadHandler) inside a request under the request cap."""
    client.force_login(researcher)
    url = reverse("answer-edit", kwargs={"pk": project.pk, "code": "PF-1"})
    big = io.BytesIO(b"%PDF-1.4\n" + b"0" * (4 * 1024 * 1024))  # past the 2.5 MB kept in memory
    big.name = "protocol.pdf"
    data = {"status": "met", "justification": "", "evidence_text": "", "evidence_files": big}
    with override_settings(EVIDENCE_MAX_BYTES=1024 * 1024):
        response = client.post(url, data)
    assert "protocol.pdf" in response.content.decode()
    assert list(temp_dir.iterdir()) == []
