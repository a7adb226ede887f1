"""Malformed, oversized and hostile values posted to every form (SECURITY.md, "Bad input").

For every refused post: the answer is 200 or 400 (a 500 raises in the test client), the
form shows the error under the field it is about, every value typed is still in the
re-rendered form (passwords excepted: browsers never get them back), and nothing already
saved has changed. Accepted hostile text is stored as typed and shown escaped.
"""

from __future__ import annotations

import io
import re
import signal
import struct
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse
from django.utils.html import escape
from PIL import Image
from pypdf import PdfWriter

from reviews.enums import AnswerStatus, ProjectStatus, Role
from reviews.models import ActivityEntry, Answer, EvidenceFile, GuidelineItem, Project, Round, User
from reviews.services.projects import answer_save
from reviews.validators import validate_evidence_file
from tests.factories import PASSWORD, ProjectFactory

LONG = 25_000  # over the 20,000-character limit of long text fields
SCRIPT = "<script>alert('xss')</script>"
PASSWORD_FIELDS = {"password", "password1", "password2", "old_password", "new_password1", "new_password2"}


# ---------------------------------------------------------------------------------------
# Test data: real files


def pdf_bytes() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(72, 72)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def image_bytes(kind: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(buffer, format=kind)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes whose header claims an enormous greyscale image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 256)) + chunk(b"IEND", b"")
    )


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


# ---------------------------------------------------------------------------------------
# What must survive a refused post


def stored_files() -> set[str]:
    return {str(path) for path in settings.PRIVATE_STORAGE_ROOT.rglob("*") if path.is_file()}


def db_state() -> dict[str, Any]:
    return {
        "users": list(
            User.objects.order_by("pk").values(
                "pk",
                "username",
                "password",
                "full_name",
                "email",
                "affiliation",
                "role",
                "expertise",
                "is_active",
                "is_staff",
                "is_superuser",
            )
        ),
        "projects": list(Project.objects.order_by("pk").values()),
        "answers": list(
            Answer.objects.order_by("pk").values("pk", "item_id", "status", "justification", "evidence_text")
        ),
        "files": list(EvidenceFile.objects.order_by("pk").values("pk", "file", "original_name", "sha256")),
        "rounds": Round.objects.count(),
        "activity": ActivityEntry.objects.count(),
        "stored": stored_files(),
    }


def body_of(response: Any) -> str:
    return response.content.decode()


def assert_field_error(response: Any, field_name: str, fragment: str) -> None:
    """The message is on the form, under the field it is about, and on the page."""
    assert response.status_code in (200, 400), response.status_code
    errors = response.context["form"].errors.get(field_name, [])
    assert any(fragment in message for message in errors), f"{field_name}: {fragment!r} not in {errors}"
    body = body_of(response)
    assert escape(fragment) in body, f"{fragment!r} is not shown on the page"
    if field_name != "__all__":
        assert f'id="error_1_id_{field_name}"' in body, f"no error shown under {field_name}"


def _input_tags(body: str, name: str, value: str) -> list[str]:
    tags = re.findall(r"<input\b[^>]*>", body)
    return [t for t in tags if f'name="{name}"' in t and f'value="{escape(value)}"' in t]


def assert_kept(
    response: Any, data: dict[str, Any], *, choices: set[str] = frozenset(), skip: set[str] = frozenset()
) -> None:
    """Everything typed is shown again: text as the value, choices as selected."""
    body = body_of(response)
    for name, value in data.items():
        if name in PASSWORD_FIELDS or name in skip or not isinstance(value, (str, list)):
            continue
        for one in value if isinstance(value, list) else [value]:
            if "\x00" in one:  # refused before anything else: not shown again, on purpose
                continue
            if name in choices:
                checked = [t for t in _input_tags(body, name, one) if " checked" in t]
                selected = re.search(rf'<option value="{re.escape(escape(one))}"[^>]*selected', body)
                assert checked or selected, f"{name}={one!r} is no longer selected"
            else:
                assert escape(one) in body, f"{name}: the typed value is lost ({one[:40]!r}...)"


def assert_escaped(body: str) -> None:
    assert "&lt;script&gt;" in body
    assert "<script>alert" not in body


@dataclass(frozen=True)
class Case:
    id: str
    changes: dict[str, Any]
    field: str
    fragment: str
    files: list[tuple[str, bytes]] = field(default_factory=list)


def cases(*items: Case) -> Any:
    return pytest.mark.parametrize("case", items, ids=[c.id for c in items])


def _client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


# ---------------------------------------------------------------------------------------
# Register


def registration(**changes: Any) -> dict[str, Any]:
    data = {
        "username": "hostile-newcomer",
        "full_name": "Nora Newcomer",
        "email": "nora@example.org",
        "affiliation": "Example Institute",
        "password1": "a-fresh-passphrase-91",
        "password2": "a-fresh-passphrase-91",
    }
    return {**data, **changes}


@cases(
    Case("username-too-long", {"username": "u" * 200}, "username", "at most 150 characters (it has 200)"),
    Case("username-script", {"username": SCRIPT}, "username", "Enter a valid username"),
    Case("username-nul", {"username": "nora\x00admin"}, "username", "Null characters are not allowed"),
    Case("username-taken", {"username": "taken"}, "username", "A user with that username already exists"),
    Case("email-malformed", {"email": "not-an-email"}, "email", "Enter a valid email address"),
    Case("email-taken-other-case", {"email": "TAKEN@EXAMPLE.ORG"}, "email", "already exists"),
    Case("full-name-too-long", {"full_name": "N" * 300}, "full_name", "at most 200 characters (it has 300)"),
    Case("full-name-missing", {"full_name": ""}, "full_name", "This field is required"),
    Case("affiliation-too-long", {"affiliation": "A" * LONG}, "affiliation", "at most 200 characters"),
    Case("passwords-differ", {"password2": "another-passphrase-92"}, "password2", "password fields didn"),
    Case("password-too-short", {"password1": "short", "password2": "short"}, "password2", "too short"),
    Case("password-common", {"password1": "password123", "password2": "password123"}, "password2", "too common"),
)
def test_register_refuses_bad_values_and_keeps_the_rest(db, researcher, case):
    User.objects.filter(pk=researcher.pk).update(username="taken", email="taken@example.org")
    before = db_state()
    data = registration(**case.changes)

    response = Client().post(reverse("register"), data)

    assert response.status_code == 200
    assert_field_error(response, case.field, case.fragment)
    assert_kept(response, data)
    assert db_state() == before


def test_register_stores_script_as_text_and_ignores_smuggled_privileges(db):
    data = registration(full_name=SCRIPT, affiliation=SCRIPT, role=Role.ADMIN, is_staff="on", is_superuser="on")
    data["expertise"] = "technical"
    client = Client()

    response = client.post(reverse("register"), data, follow=True)

    user = User.objects.get(username="hostile-newcomer")
    assert (user.full_name, user.affiliation) == (SCRIPT, SCRIPT)
    assert (user.role, user.expertise, user.is_staff, user.is_superuser) == (Role.RESEARCHER, "", False, False)
    assert_escaped(body_of(response))


# ---------------------------------------------------------------------------------------
# Login


@cases(
    Case("username-huge", {"username": "u" * 10_000}, "username", "Ensure this value has at most 150 characters"),
    Case("username-nul", {"username": "rosa\x00"}, "username", "Null characters are not allowed"),
    Case("username-script", {"username": SCRIPT}, "__all__", "Please enter a correct username and password"),
    Case("password-huge", {"password": "p" * 100_000}, "__all__", "Please enter a correct username and password"),
    Case("password-nul", {"password": "pass\x00word"}, "password", "Null characters are not allowed"),
    Case("password-missing", {"password": ""}, "password", "This field is required"),
)
def test_login_refuses_bad_values_and_keeps_the_username(researcher, case):
    before = db_state()
    data = {"username": researcher.username, "password": "wrong-but-plausible", **case.changes}
    client = Client()

    response = client.post(reverse("login"), data, REMOTE_ADDR="192.0.2.1")

    assert response.status_code == 200
    assert_field_error(response, case.field, case.fragment)
    assert_kept(response, data)
    assert "_auth_user_id" not in client.session
    assert db_state() == before


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:alert(1)", "http:evil.example"],
)
def test_login_never_redirects_off_the_site(researcher, target):
    response = Client().post(reverse("login"), {"username": researcher.username, "password": PASSWORD, "next": target})

    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_a_hostile_next_parameter_is_shown_escaped(db):
    response = Client().get(reverse("login"), {"next": '"><script>alert(1)</script>'})

    assert response.status_code == 200
    assert_escaped(body_of(response))


# ---------------------------------------------------------------------------------------
# Project new and edit

LONG_FIELDS = ["summary", "intended_use", "prohibited_uses", "data_sources"]
PROJECT_CHOICES = {"synthesis_task", "generator_family", "modalities"}


def project_data(**changes: Any) -> dict[str, Any]:
    data = {
        "title": "Typed title that must survive",
        "summary": "Typed summary that must survive.",
        "synthesis_task": "super_resolution",
        "modalities": ["CT", "MR"],
        "generator_family": "gan",
        "intended_use": "Typed intended use.",
        "prohibited_uses": "Typed prohibited uses.",
        "data_sources": "Typed data sources.",
    }
    return {**data, **changes}


PROJECT_CASES = (
    Case("title-too-long", {"title": "T" * 300}, "title", "at most 200 characters (it has 300)"),
    Case("title-missing", {"title": "  "}, "title", "This field is required"),
    Case("title-nul", {"title": "A\x00B"}, "title", "Null characters are not allowed"),
    *(
        Case(f"{name}-too-long", {name: "x" * LONG}, name, f"at most 20000 characters (it has {LONG})")
        for name in LONG_FIELDS
    ),
    Case("task-unknown", {"synthesis_task": "telepathy"}, "synthesis_task", "Select a valid choice"),
    Case("family-script", {"generator_family": SCRIPT}, "generator_family", "Select a valid choice"),
    Case("modality-unknown", {"modalities": ["CT", "XYZ"]}, "modalities", "XYZ is not one of the available choices"),
    Case("modalities-missing", {"modalities": []}, "modalities", "This field is required"),
)


def _kept_project_fields(case: Case) -> set[str]:
    """An unknown choice has no option to show selected again."""
    return {case.field} if case.field in PROJECT_CHOICES else set()


@cases(*PROJECT_CASES)
def test_project_new_refuses_bad_values_and_keeps_the_rest(researcher, catalogue, case):
    before = db_state()
    data = project_data(**case.changes)

    response = _client(researcher).post(reverse("project-new"), data)

    assert_field_error(response, case.field, case.fragment)
    assert_kept(response, data, choices=PROJECT_CHOICES, skip=_kept_project_fields(case))
    assert db_state() == before


@cases(*PROJECT_CASES)
def test_project_edit_refuses_bad_values_and_keeps_what_was_saved(project, case):
    before = db_state()
    data = project_data(**case.changes)

    response = _client(project.owner).post(reverse("project-edit", args=[project.pk]), data)

    assert_field_error(response, case.field, case.fragment)
    assert_kept(response, data, choices=PROJECT_CHOICES, skip=_kept_project_fields(case))
    assert db_state() == before
    project.refresh_from_db()
    assert project.title == "Secret brain MRI project"


def test_project_new_stores_script_as_text_everywhere_and_ignores_smuggled_ids(researcher, other_researcher, catalogue):
    texts = {name: f"{SCRIPT} in {name}" for name in ["title", *LONG_FIELDS]}
    data = project_data(**texts, owner=other_researcher.pk, status=ProjectStatus.APPROVED, guideline_version=0, id=999)
    client = _client(researcher)

    response = client.post(reverse("project-new"), data)

    project = Project.objects.get()
    assert response.status_code == 302
    assert (project.owner, project.status, project.guideline_version) == (researcher, ProjectStatus.DRAFT, catalogue)
    assert project.pk != 999
    assert {name: getattr(project, name) for name in texts} == texts
    for url in [
        reverse("project-detail", args=[project.pk]),
        reverse("project-checklist", args=[project.pk]),
        reverse("project-history", args=[project.pk]),
        reverse("project-edit", args=[project.pk]),
        reverse("project-list"),
        reverse("home"),
    ]:
        page = client.get(url)
        assert page.status_code == 200, url
        assert_escaped(body_of(page))


@pytest.mark.parametrize("page", ["abc", "-1", "0", "1e9", "99999999999999999999999", SCRIPT])
@pytest.mark.parametrize("name", ["project-list", "project-history", "user-list"])
def test_a_hostile_page_number_shows_a_page(project, admin_user, name, page):
    url = reverse(name, args=[project.pk]) if name == "project-history" else reverse(name)

    response = _client(admin_user).get(url, {"page": page})

    assert response.status_code == 200
    assert "<script>alert" not in body_of(response)


def test_project_edit_ignores_smuggled_owner_status_and_version(project, other_researcher, catalogue):
    data = project_data(owner=other_researcher.pk, status=ProjectStatus.APPROVED, guideline_version=0, pk=1)

    response = _client(project.owner).post(reverse("project-edit", args=[project.pk]), data)

    assert response.status_code == 302
    project.refresh_from_db()
    assert project.title == "Typed title that must survive"
    assert project.owner != other_researcher and project.status == ProjectStatus.DRAFT
    assert project.guideline_version == catalogue


# ---------------------------------------------------------------------------------------
# The answer form


@dataclass
class AnswerPage:
    url: str
    item: GuidelineItem
    answer: Answer


@pytest.fixture
def answer_page(project) -> AnswerPage:
    """An item that already has a saved answer and a saved file, which a bad post must not lose."""
    item = GuidelineItem.objects.filter(version=project.guideline_version).order_by("stage__order", "order").first()
    answer = answer_save(
        actor=project.owner,
        project=project,
        item=item,
        status=AnswerStatus.MET,
        justification="Saved justification.",
        evidence_text="Saved evidence text.",
        files=[validate_evidence_file(upload("saved.pdf", pdf_bytes()))],
    )
    return AnswerPage(url=reverse("answer-edit", args=[project.pk, item.code]), item=item, answer=answer)


def answer_data(**changes: Any) -> dict[str, Any]:
    data = {
        "status": AnswerStatus.PARTLY_MET,
        "justification": "Typed justification that must survive.",
        "evidence_text": "Typed evidence that must survive.",
        "save": "",
    }
    return {**data, **changes}


def _truncated(content: bytes) -> bytes:
    return content[: len(content) // 2]


def bad_file(case_id: str, name: str, content: bytes, problem: str) -> Case:
    return Case(case_id, {}, "evidence_files", f"“{name}” {problem}", [(name, content)])


ANSWER_CASES = (
    Case("justification-too-long", {"justification": "j" * LONG}, "justification", "at most 20000 characters"),
    Case("evidence-text-too-long", {"evidence_text": "e" * LONG}, "evidence_text", "at most 20000 characters"),
    Case("justification-nul", {"justification": "a\x00b"}, "justification", "Null characters are not allowed"),
    Case("evidence-text-nul", {"evidence_text": "a\x00b"}, "evidence_text", "Null characters are not allowed"),
    Case("status-unknown", {"status": "approved"}, "status", "Select a valid choice"),
    Case("status-script", {"status": SCRIPT}, "status", "Select a valid choice"),
    Case(
        "not-met-unjustified",
        {"status": AnswerStatus.NOT_MET, "justification": "   "},
        "justification",
        "Explain why this item is not met: a justification is required",
    ),
    Case(
        "not-applicable-unjustified",
        {"status": AnswerStatus.NOT_APPLICABLE, "justification": ""},
        "justification",
        "Explain why this item is not applicable",
    ),
    bad_file("pdf-that-is-text", "report.pdf", b"Just text.\n", "is not a PDF"),
    bad_file("pdf-truncated", "truncated.pdf", _truncated(pdf_bytes()), "is not a readable PDF"),
    bad_file("png-that-is-text", "chart.png", b"no", "is not a readable PNG"),
    bad_file("png-truncated", "cut.png", image_bytes("PNG")[:40], "is not a readable PNG"),
    bad_file("jpeg-named-png", "photo.png", image_bytes("JPEG"), "is not a PNG image (its content is JPEG)"),
    bad_file("png-decompression-bomb", "bomb.png", png_claiming(50_000, 50_000), "is too large an image"),
    bad_file("png-over-the-pixel-limit", "huge.png", png_claiming(9_000, 9_000), "is too large an image (9000"),
    bad_file("exe", "setup.exe", b"MZ\x90\x00", "is not an accepted type"),
    bad_file("empty-file", "empty.txt", b"", "is empty"),
    bad_file("csv-with-nul", "table.csv", b"a,b\n1,\x002\n", "is not a UTF-8 text file"),
    bad_file("json-invalid", "data.json", b'{"a": 1,}', "is not valid JSON"),
    bad_file("json-deeply-nested", "deep.json", b"[" * 100_000, "is not valid JSON"),
    Case(
        "six-files",
        {},
        "evidence_files",
        "Attach at most 5 files at a time",
        [(f"note{n}.txt", b"fine") for n in range(6)],
    ),
    Case(
        "one-bad-among-good",
        {},
        "evidence_files",
        "“bad.pdf” is not a PDF",
        [("good.txt", b"fine"), ("bad.pdf", b"text"), ("good.png", image_bytes("PNG"))],
    ),
)


def _post_answer(client: Client, url: str, data: dict[str, Any], files: list[tuple[str, bytes]]) -> Any:
    if files:
        data = {**data, "evidence_files": [upload(name, content) for name, content in files]}
    return client.post(url, data)


@cases(*ANSWER_CASES)
def test_answer_form_refuses_bad_values_and_files_and_keeps_the_rest(answer_page, case):
    before = db_state()
    data = answer_data(**case.changes)

    response = _post_answer(_client(answer_page.answer.project.owner), answer_page.url, data, case.files)

    assert response.status_code == 400
    assert_field_error(response, case.field, case.fragment)
    skip = {"save"} | ({"status"} if case.field == "status" else set())
    assert_kept(response, data, choices={"status"}, skip=skip)
    assert db_state() == before
    saved = Answer.objects.get(pk=answer_page.answer.pk)
    assert (saved.status, saved.justification, saved.evidence_text) == (
        AnswerStatus.MET,
        "Saved justification.",
        "Saved evidence text.",
    )
    assert list(saved.files.values_list("original_name", flat=True)) == ["saved.pdf"]


@override_settings(EVIDENCE_MAX_BYTES=1024)
def test_a_file_over_the_limit_is_named_and_nothing_is_stored(answer_page):
    before = db_state()
    data = answer_data()

    response = _post_answer(
        _client(answer_page.answer.project.owner), answer_page.url, data, [("big.txt", b"x" * 4096)]
    )

    assert response.status_code == 400
    assert_field_error(response, "evidence_files", "“big.txt” is larger than the limit of 1.0")
    assert_kept(response, data, choices={"status"}, skip={"save"})
    assert db_state() == before
    assert not EvidenceFile.objects.filter(original_name="big.txt").exists()


@pytest.mark.parametrize(
    ("what", "extra"),
    [
        ("eleven files", lambda: {"evidence_files": [upload(f"n{n}.txt", b"fine") for n in range(11)]}),
        ("six hundred fields", lambda: {f"field{n}": "x" for n in range(600)}),
        ("three megabytes of text", lambda: {"evidence_text": "x" * (3 * 1024 * 1024)}),
    ],
)
def test_a_request_over_the_request_limits_is_refused_whole(answer_page, what, extra):
    """Django's request limits (DATA_UPLOAD_MAX_*) refuse these before any form sees them."""
    before = db_state()

    response = _client(answer_page.answer.project.owner).post(answer_page.url, {**answer_data(), **extra()})

    assert response.status_code == 400, what
    assert db_state() == before


def test_bytes_that_are_not_utf8_are_refused_with_the_form(answer_page):
    before = db_state()
    body = "status=partly_met&justification=%FF%FE%00&evidence_text=Typed+evidence+that+must+survive."

    response = _client(answer_page.answer.project.owner).post(
        answer_page.url, body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 400
    assert_field_error(response, "justification", "Null characters are not allowed")
    assert "Typed evidence that must survive." in body_of(response)
    assert db_state() == before


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=nothing-matches", "multipart/form-data", "multipart/form-data; boundary="],
)
def test_a_broken_multipart_body_is_refused(answer_page, content_type):
    before = db_state()

    response = _client(answer_page.answer.project.owner).post(
        answer_page.url, b"--garbage\r\nContent-Disposition: form-data\r\n\r\n", content_type=content_type
    )

    assert response.status_code in (200, 400)
    assert db_state() == before


def test_valid_files_of_every_kind_are_accepted(answer_page):
    """The refusals above are not a validator that refuses everything."""
    files = [
        ("paper.pdf", pdf_bytes()),
        ("figure.png", image_bytes("PNG")),
        ("photo.jpg", image_bytes("JPEG")),
        ("table.csv", "site,count\nBern,3\nZürich,4\n".encode()),
        ("params.json", b'{"seed": 42}'),
    ]
    response = _post_answer(_client(answer_page.answer.project.owner), answer_page.url, answer_data(), files)

    assert response.status_code == 302
    names = set(answer_page.answer.files.values_list("original_name", flat=True))
    assert names == {"saved.pdf", *(name for name, _ in files)}


def test_script_in_answer_text_is_stored_as_typed_and_shown_escaped(answer_page, admin_user):
    owner = answer_page.answer.project.owner
    data = answer_data(status=AnswerStatus.NOT_MET, justification=SCRIPT, evidence_text=SCRIPT)
    client = _client(owner)

    assert client.post(answer_page.url, data).status_code == 302

    saved = Answer.objects.get(pk=answer_page.answer.pk)
    assert (saved.justification, saved.evidence_text) == (SCRIPT, SCRIPT)
    for viewer in (owner, admin_user):  # the owner's form, and the read-only page
        page = _client(viewer).get(answer_page.url)
        assert page.status_code == 200
        assert "<script>alert" not in body_of(page)
    assert "&lt;script&gt;" in body_of(client.get(answer_page.url))
    assert "&lt;script&gt;" in body_of(_client(admin_user).get(answer_page.url))


HOSTILE_MARKDOWN = """# Evidence

**Bold claim**, see [the report](https://example.org/report).

<script>alert('md')</script>

[click me](javascript:alert(1))

<img src="x" onerror="alert(2)">

<a href="javascript:alert(3)" onclick="alert(4)" style="color:red">raw link</a>

<iframe src="https://evil.example"></iframe>
"""


def _markdown_blocks(body: str) -> list[str]:
    return re.findall(r'<div class="markdown-body[^"]*">(.*?)</div>', body, flags=re.S)


def test_markdown_evidence_is_rendered_without_scripts_links_or_handlers(answer_page, admin_user):
    owner = answer_page.answer.project.owner
    data = answer_data(evidence_text=HOSTILE_MARKDOWN)
    assert _client(owner).post(answer_page.url, data).status_code == 302

    for viewer in (owner, admin_user):
        blocks = _markdown_blocks(body_of(_client(viewer).get(answer_page.url)))
        assert blocks, "the evidence is not rendered"
        for html in blocks:
            assert "<strong>Bold claim</strong>" in html
            assert 'href="https://example.org/report"' in html
            # Raw HTML the researcher typed is shown as text, escaped: it is never an element.
            assert "&lt;script&gt;" in html
            tags = _Elements()
            tags.feed(html)
            assert not tags.names & {"script", "img", "iframe", "style"}, html
            for name, value in tags.attributes:
                assert not name.startswith("on") and name != "style", html
                assert not (value or "").strip().lower().startswith("javascript:"), html


class _Elements(HTMLParser):
    """The elements and attributes a browser would build from an HTML fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.add(tag)
        self.attributes.extend(attrs)


class _TooSlow(Exception):
    pass


def _raise_too_slow(signum: int, frame: Any) -> None:
    raise _TooSlow


@pytest.mark.parametrize("text", ["[" * 20_000, "![" * 10_000], ids=["brackets", "image-brackets"])
def test_evidence_text_within_the_limit_renders_without_stalling_the_server(answer_page, text):
    """Any text the form accepts must render in about linear time; these 20,000 characters
    take a minute or more in Python-Markdown (its issue 798), on every view of the page.
    Not a speed measurement: a normal 20,000-character answer renders in well under 0.2 s,
    so only a quadratic blow-up trips the 5-second bound."""
    project = answer_page.answer.project
    answer_save(
        actor=project.owner,
        project=project,
        item=answer_page.item,
        status=AnswerStatus.MET,
        justification="",
        evidence_text=text,
    )
    previous = signal.signal(signal.SIGALRM, _raise_too_slow)
    signal.alarm(5)
    try:
        response = _client(project.owner).get(answer_page.url)
    except _TooSlow:
        pytest.fail("rendering the evidence text stalled the request for over 5 seconds")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert response.status_code == 200


def test_ids_smuggled_into_the_answer_form_are_ignored(answer_page, other_researcher, catalogue):
    project = answer_page.answer.project
    foreign = ProjectFactory(owner=other_researcher, guideline_version=catalogue)
    foreign_answer = answer_save(
        actor=other_researcher,
        project=foreign,
        item=answer_page.item,
        status=AnswerStatus.MET,
        justification="",
        evidence_text="Otto's text.",
    )
    other_item = GuidelineItem.objects.exclude(pk=answer_page.item.pk).filter(version=catalogue).first()
    data = answer_data(
        project=foreign.pk,
        project_id=foreign.pk,
        item=other_item.pk,
        answer=foreign_answer.pk,
        id=foreign_answer.pk,
        updated_by=other_researcher.pk,
        owner=other_researcher.pk,
    )

    response = _client(project.owner).post(answer_page.url, data)

    assert response.status_code == 302
    saved = Answer.objects.get(pk=answer_page.answer.pk)
    assert (saved.project, saved.item, saved.status) == (project, answer_page.item, AnswerStatus.PARTLY_MET)
    assert saved.updated_by == project.owner
    assert not Answer.objects.filter(project=project, item=other_item).exists()
    foreign_answer.refresh_from_db()
    assert (foreign_answer.status, foreign_answer.evidence_text) == (AnswerStatus.MET, "Otto's text.")


def test_a_hostile_file_name_is_kept_as_text_and_shown_escaped(answer_page):
    owner = answer_page.answer.project.owner
    name = "<img src=x onerror=alert(1)>.txt"
    client = _client(owner)

    response = _post_answer(client, answer_page.url, answer_data(), [(name, b"harmless")])

    assert response.status_code == 302
    evidence = EvidenceFile.objects.get(answer=answer_page.answer, original_name=name)
    assert name not in evidence.file.name  # stored under a random name
    body = body_of(client.get(answer_page.url))
    assert escape(name) in body and "<img src=x" not in body


# ---------------------------------------------------------------------------------------
# Staff: user new and edit

USER_CHOICES = {"role", "expertise"}


def new_user_data(**changes: Any) -> dict[str, Any]:
    data = {
        "username": "typed-reviewer",
        "full_name": "Typed Reviewer",
        "email": "typed.reviewer@example.org",
        "affiliation": "Typed Hospital",
        "role": Role.REVIEWER,
        "expertise": "clinical",
    }
    return {**data, **changes}


USER_CASES = (
    Case("role-unknown", {"role": "superuser"}, "role", "Select a valid choice"),
    Case("expertise-unknown", {"expertise": "wizardry"}, "expertise", "Select a valid choice"),
    Case("reviewer-without-expertise", {"expertise": ""}, "expertise", "A reviewer needs an expertise kind"),
    Case(
        "researcher-with-expertise",
        {"role": Role.RESEARCHER, "expertise": "technical"},
        "expertise",
        "Only reviewers have an expertise kind",
    ),
    Case("email-malformed", {"email": "at@@example"}, "email", "Enter a valid email address"),
    Case("email-taken-other-case", {"email": "TAKEN@EXAMPLE.ORG"}, "email", "already exists"),
    Case("full-name-too-long", {"full_name": "F" * 300}, "full_name", "at most 200 characters (it has 300)"),
    Case("full-name-missing", {"full_name": ""}, "full_name", "This field is required"),
    Case("affiliation-too-long", {"affiliation": "A" * LONG}, "affiliation", "at most 200 characters"),
)


def _kept_user_fields(case: Case) -> set[str]:
    return {case.field} if case.changes.get(case.field) and case.field in USER_CHOICES else set()


@cases(
    *USER_CASES,
    Case("username-too-long", {"username": "u" * 200}, "username", "at most 150 characters (it has 200)"),
    Case("username-script", {"username": SCRIPT}, "username", "Enter a valid username"),
    Case("username-taken", {"username": "taken"}, "username", "A user with that username already exists"),
)
def test_user_new_refuses_bad_values_and_keeps_the_rest(admin_user, researcher, case):
    User.objects.filter(pk=researcher.pk).update(username="taken", email="taken@example.org")
    before = db_state()
    data = new_user_data(**case.changes)

    response = _client(admin_user).post(reverse("user-new"), data)

    assert_field_error(response, case.field, case.fragment)
    assert_kept(response, data, choices=USER_CHOICES, skip=_kept_user_fields(case))
    assert db_state() == before


def test_user_new_stores_script_as_text_and_ignores_smuggled_privileges(admin_user):
    data = new_user_data(
        role=Role.RESEARCHER,
        expertise="",
        full_name=SCRIPT,
        affiliation=SCRIPT,
        is_superuser="on",
        is_staff="on",
        is_active="",
        groups=1,
        user_permissions=1,
    )
    client = _client(admin_user)

    assert client.post(reverse("user-new"), data).status_code == 302

    user = User.objects.get(username="typed-reviewer")
    assert (user.full_name, user.affiliation, user.role) == (SCRIPT, SCRIPT, Role.RESEARCHER)
    assert (user.is_superuser, user.is_staff, user.is_active) == (False, False, True)
    assert not user.groups.exists() and not user.user_permissions.exists()
    assert_escaped(body_of(client.get(reverse("user-list"))))
    assert_escaped(body_of(client.get(reverse("user-edit", args=[user.pk]))))


def edit_user_data(**changes: Any) -> dict[str, Any]:
    data = {
        "full_name": "Typed New Name",
        "email": "typed.new@example.org",
        "affiliation": "Typed New Place",
        "role": Role.REVIEWER,
        "expertise": "ethics",
        "is_active": "on",
    }
    return {**data, **changes}


@cases(*USER_CASES)
def test_user_edit_refuses_bad_values_and_keeps_the_account(admin_user, researcher, other_researcher, case):
    User.objects.filter(pk=other_researcher.pk).update(email="taken@example.org")
    before = db_state()
    data = edit_user_data(**case.changes)

    response = _client(admin_user).post(reverse("user-edit", args=[researcher.pk]), data)

    assert_field_error(response, case.field, case.fragment)
    assert_kept(response, data, choices=USER_CHOICES, skip=_kept_user_fields(case) | {"is_active"})
    assert db_state() == before


def test_user_edit_refuses_to_deactivate_oneself(admin_user):
    before = db_state()
    data = edit_user_data(role=Role.ADMIN, expertise="")
    del data["is_active"]

    response = _client(admin_user).post(reverse("user-edit", args=[admin_user.pk]), data)

    assert_field_error(response, "is_active", "You cannot deactivate your own account")
    assert_kept(response, data, choices=USER_CHOICES)
    assert db_state() == before


def test_user_edit_ignores_smuggled_username_password_and_privileges(admin_user, researcher):
    old_hash = researcher.password
    data = edit_user_data(
        role=Role.RESEARCHER,
        expertise="",
        username="hijacked",
        password="hijacked-password-1",
        is_superuser="on",
        is_staff="on",
        last_login="2000-01-01",
        date_joined="2000-01-01",
    )

    response = _client(admin_user).post(reverse("user-edit", args=[researcher.pk]), data)

    assert response.status_code == 302
    researcher.refresh_from_db()
    assert researcher.full_name == "Typed New Name"
    assert researcher.username != "hijacked" and researcher.password == old_hash
    assert (researcher.is_superuser, researcher.is_staff) == (False, False)
    assert researcher.date_joined.year != 2000


# ---------------------------------------------------------------------------------------
# Password change


@cases(
    Case("old-password-wrong", {"old_password": "not-my-password"}, "old_password", "old password was entered"),
    Case("old-password-huge", {"old_password": "o" * LONG}, "old_password", "old password was entered"),
    Case("old-password-nul", {"old_password": "pass\x00"}, "old_password", "Null characters are not allowed"),
    Case("new-passwords-differ", {"new_password2": "something-else-entirely"}, "new_password2", "didn"),
    Case("new-password-too-short", {"new_password1": "short", "new_password2": "short"}, "new_password2", "too short"),
    Case(
        "new-password-common",
        {"new_password1": "password123", "new_password2": "password123"},
        "new_password2",
        "too common",
    ),
    Case(
        "new-password-nul",
        {"new_password1": "a-long\x00passphrase", "new_password2": "a-long\x00passphrase"},
        "new_password1",
        "Null characters are not allowed",
    ),
    Case(
        "new-password-huge-and-different",
        {"new_password1": "n" * 100_000, "new_password2": "m" * 100_000},
        "new_password2",
        "didn",
    ),
)
def test_password_change_refuses_bad_values_and_keeps_the_old_password(researcher, case):
    before = db_state()
    data = {
        "old_password": PASSWORD,
        "new_password1": "a-new-long-passphrase-42",
        "new_password2": "a-new-long-passphrase-42",
        **case.changes,
    }

    response = _client(researcher).post(reverse("password-change"), data)

    assert response.status_code == 200
    assert_field_error(response, case.field, case.fragment)
    assert db_state() == before
    researcher.refresh_from_db()
    assert researcher.check_password(PASSWORD)
