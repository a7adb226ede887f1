"""The public register as an anonymous visitor: search it, open an entry, read how its
synthetic images are labelled and its audit verdicts; on a desktop and at 390 px. Then the
researcher's choice at submission and the board's setting page, as their users see them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from public.models import Listing
from reviews.enums import AnswerStatus, ProjectStatus
from reviews.models import GuidelineItem
from reviews.services.projects import answer_save, project_submit
from tests.factories import PASSWORD, ProjectFactory, ResearcherFactory
from tests.public.register_world import (
    DISCLOSURE_SUMMARY,
    approved,
    decide,
    finish_run,
    set_listing,
    with_audited_images,
)
from tests.workflow import answer_everything

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
LIMITS = "The model was trained on adults only: it fails on paediatric knees and on implants."


def _no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def _register(catalogue, admin_user):  # type: ignore[no-untyped-def]
    owner = ResearcherFactory(full_name="Rhea Researcher")
    knee = ProjectFactory(
        owner=owner,
        guideline_version=catalogue,
        title="Synthetic knee MRI for cartilage segmentation",
        summary="A latent diffusion model generates knee MRI slices to train a cartilage segmentation network.",
        intended_use="Training and testing segmentation models in research.",
        prohibited_uses="Diagnosis, or any use as real patient images.",
        synthesis_task="augmentation",
        modalities=["MR"],
        generator_family="diffusion",
    )
    with_audited_images(knee)
    answer_everything(knee)
    limits = GuidelineItem.objects.get(version=catalogue, code="EV-11")
    answer_save(actor=owner, project=knee, item=limits, status=AnswerStatus.MET, justification="", evidence_text=LIMITS)
    round_ = project_submit(actor=owner, project=knee, public_listing=True)
    finish_run(round_, {"disclosure": "pass", "privacy": "pass", "memorization": "warn", "fidelity": "pass",
                        "representation": "not_computable", "manifest": "pass"})  # fmt: skip
    decide(round_, admin=admin_user)
    knee.refresh_from_db()
    assert knee.status == ProjectStatus.APPROVED
    approved(owner, catalogue, title="Synthetic chest radiographs for triage research", admin=admin_user,
             summary="A GAN generates chest X-rays.", modalities=["XR"], generator_family="gan")  # fmt: skip
    approved(owner, catalogue, title="Unlisted dermoscopy project", listed=False, admin=admin_user)
    return knee


def test_an_anonymous_visitor_searches_the_register_and_reads_an_entry(
    page: Page, shot, browser_errors, catalogue, admin_user
) -> None:
    set_listing(Listing.OPT_IN)
    knee = _register(catalogue, admin_user)

    page.goto("/register/")
    expect(page.get_by_role("heading", name="Public register of approved projects")).to_be_visible()
    expect(page.locator("#register-count")).to_have_text("2 projects on the register.")
    expect(page.get_by_text("Unlisted dermoscopy project")).to_have_count(0)
    shot("register")

    page.get_by_label("Search titles, summaries and uses").fill("knee")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#register-count")).to_have_text("1 project matches the search.")
    expect(page).to_have_url(re.compile(r"\?q=knee"))
    page.get_by_label("Modality").select_option(label="X-ray (CR/DX)")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#register-count")).to_have_text("0 projects match the search.")
    page.get_by_label("Search titles, summaries and uses").fill("")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="Synthetic chest radiographs for triage research")).to_be_visible()
    page.get_by_label("Modality").select_option(label="MRI")
    page.get_by_role("button", name="Search").click()
    shot("register-filtered")

    page.get_by_role("link", name="Synthetic knee MRI for cartilage segmentation").click()
    expect(page).to_have_url(re.compile(rf"/register/{knee.pk}/$"))
    expect(page.locator("#disclosure")).to_contain_text(DISCLOSURE_SUMMARY)
    verdicts = page.locator("#audit-verdicts")
    expect(verdicts.get_by_role("row", name=re.compile("Memorization"))).to_contain_text("Passed with warnings")
    expect(verdicts.get_by_role("row", name=re.compile("Representation"))).to_contain_text("Not computable")
    expect(page.locator("#limitations")).to_contain_text(LIMITS)
    expect(page.locator("#round-digest")).to_have_text(knee.rounds.get().digest)
    expect(page.locator("#signatures")).to_contain_text("Technical reviewer")
    shot("entry")

    page.set_viewport_size(PHONE)
    shot("entry-390")
    assert _no_sideways_scroll(page), "the entry scrolls sideways at 390 px"
    page.goto("/register/")
    shot("register-390")
    assert _no_sideways_scroll(page), "the register scrolls sideways at 390 px"
    assert browser_errors == []


def test_the_researcher_chooses_the_listing_and_the_admin_sets_the_default(
    page: Page, shot, browser_errors, catalogue, admin_user
) -> None:
    set_listing(Listing.DEFAULT)
    owner = ResearcherFactory(username="rhea", full_name="Rhea Researcher")
    project = ProjectFactory(owner=owner, guideline_version=catalogue, title="Synthetic fundus photographs")
    answer_everything(project)

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("rhea")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/projects/{project.pk}/submit/")
    choice = page.get_by_label("List this project on the public register once it is approved")
    expect(choice).to_be_checked()
    shot("submit-default-ticked")
    choice.uncheck()
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_text("Submitted for review. Round 1 is frozen.")).to_be_visible()
    project.refresh_from_db()
    assert project.public_listing is False

    page.context.clear_cookies()
    admin_user.username = "ada"
    admin_user.save()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto("/register/settings/")
    page.get_by_label("Every approved project is listed").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Register settings saved.")).to_be_visible()
    shot("settings")
    page.set_viewport_size(PHONE)
    shot("settings-390")
    assert _no_sideways_scroll(page)
    assert browser_errors == []
