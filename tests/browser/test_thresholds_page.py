"""The thresholds page and an audit page in chromium: a refused value named, a saved one, the
page frozen with the round after submission, metric words with their code name on hover."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from audits.engine import disclosure
from audits.engine.preprocess import Preprocessing
from audits.engine.readers import read_folder
from audits.enums import AuditName, SetRole
from reviews.services.projects import project_submit
from tests.audits.images import dicom_pixels, write_dicom, write_png
from tests.audits.test_pages import CT_SMALL, SYNTHETIC_NAME, add_run, add_set, make_result
from tests.factories import PASSWORD, ProjectFactory, ResearcherFactory
from tests.workflow import answer_everything

pytestmark = [pytest.mark.browser]


def _log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_thresholds_are_set_refused_and_frozen_and_metrics_read_as_words(
    page: Page, shot, browser_errors, tmp_path, catalogue
):
    owner = ResearcherFactory(username="rosa", full_name="Rosa Researcher")
    project = ProjectFactory(owner=owner, guideline_version=catalogue, title="Synthetic EPI slices")
    add_set(project, owner, SetRole.SYNTHETIC, {SYNTHETIC_NAME: CT_SMALL.read_bytes()})
    # A real disclosure result: two DICOMs marked YES without the generating equipment, one PNG unlabelled.
    folder = tmp_path / "synthetic"
    write_dicom(folder / "synth_ct.dcm", "CT_small.dcm", equipment=False)
    write_dicom(folder / "synth_mr.dcm", "MR_small.dcm", equipment=False)
    write_png(folder / "synth_plain.png", dicom_pixels("MR_small.dcm").astype("uint16"), label=None)
    result = disclosure.run(read_folder(folder, "synthetic", Preprocessing())).as_dict()
    results = {audit: make_result(audit) for audit in AuditName.values} | {"disclosure": result}
    run = add_run(project, results=results)

    _log_in(page, owner.username)
    page.goto(f"/projects/{project.pk}/audits/thresholds/")
    expect(page.get_by_role("heading", name="Audit thresholds")).to_be_visible()
    field = page.get_by_label("Share of files machine-readably marked needed to pass")
    expect(field).to_have_value("1")
    shot("thresholds-editable")

    field.fill("1.5")
    page.get_by_role("button", name="Save thresholds").click()
    expect(page.get_by_text("(pass_fraction) must be at most 1, got 1.5")).to_be_visible()
    shot("thresholds-refused")

    page.get_by_label("Share of files machine-readably marked needed to pass").fill("0.9")
    page.get_by_role("button", name="Save thresholds").click()
    expect(page.get_by_text(re.compile(r"Thresholds saved: 1 value\(s\) differ"))).to_be_visible()

    answer_everything(project)
    round_ = project_submit(actor=owner, project=project)
    page.goto(f"/projects/{project.pk}/audits/thresholds/")
    expect(page.get_by_text("Frozen with round 1")).to_be_visible()
    expect(page.get_by_role("button", name="Save thresholds")).to_have_count(0)
    row = page.get_by_role("row", name=re.compile("Share of files machine-readably marked needed to pass"))
    expect(row).to_contain_text("0.9")
    shot("thresholds-frozen")

    page.goto(round_.get_absolute_url())
    expect(page.get_by_text("Audit thresholds of this round")).to_be_visible()
    expect(page.locator("#waivers")).to_contain_text("0.9 (default 1)")
    shot("round-page-thresholds")

    page.goto(f"/projects/{project.pk}/audits/runs/{run.pk}/disclosure/")
    words = page.get_by_text("Files marked synthetic without the generating equipment", exact=True)
    expect(words).to_have_attribute("title", "n_synthetic_yes_without_equipment")
    words.hover()
    shot("audit-page-metric-words")
    assert browser_errors == []
