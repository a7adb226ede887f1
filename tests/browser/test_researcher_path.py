"""The researcher's path through a real browser: register, create a project, answer the
checklist with Markdown and evidence files, fail to submit, complete, submit, and find
the frozen round, the read-only checklist and the history.

Screenshots of every step land in test-artifacts/browser/<test name>/.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from django.core import mail
from playwright.sync_api import Page, expect
from pypdf import PdfWriter

from reviews.enums import AnswerStatus, ProjectStatus
from reviews.models import EvidenceFile, GuidelineVersion, Project, Round, Stage, User
from reviews.selectors import project_checklist, submission_problems
from reviews.services.projects import answer_save
from tests.factories import PASSWORD, AdminFactory

pytestmark = pytest.mark.browser

CATALOGUE_ITEMS = 45
CATALOGUE_STAGES = 7
PF1_EVIDENCE = """The problem statement is in **protocol section 2**, agreed with the radiology department.

| Stakeholder | Role |
|---|---|
| Radiology | Clinical lead |
| Patient panel | Reviewed the intended use |
"""


def field(page: Page, label: str):
    """A form control by its visible label; crispy-forms appends '*' to required labels."""
    return page.get_by_label(re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$"))


def answer(page: Page, status: str, *, evidence: str = "", justification: str = "") -> None:
    """Fill the answer form of the item page that is open."""
    page.get_by_label(status, exact=True).check()
    if justification:
        field(page, "Justification").fill(justification)
    if evidence:
        field(page, "Evidence").fill(evidence)


def item_heading(page: Page, code: str):
    return page.get_by_role("heading", level=2, name=re.compile(rf"^{re.escape(code)}\b"))


def small_pdf(folder: Path, name: str) -> Path:
    """A real, readable one-page PDF (the upload validator opens it with pypdf)."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": "Consent form summary, site A"})
    path = folder / name
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def test_researcher_registers_answers_and_submits(page: Page, shot, browser_errors, catalogue, tmp_path):
    stages = list(Stage.objects.filter(version=catalogue).order_by("order"))
    assert len(stages) == CATALOGUE_STAGES

    # 1. Register from the home page; land logged in on the projects page.
    page.goto("/")
    expect(page.get_by_role("heading", name="Ethical review of medical image synthesis")).to_be_visible()
    shot("home-anonymous")
    page.get_by_role("link", name="Register", exact=True).click()
    expect(page.get_by_role("heading", name="Register as a researcher")).to_be_visible()
    field(page, "Username").fill("rosa")
    field(page, "Full name").fill("Rosa Researcher")
    field(page, "Email").fill("rosa@example.org")
    field(page, "Affiliation").fill("Example University Hospital")
    field(page, "Password").fill("a-long-unguessable-passphrase")
    field(page, "Password confirmation").fill("a-long-unguessable-passphrase")
    shot("register-filled")
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/projects/$"))
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Welcome, Rosa Researcher")
    expect(page.get_by_role("navigation").first).to_contain_text("Rosa Researcher")
    shot("projects-after-register")
    user = User.objects.get(username="rosa")
    assert user.role == "researcher"

    # 1b. No projects before the address is confirmed: the banner says so; the emailed link
    # opens a page whose button confirms it.
    banner = page.get_by_role("status").filter(has_text="Confirm your email address.")
    expect(banner).to_contain_text("rosa@example.org")
    expect(page.get_by_role("link", name="New project")).to_have_count(0)
    [message] = mail.outbox
    link = re.search(r"https?://\S+", message.body).group(0)
    page.goto("/" + link.split("/", 3)[3])
    shot("confirm-email")
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("alert")).to_contain_text("rosa@example.org is confirmed")
    expect(banner).to_have_count(0)

    # 2. Create a project; land on its checklist with 7 stages and nothing answered.
    page.get_by_role("link", name="New project").click()
    field(page, "Title").fill("Synthetic knee MRI for meniscus tear detection")
    field(page, "Summary").fill("A latent diffusion model generates knee MRI slices to balance rare tear types.")
    field(page, "Synthesis task").select_option(label="Data augmentation")
    page.get_by_label("MRI", exact=True).check()
    page.get_by_label("CT", exact=True).check()
    field(page, "Generator family").select_option(label="Diffusion")
    field(page, "Intended use").fill("Training data for a tear classifier used by musculoskeletal radiologists.")
    field(page, "Prohibited uses").fill("Diagnosis; presenting the synthetic images as real patients.")
    field(page, "Data sources").fill("fastMRI knee (NYU licence), accessed 2025-02-01.")
    shot("project-form-filled")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(r"/projects/\d+/checklist/$"))
    project = Project.objects.get(owner=user)
    assert project.modalities == ["CT", "MR"]
    assert project.guideline_version_id == catalogue.pk
    expect(page.get_by_role("alert")).to_contain_text("Project created")
    expect(page.get_by_role("heading", level=1, name=project.title)).to_be_visible()
    expect(page.get_by_text(f"0 / {CATALOGUE_ITEMS}", exact=True)).to_be_visible()
    stage_headings = page.get_by_role("heading", level=2).filter(has_text=re.compile(r"^\s*[A-Z]{2} · "))
    expect(stage_headings).to_have_count(CATALOGUE_STAGES)
    for stage in stages:
        expect(page.get_by_role("heading", level=2, name=f"{stage.code} · {stage.name}")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^Answer "))).to_have_count(CATALOGUE_ITEMS)
    shot("checklist-empty")

    # 3a. PF-1 met, with Markdown evidence: bold text and a table, rendered as HTML.
    page.get_by_role("link", name="Answer PF-1", exact=True).click()
    expect(item_heading(page, "PF-1")).to_be_visible()
    answer(page, "Met", evidence=PF1_EVIDENCE)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"/checklist/PF-1/$"))
    expect(page.get_by_role("alert")).to_contain_text("PF-1 saved.")
    preview = page.locator(".markdown-body")
    expect(preview.locator("strong")).to_have_text("protocol section 2")
    expect(preview.get_by_role("table")).to_be_visible()
    expect(preview.get_by_role("columnheader", name="Stakeholder")).to_be_visible()
    expect(preview.get_by_role("cell", name="Clinical lead")).to_be_visible()
    expect(preview).not_to_contain_text("**")
    shot("pf1-saved-markdown")

    # 3b. DC-2 partly met, with a real PDF as evidence; a stray file is removed again.
    page.get_by_role("link", name="Back to the checklist").click()
    page.get_by_role("link", name="Answer DC-2", exact=True).click()
    expect(item_heading(page, "DC-2")).to_be_visible()
    pdf = small_pdf(tmp_path, "dc2-consent-summary.pdf")
    notes = tmp_path / "scratch-notes.txt"
    notes.write_text("uploaded by mistake\n", encoding="utf-8")
    answer(page, "Partly met", evidence="Consent covers site A; site B consent is being collected.")
    field(page, "Attach evidence files").set_input_files([pdf, notes])
    shot("dc2-filled")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("DC-2 saved.")
    pdf_link = page.get_by_role("link", name="dc2-consent-summary.pdf")
    expect(pdf_link).to_be_visible()
    expect(page.get_by_role("link", name="scratch-notes.txt")).to_be_visible()
    pdf_sha = hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert EvidenceFile.objects.get(original_name=pdf.name).sha256 == pdf_sha
    expect(page.get_by_text(f"SHA-256 {pdf_sha[:16]}")).to_be_visible()
    expect(page.get_by_label("Partly met", exact=True)).to_be_checked()
    shot("dc2-saved-with-files")
    with page.expect_download() as download:
        pdf_link.click()
    assert download.value.suggested_filename == pdf.name
    assert Path(download.value.path()).read_bytes() == pdf.read_bytes()
    # The remove button asks window.confirm (data-confirm, static/js/app.js); Playwright
    # would dismiss it by default, so accept it like a user who means it.
    dialogs: list[str] = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Remove scratch-notes.txt").click()
    expect(page.get_by_role("alert")).to_contain_text("Removed “scratch-notes.txt” from DC-2.")
    assert dialogs == ["Remove scratch-notes.txt?"]
    expect(page.get_by_role("link", name="scratch-notes.txt")).to_have_count(0)
    expect(pdf_link).to_be_visible()
    shot("dc2-after-remove")

    # 3c. EV-8 not applicable: refused without a justification, saved with one.
    page.goto(f"/projects/{project.pk}/checklist/EV-8/")
    answer(page, "Not applicable")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Explain why this item is not applicable: a justification is required.")).to_be_visible()
    shot("ev8-justification-missing")
    field(page, "Justification").fill("We do not release the images outside the hospital, so no external test exists.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("EV-8 saved.")
    shot("ev8-saved")

    page.get_by_role("link", name="Checklist", exact=True).click()
    expect(page.get_by_text(f"3 / {CATALOGUE_ITEMS}", exact=True)).to_be_visible()
    expect(page.locator("#item-DC-2")).to_contain_text("Partly met")
    expect(page.locator("#item-PF-1").get_by_role("link")).to_have_text("Edit")
    expect(page.locator("#item-PF-2").get_by_role("link")).to_have_text("Answer")
    shot("checklist-three-answered")

    # 4. Try to submit: the missing items are listed with links, and Submit is refused.
    page.get_by_role("link", name="Submit for review").click()
    expect(page).to_have_url(re.compile(r"/submit/$"))
    missing = submission_problems(checklist=project_checklist(project=project))
    missing_codes = [row.item.code for row in missing]
    assert "PF-2" in missing_codes and "OV-1" in missing_codes
    missing_heading = f"{len(missing)} items must be completed before you can submit"
    expect(page.get_by_role("heading", name=missing_heading)).to_be_visible()
    problems = page.locator("#submission-problems")
    for code in ("PF-2", "DC-1", "DD-1", "EV-1", "DS-1", "DM-1", "OV-1"):
        expect(problems.get_by_role("link", name=code, exact=True)).to_be_visible()
    for code in ("PF-1", "DC-2", "EV-8", "EV-5"):  # answered, or optional
        expect(problems.get_by_role("link", name=code, exact=True)).to_have_count(0)
    expect(problems.get_by_role("listitem")).to_have_count(len(missing))
    shot("submit-incomplete")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/submit/")) as posted:
        page.get_by_role("button", name="Submit for review").click()
    assert posted.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text(f"Not submitted: {len(missing)} item(s) still need an answer")
    expect(page.locator(".badge", has_text="Draft")).to_be_visible()
    shot("submit-refused")
    project.refresh_from_db()
    assert project.status == ProjectStatus.DRAFT
    assert not Round.objects.exists()

    problems.get_by_role("link", name="PF-2", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/checklist/PF-2/$"))
    expect(item_heading(page, "PF-2")).to_be_visible()

    # 5. Complete the rest. In the browser: "Save and next" through PF-2..PF-5 into the next
    # stage, and one item of every stage not yet answered through the form.
    for code, following in (("PF-2", "PF-3"), ("PF-3", "PF-4"), ("PF-4", "PF-5"), ("PF-5", "DC-1")):
        expect(item_heading(page, code)).to_be_visible()
        answer(page, "Met", evidence=f"See the protocol, section on {code}.")
        page.get_by_role("button", name="Save and next").click()
        expect(page).to_have_url(re.compile(rf"/checklist/{following}/$"))
        expect(page.get_by_role("alert")).to_contain_text(f"{code} saved.")
    shot("save-and-next-crossed-into-dc")
    for code, status in (("DD-1", "Met"), ("DS-1", "Partly met"), ("DM-1", "Met"), ("OV-4", "Met")):
        page.goto(f"/projects/{project.pk}/checklist/{code}/")
        answer(page, status, evidence=f"Evidence for {code} is in the model card.")
        page.get_by_role("button", name="Save and next").click()
        expect(page.get_by_role("alert")).to_contain_text(f"{code} saved.")
    # OV-4 led to OV-5, the catalogue's last item: there is no "Save and next" there.
    expect(item_heading(page, "OV-5")).to_be_visible()
    expect(page.get_by_role("button", name="Save and next")).to_have_count(0)
    answer(page, "Not applicable", justification="No post-release audit is planned: images stay in-house.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("OV-5 saved.")
    shot("ov5-last-item")

    # The remaining required items go through reviews.services.projects.answer_save, the
    # same service the answer form's view calls, to keep the browser part short.
    remaining = submission_problems(checklist=project_checklist(project=project))
    assert remaining and "PF-2" not in {row.item.code for row in remaining}
    for row in remaining:
        answer_save(
            actor=user,
            project=project,
            item=row.item,
            status=AnswerStatus.MET,
            justification="",
            evidence_text=f"Documented in the study protocol ({row.item.code}).",
        )
    assert not submission_problems(checklist=project_checklist(project=project))

    page.get_by_role("link", name="Checklist", exact=True).click()
    answered = sum(stage.answered for stage in project_checklist(project=project))
    expect(page.get_by_text(f"{answered} / {CATALOGUE_ITEMS}", exact=True)).to_be_visible()
    shot("checklist-complete")

    # 6. Submit: land on the frozen Round 1 with its digest, UTC time and guideline version.
    page.get_by_role("link", name="Submit for review").click()
    expect(page.get_by_role("heading", name="The checklist is complete")).to_be_visible()
    expect(page.get_by_text("Submitting freezes round 1")).to_be_visible()
    shot("submit-ready")
    page.get_by_role("button", name="Submit for review").click()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/rounds/1/$"))
    round_ = Round.objects.get()
    expect(page.get_by_role("alert")).to_contain_text("Submitted for review. Round 1 is frozen.")
    expect(page.get_by_role("heading", level=2, name=re.compile(r"^Round 1\b"))).to_be_visible()
    digest = page.locator("#round-digest")
    expect(digest).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    assert digest.inner_text() == round_.digest
    assert round_.digest == hashlib.sha256(round_.canonical_json.encode("utf-8")).hexdigest()
    expect(page.get_by_text(f"{round_.submitted_at:%Y-%m-%d %H:%M:%S} UTC by Rosa Researcher")).to_be_visible()
    version = GuidelineVersion.objects.get(pk=round_.guideline_version_id)
    expect(page.locator("dd", has_text=str(version))).to_be_visible()
    expect(page.get_by_text(f"SHA-256 {pdf_sha}")).to_be_visible()  # the evidence file's digest is frozen too
    shot("round-1")
    project.refresh_from_db()
    assert project.status == ProjectStatus.SUBMITTED

    # 7. The checklist is read-only: only "View" links; an item shows its answer, no form.
    page.get_by_role("link", name="Checklist", exact=True).click()
    expect(page.get_by_text("This project is submitted: it is read-only")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^(Answer|Edit) "))).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile(r"^View [A-Z]{2}-\d+$"))).to_have_count(CATALOGUE_ITEMS)
    expect(page.locator("table.table-checklist").get_by_role("link")).to_have_text(["View"] * CATALOGUE_ITEMS)
    expect(page.get_by_role("link", name="Submit for review")).to_have_count(0)
    shot("checklist-read-only")
    page.get_by_role("link", name="View PF-1", exact=True).click()
    expect(item_heading(page, "PF-1")).to_be_visible()
    expect(page.get_by_role("heading", name="Answer", exact=True)).to_be_visible()
    expect(page.locator(".markdown-body strong")).to_have_text("protocol section 2")
    expect(page.locator("form[enctype='multipart/form-data']")).to_have_count(0)
    expect(page.get_by_role("radio")).to_have_count(0)
    expect(page.get_by_role("textbox")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile(r"^Save"))).to_have_count(0)
    shot("pf1-read-only")
    page.goto(f"/projects/{project.pk}/checklist/DC-2/")
    expect(page.get_by_role("link", name="dc2-consent-summary.pdf")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"^Remove "))).to_have_count(0)
    shot("dc2-read-only")
    response = page.goto(f"/projects/{project.pk}/submit/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    shot("submit-forbidden")

    # 8. The history lists the creation, the uploads and the submission.
    page.goto(f"/projects/{project.pk}/")
    page.get_by_role("link", name="History", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/projects/{project.pk}/history/$"))
    rows = page.get_by_role("row")

    def logged(action: str):  # rows whose action badge reads exactly `action`
        return rows.filter(has=page.get_by_text(action, exact=True))

    expect(logged("Created").filter(has_text=project.title)).to_have_count(1)
    expect(logged("Uploaded").filter(has_text="dc2-consent-summary.pdf")).to_have_count(1)
    expect(logged("Uploaded").filter(has_text="scratch-notes.txt")).to_have_count(1)
    expect(logged("Deleted").filter(has_text="scratch-notes.txt")).to_have_count(1)
    expect(logged("Submitted")).to_have_count(1)
    expect(logged("Submitted")).to_contain_text(round_.digest)
    shot("history")

    assert browser_errors == []


def test_admin_sees_catalogue_v1(page: Page, shot, browser_errors, catalogue):
    admin = AdminFactory(username="demo-admin", full_name="Ada Admin")

    page.goto("/")
    page.get_by_role("link", name="Log in", exact=True).first.click()
    field(page, "Username").fill(admin.username)
    field(page, "Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Welcome, Ada Admin")).to_be_visible()
    shot("admin-home")

    page.get_by_role("link", name="Guidelines", exact=True).click()
    expect(page.get_by_role("heading", name="Guideline catalogue")).to_be_visible()
    shot("catalogue-list")
    page.get_by_role("link", name=str(catalogue)).click()
    expect(page).to_have_url(re.compile(rf"/catalogue/{catalogue.pk}/$"))
    expect(page.get_by_role("heading", level=1, name=re.compile(rf"^{re.escape(str(catalogue))}"))).to_be_visible()
    expect(page.locator("#catalogue-summary")).to_have_text(f"{CATALOGUE_ITEMS} items in {CATALOGUE_STAGES} stages.")
    # One heading per stage, then the version's review policy.
    expect(page.get_by_role("heading", level=2, name=re.compile(r"^[A-Z]{2} · "))).to_have_count(CATALOGUE_STAGES)
    expect(page.get_by_role("heading", level=2, name="Review policy")).to_be_visible()
    shot("catalogue-v1")

    assert browser_errors == []
