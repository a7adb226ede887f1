"""From upload to the memorization chart, in chromium, with a real worker computing the audits."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from audits.enums import RunStatus
from audits.models import AuditRun
from tests.audits.images import example4d, to_uint16, write_png
from tests.factories import PASSWORD, ProjectFactory, ResearcherFactory

pytestmark = [pytest.mark.browser, pytest.mark.live]


def _zip_of_slices(folder: Path, name: str, slices: list[int], *, label: bool, copy_of: int | None = None) -> Path:
    volume = example4d()[..., 0]
    archive = folder / name
    with zipfile.ZipFile(archive, "w") as bundle:
        for k in slices:
            png = write_png(folder / f"{name}-{k:02d}.png", to_uint16(volume[:, :, k]), label="xmp" if label else None)
            bundle.write(png, f"slice-{k:02d}.png")
        if copy_of is not None:  # a copy of a training slice, mirrored left-right
            png = write_png(folder / f"{name}-copy.png", to_uint16(volume[:, ::-1, copy_of]), label="xmp")
            bundle.write(png, "synthetic-copy.png")
    return archive


def _upload(page: Page, project_pk: int, role: str, archive: Path) -> None:
    page.goto(f"/projects/{project_pk}/audits/upload/")
    page.locator("select[name=role]").select_option(value=role)
    page.locator("input[type=file][name=files]").set_input_files(str(archive))
    page.get_by_role("button", name="Upload and check").click()
    # The answer is the new set's own page: the files are stored, a worker reads them.
    expect(page).to_have_url(re.compile(rf"/projects/{project_pk}/audits/sets/\d+/$"), timeout=60_000)
    expect(page.get_by_text("Upload received: 1 file. A worker is now checking and reading them")).to_be_visible()
    # The page follows the worker ("Reading files: N read, …") and shows the files once it is done.
    expect(page.get_by_role("heading", name="File manifest")).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile(r"\d+ \(\d+ accepted, 0 rejected\)"))).to_be_visible()


def test_researcher_uploads_sets_and_reads_the_memorization_chart(
    page: Page, shot, browser_errors, start_worker, tmp_path, catalogue
):
    start_worker()
    owner = ResearcherFactory(username="rosa", full_name="Rosa Researcher")
    project = ProjectFactory(owner=owner, guideline_version=catalogue, title="Synthetic EPI slices")
    reference = _zip_of_slices(tmp_path, "real.zip", list(range(0, 20, 2)), label=False)
    holdout = _zip_of_slices(tmp_path, "holdout.zip", [1, 5, 9, 13, 17, 19, 21, 23], label=False)
    synthetic = _zip_of_slices(tmp_path, "synthetic.zip", [3, 7, 11, 15], label=True, copy_of=6)

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/projects/{project.pk}/")
    page.get_by_role("link", name="Audits", exact=True).click()
    shot("audits-empty")

    _upload(page, project.pk, "reference", reference)
    shot("reference-set")
    _upload(page, project.pk, "holdout", holdout)
    _upload(page, project.pk, "synthetic", synthetic)
    shot("synthetic-set")

    run = AuditRun.objects.filter(project=project).order_by("-pk").first()
    page.goto(f"/projects/{project.pk}/audits/runs/{run.pk}/")
    # The page polls the run's status and reloads itself when the worker has finished.
    expect(page.locator("#run-status-badge")).to_contain_text("Finished", timeout=120_000)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    shot("run-finished")

    card = page.locator(".audit-card", has=page.get_by_role("heading", name="Memorization", exact=True))
    card.get_by_role("link", name=re.compile("Evidence and charts")).click()
    expect(page).to_have_url(re.compile(rf"/audits/runs/{run.pk}/memorization/$"))
    expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible(timeout=20_000)
    expect(page.get_by_text("synthetic-copy.png").first).to_be_visible()
    thumbnails = page.locator("img[src*='thumbnail.png']")
    expect(thumbnails.first).to_be_visible()
    assert thumbnails.first.evaluate("img => img.naturalWidth") > 0
    # the mirrored copy is found, named as such, and shown turned back beside its source
    pair = page.locator(".pair-card", has=page.get_by_text("synthetic-copy.png"))
    expect(pair.get_by_text("Copy mirrored left-right")).to_be_visible()
    aligned = pair.get_by_role("img", name=re.compile("turned back as the audit aligned it"))
    expect(aligned).to_be_visible()
    assert "align=flip_lr" in (aligned.get_attribute("src") or "")
    assert aligned.evaluate("img => img.complete && img.naturalWidth") > 0
    pair.scroll_into_view_if_needed()
    shot("memorization-aligned-pair")
    page.locator("[data-chart=chart-memorization-ncc]").scroll_into_view_if_needed()
    shot("memorization-chart")
    assert browser_errors == []
