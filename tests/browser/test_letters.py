"""The decision letter in a real browser: an admin downloads it from the round page, verifies
it, and sees the verification page flag a round changed behind the application's back."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from letters.pdf import LetterUnavailable, render_pdf
from reviews.models import Round
from tests.conftest import require
from tests.factories import PASSWORD, AdminFactory, ResearcherFactory
from tests.letters.builders import CONDITION, WAIVER_REASON, approved_round, tampering

pytestmark = pytest.mark.browser  # live_server makes every test transactional (pytest-django)

PHONE = {"width": 390, "height": 844}


def _weasyprint_present() -> bool:
    # Through letters.pdf, never `import weasyprint` here: the import flips Pillow's process-wide
    # LOAD_TRUNCATED_IMAGES, which letters.pdf puts back (tests/letters/test_pillow_setting.py).
    try:
        render_pdf("<p>A test</p>")
    except LetterUnavailable:
        return False
    return True


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_the_admin_downloads_the_letter_verifies_it_and_sees_tampering_flagged(
    page: Page, shot, browser_errors, catalogue, tmp_path
) -> None:
    require(_weasyprint_present(), "WeasyPrint or Debian's pango is not installed")
    owner = ResearcherFactory(full_name="Rosa Researcher")
    admin = AdminFactory(username="ada", full_name="Ada Admin")
    decided = approved_round(owner=owner, admin=admin)

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(decided.round.get_absolute_url())
    record = page.locator("section#decision-record")
    expect(record.get_by_role("heading", name="Decision record")).to_be_visible()
    artifacts = shot("round-page").parent

    with page.expect_download() as download_info:
        record.get_by_role("link", name="Decision letter (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == f"misyn-{decided.project.pk}-round-1-decision.pdf"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    content = saved.read_bytes()
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
    for expected in (decided.project.title, decided.round.digest, "Tess Technical", "Carl Clinical", CONDITION):
        assert _flat(expected) in _flat(text), expected
    assert _flat(WAIVER_REASON) in _flat(text)
    if shutil.which("pdftoppm"):  # the first page as an image beside the screenshots, to look at
        target = artifacts / "letter-page-1"
        subprocess.run(["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "1", "-singlefile", saved, target], check=True)

    page.goto(decided.round.get_absolute_url())
    page.locator("section#decision-record").get_by_role("link", name="Verify").click()
    verdict = page.locator("#verdict")
    expect(verdict).to_contain_text("This letter's round and signatures are intact")
    expect(page.locator("#verify-title")).to_contain_text(decided.project.title)
    # The public page numbers the signatures and says who signed by role, never by name.
    signatures = page.get_by_role("table").filter(has_text="Signer")
    expect(signatures).to_contain_text("Technical reviewer")
    expect(signatures).to_contain_text("Clinical reviewer")
    for name in ("Tess Technical", "Carl Clinical"):
        expect(page.locator("body")).not_to_contain_text(name)
    shot("verified")

    # The same check from the letter's own text: the digest pasted into the public form, logged out.
    page.context.clear_cookies()
    page.goto("/verify/")
    page.get_by_label("Round digest (SHA-256)").fill(" ".join(re.findall(".{16}", decided.round.digest.upper())))
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#verdict")).to_contain_text("This letter's round and signatures are intact")

    with tampering("reviews_round"):
        tampered = decided.round.canonical_json.replace("Synthetic knee CT", "Synthetic knee MRI")
        Round.objects.filter(pk=decided.round.pk).update(canonical_json=tampered)
    page.reload()
    expect(page.locator("#verdict")).to_contain_text("This letter's record is not intact")
    expect(page.locator("#verdict")).to_contain_text("The round's content has changed since it was signed")
    shot("tampered")
    page.set_viewport_size(PHONE)
    assert _no_sideways_scroll(page), "the verification page scrolls sideways at 390 px"
    shot("tampered-phone")

    page.goto("/verify/")
    page.get_by_label("Round digest (SHA-256)").fill("12345")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#digest-error")).to_contain_text("you entered 5 characters")
    assert _no_sideways_scroll(page)
    shot("form-error-phone")
    assert not browser_errors, browser_errors
