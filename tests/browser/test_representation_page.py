"""The representation page in chromium: how each spelling was counted, what is too small to judge."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from audits.engine import representation
from audits.enums import AuditName, SetRole
from tests.audits.engine.test_representation_spellings import SEX_SPELLINGS, real_set, spelt
from tests.audits.test_pages import CT_SMALL, SYNTHETIC_NAME, add_run, add_set, make_result
from tests.factories import PASSWORD, ProjectFactory, ResearcherFactory

pytestmark = [pytest.mark.browser]


def test_the_mapping_applied_is_shown_per_attribute(page: Page, shot, browser_errors, tmp_path, catalogue):
    owner = ResearcherFactory(username="rosa", full_name="Rosa Researcher")
    project = ProjectFactory(owner=owner, guideline_version=catalogue, title="Synthetic MR slices")
    add_set(project, owner, SetRole.SYNTHETIC, {SYNTHETIC_NAME: CT_SMALL.read_bytes()})
    sites = ["St Mary's Hospital", "Leeds"] * 30
    reference_rows = [
        {**row, "site": site, "age": f"{age:03d}Y"}
        for row, site, age in zip(
            spelt({"F": 30, "M": 30}, SEX_SPELLINGS), sites, [34, 47, 52, 68, 71] * 12, strict=True
        )
    ]
    synthetic_rows = [
        {**row, "age": f"{age} years"}
        for row, age in zip(
            spelt({"F": 30, "M": 90}, {"F": ["woman", "F"], "M": ["male", "M"]}), [34, 47, 52, 68, 71] * 24, strict=True
        )
    ]
    for position, row in enumerate(synthetic_rows[:4]):
        row["site"] = ["St Marys", "LEEDS"][position % 2]
    mapping = "attribute,value,group\nsite,St Marys,St Mary's Hospital\n"
    synthetic = real_set(tmp_path, "synthetic", synthetic_rows, value_map=mapping)
    copied = {image.label for image in synthetic.images[:14]}  # 14 of the 30 F images: 47 % against 12 % overall
    per_image = {"copy": {image.label: image.label in copied for image in synthetic.images}}
    reference = real_set(tmp_path, "reference", reference_rows)
    result = representation.run(synthetic, reference, per_image=per_image).as_dict()
    results = {audit: make_result(audit) for audit in AuditName.values} | {"representation": result}
    run = add_run(project, results=results)

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/projects/{project.pk}/audits/runs/{run.pk}/representation/")
    expect(page.get_by_role("heading", name="How the values were grouped")).to_be_visible()
    age = page.get_by_role("table", name="Grouping of age")  # the first attribute is open
    expect(age.get_by_role("row", name="047Y 40-59 (47 years) age in years 12 0")).to_be_visible()
    expect(age.get_by_role("row", name="47 years 40-59 (47 years) age in years 0 24")).to_be_visible()
    page.get_by_text("sex: 12 spellings counted as 2 subgroups").click()
    sex = page.get_by_role("table", name="Grouping of sex")
    expect(sex.get_by_role("row", name="woman F sex synonym")).to_be_visible()
    page.get_by_text("site: 4 spellings counted as 2 subgroups").click()
    site = page.get_by_role("table", name="Grouping of site")
    expect(site.get_by_role("row", name="St Marys St Mary's Hospital your mapping")).to_be_visible()
    expect(page.get_by_text("Status: too small to judge (neither pass nor fail)")).to_be_visible()
    subgroups = page.get_by_role("region", name="Memorization and coverage per subgroup")
    expect(subgroups.get_by_role("row", name=re.compile(r"^sex F 30 14 0.4667 — 4.34e-10 — yes"))).to_be_visible()
    shot("representation-mapping")
    assert browser_errors == []
