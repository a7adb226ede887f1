"""Site-wide behaviour in chromium: a changed form warns before its input is lost, the skip
link, the refusal pages, the account pages, and no sideways scrolling at 390 px."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, AdminFactory

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser" / "phone-390"


def _log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log in")).to_have_count(0)


def test_a_changed_form_warns_before_its_input_is_lost_until_it_is_submitted(page: Page, shot, browser_errors, db):
    AdminFactory(username="ada")
    _log_in(page, "ada")
    warnings: list[str] = []

    def stay(dialog) -> None:  # "Leave site?" answered "Cancel": the input stays
        warnings.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", stay)

    # Untouched: leaving asks nothing.
    page.goto("/staff/users/new/")
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(page.url.split("/staff/")[0] + "/staff/users/")
    assert warnings == []

    # Typed into: leaving asks, and answering "stay" keeps what was typed.
    page.goto("/staff/users/new/")
    page.get_by_label("Full name").fill("Rui Reviewer")
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_label("Full name")).to_have_value("Rui Reviewer")
    assert warnings == ["beforeunload"]
    shot("warned-and-stayed")

    # Typed back to what it was: nothing to lose, nothing asked.
    page.get_by_label("Full name").fill("")
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(page.url.split("/staff/")[0] + "/staff/users/")
    assert warnings == ["beforeunload"]

    # Submitted: the page the server answers with comes without a question; a form it sends
    # back refused still holds unsaved input, so leaving that one asks again.
    page.goto("/staff/users/new/")
    page.get_by_label("Full name").fill("Rui Reviewer")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".is-invalid").first).to_be_visible()
    assert warnings == ["beforeunload"]
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_label("Full name")).to_have_value("Rui Reviewer")
    assert warnings == ["beforeunload", "beforeunload"]
    assert browser_errors == []


# ---- keyboards and screen readers ----------------------------------------------------------


def test_the_skip_link_is_the_first_stop_and_form_errors_are_announced(page: Page, shot, browser_errors, db):
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()  # shown once focused
    shot("skip-link-focused")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    # The registration form sent back: a summary with role=alert takes the focus and names each field.
    page.goto("/accounts/register/")
    page.get_by_label("Username").fill("rosa")
    page.get_by_label("Email").fill("not-an-address")
    page.get_by_role("button", name=re.compile("Register|Create")).click()
    summary = page.get_by_role("alert").filter(has_text="need your attention")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link", name="Email")).to_be_visible()
    email = page.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    described = email.get_attribute("aria-describedby") or ""
    assert any("valid email" in (page.locator(f"#{ident}").text_content() or "") for ident in described.split())
    summary.get_by_role("link", name="Email").click()
    expect(email).to_be_focused()
    shot("register-errors")
    assert browser_errors == []


# ---- refusals and accounts -----------------------------------------------------------------


def test_refusals_say_why_and_lead_back(page: Page, shot, browser_errors, researcher):
    _log_in(page, researcher.username)
    page.goto("/staff/users/", referer=page.url.split("/accounts/")[0] + "/projects/")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("Why: only administrators manage accounts.")
    shot("403")
    page.get_by_role("link", name="Back to the previous page").click()
    expect(page).to_have_url(re.compile(r"/projects/$"))

    page.goto("/accounts/logout/")  # a bookmark of the logout button's address
    expect(page.get_by_role("heading", name="This address only accepts form submissions")).to_be_visible()
    expect(page.get_by_text("Nothing was changed")).to_be_visible()
    shot("405")
    page.get_by_role("link", name="Start page").click()
    expect(page.locator("nav").get_by_text(researcher.display_name)).to_be_visible()  # still logged in


def test_an_invitation_link_sets_the_password_and_logs_in(page: Page, context, shot, browser_errors, db):
    from django.core import mail

    AdminFactory(username="ada")
    _log_in(page, "ada")
    page.goto("/staff/users/new/")
    shot("new-account-form")
    page.get_by_label("Username").fill("cleo")
    page.get_by_label("Full name").fill("Cleo Clinician")
    page.get_by_label("Email").fill("cleo@example.org")
    page.get_by_label("Expertise").select_option(label="Clinical")
    expect(page.locator("input[type='password']")).to_have_count(0)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("We emailed cleo@example.org an invitation")).to_be_visible()

    [message] = mail.outbox
    link = re.search(r"https?://\S+/accounts/password/reset/\S+", message.body).group(0)
    assert link.startswith(page.url.split("/staff/")[0])  # the address the admin is using
    invited = context.browser.new_context(viewport={"width": 390, "height": 844})
    try:
        phone = invited.new_page()
        phone.goto(link)
        expect(phone.get_by_role("heading", name="Welcome, Cleo Clinician")).to_be_visible()
        phone.get_by_label("New password", exact=False).first.fill("a-passphrase-of-her-own-58")
        phone.get_by_label("New password confirmation").fill("a-passphrase-of-her-own-58")
        phone.screenshot(path=str(shot("invitation-form").parent / "invitation-390.png"), full_page=True)
        phone.get_by_role("button", name="Set my password and log in").click()
        expect(phone.get_by_text("your password is set and you are logged in")).to_be_visible()
        expect(phone.locator("nav").get_by_text("Cleo Clinician")).to_be_attached()
    finally:
        invited.close()


def test_the_lockout_reads_in_minutes(page: Page, shot, researcher):
    page.goto("/accounts/login/")
    for attempt in range(8):
        page.get_by_label("Username").fill(researcher.username)
        page.get_by_label("Password").fill(f"wrong-guess-{attempt}")
        page.get_by_role("button", name="Log in").click()
        if page.get_by_role("heading", name="Too many failed attempts").count():
            break
    expect(page.get_by_role("alert")).to_contain_text("locked for 15 minutes")
    expect(page.get_by_role("alert")).not_to_contain_text("PT15M")
    shot("lockout")


# ---- phones: 390 px wide -------------------------------------------------------------------

PHONE = {"width": 390, "height": 844}
LONG_TITLE = "Synthetic contrast-enhanced abdominal CT for liver-lesion segmentation (multi-centre, 2026 cohort)"

_TOO_WIDE = """() => [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
    .filter((e) => !(e.parentElement && e.parentElement.getBoundingClientRect().right > window.innerWidth + 1))
    .slice(0, 3)
    .map((e) => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}`)"""


_CHECKLIST_SCROLLS = """() => [...document.querySelectorAll('.table-checklist')]
    .some((t) => t.parentElement.scrollWidth > t.parentElement.clientWidth + 1)"""


def _phone_world(catalogue):
    """Realistic data: a researcher with projects in several states and long titles, a round
    under review by two reviewers with audit results, notifications, and an admin."""
    from audits.enums import SetRole
    from audits.selectors import AUDITS
    from reviews.services.projects import project_submit
    from tests.audits.test_pages import CT_SMALL, SYNTHETIC_NAME, add_run, add_set, make_result
    from tests.factories import ProjectFactory, ResearcherFactory
    from tests.workflow import answer_everything, reviewers_on

    admin = AdminFactory(username="ada", full_name="Ada Administrator-Longname")
    owner = ResearcherFactory(
        username="rosa", full_name="Rosa Researcher", email="rosa.researcher-with-a-long-address@radiology.example.org"
    )
    for number in range(6):
        ProjectFactory(owner=owner, guideline_version=catalogue, title=f"{LONG_TITLE} draft {number}")
    project = ProjectFactory(owner=owner, guideline_version=catalogue, title=LONG_TITLE)
    add_set(project, owner, SetRole.SYNTHETIC, {SYNTHETIC_NAME: CT_SMALL.read_bytes()})
    add_set(
        project,
        owner,
        SetRole.REFERENCE,
        {"reference/patient-0007-ct-a-rather-long-file-name.dcm": CT_SMALL.read_bytes()},
    )
    run = add_run(project, results={a: make_result(a, "fail" if k % 2 else "pass") for k, a in enumerate(AUDITS)})
    answer_everything(project)
    round_ = project_submit(actor=owner, project=project)
    technical, clinical = reviewers_on(project, admin=admin)
    return {"admin": admin, "owner": owner, "technical": technical, "clinical": clinical}, project, round_, run


def test_the_main_pages_have_no_horizontal_scroll_at_390_px(browser, live_server, catalogue):
    people, project, round_, run = _phone_world(catalogue)
    pk, number = project.pk, round_.number
    common = ["/", "/projects/", "/notifications/", "/catalogue/", f"/catalogue/{catalogue.pk}/"]
    project_pages = [
        f"/projects/{pk}/",
        f"/projects/{pk}/checklist/",
        f"/projects/{pk}/history/",
        f"/projects/{pk}/audits/",
        run.get_absolute_url(),
    ]
    pages = {
        "owner": common + project_pages + [f"/projects/{pk}/rounds/{number}/", f"/projects/{pk}/audits/thresholds/"],
        "technical": [*common, "/reviews/", f"/projects/{pk}/rounds/{number}/review/", f"/projects/{pk}/audits/"],
        "admin": [
            *common,
            "/staff/users/",
            "/staff/users/new/",
            f"/projects/{pk}/assignments/",
            *project_pages,
            "/board/",
            "/reviews/all/",
            "/board/objections/",
            "/register/settings/",
        ],
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    overflowing: list[str] = []
    for role, urls in pages.items():
        context = browser.new_context(base_url=live_server.url, viewport=PHONE, locale="en-GB", timezone_id="UTC")
        try:
            page = context.new_page()
            _log_in(page, people[role].username)
            for url in urls:
                response = page.goto(url)
                assert response is not None and response.status == 200, f"{role} {url}: {response and response.status}"
                if page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth"):
                    overflowing.append(f"{role} {url}: {page.evaluate(_TOO_WIDE)}")
                # The checklist's rows become cards: its status and buttons never hide in a scroll box.
                if url.endswith("/checklist/") and page.evaluate(_CHECKLIST_SCROLLS):
                    overflowing.append(f"{role} {url}: a checklist table scrolls sideways")
                name = re.sub(r"[^a-z0-9]+", "-", f"{role}{url}").strip("-")
                page.screenshot(path=f"{ARTIFACTS}/{name}.png", full_page=True)
        finally:
            context.close()
    assert not overflowing, "wider than 390 px:\n" + "\n".join(overflowing)


# ---- readable to clinicians ----------------------------------------------------------------


def test_the_round_diff_leads_with_words_and_keeps_the_figures_folded(
    page: Page, shot, browser_errors, project, admin_user
):
    from reviews.enums import AnswerStatus, Meaning, Verdict
    from reviews.models import GuidelineItem
    from reviews.services.projects import answer_save, project_submit
    from tests.reviews.test_review_views import add_run
    from tests.workflow import answer_everything, review, reviewers_on, sign

    answer_everything(project)
    add_run(project, digest="1" * 64, statuses={"memorization": "fail"},
            metrics={"memorization": {"frac_probable_copies": 0.25}})  # fmt: skip
    round1 = project_submit(actor=project.owner, project=project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    review(round1, technical, verdict=Verdict.MUST_CHANGE)
    sign(round1, technical, Meaning.REQUEST_CHANGES)
    item = GuidelineItem.objects.get(version=project.guideline_version_id, code="EV-5")
    answer_save(actor=project.owner, project=project, item=item, status=AnswerStatus.PARTLY_MET,
                justification="The external cohort is being collected.", evidence_text="Two sites so far.")  # fmt: skip
    add_run(project, digest="2" * 64, statuses={}, metrics={"memorization": {"frac_probable_copies": 0.05}})
    project_submit(actor=project.owner, project=project)

    _log_in(page, clinical.username)
    page.goto(f"/projects/{project.pk}/rounds/2/changes/")
    summary = page.locator(".diff-summary")
    expect(summary.get_by_role("heading", name="In short")).to_be_visible()
    expect(summary).to_contain_text("EV-5")
    expect(summary).to_contain_text("answer: Met → Partly met")
    expect(summary).to_contain_text("Memorization: fail → pass")
    figures = page.get_by_role("cell", name="Share of synthetic images over the copy threshold")
    expect(figures).to_be_hidden()  # behind the disclosure until asked for
    shot("round-diff-desktop")
    page.get_by_text("The figures behind these verdicts, round by round").click()
    expect(figures).to_be_visible()
    expect(figures.locator(".metric-name")).to_have_attribute("title", re.compile(r"^frac_probable_copies: "))
    shot("round-diff-figures-open")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    shot("round-diff-390")
    assert browser_errors == []
