"""The vendored plotly partial bundle draws every chart of every audit page, in chromium, under the CSP.

plotly does not fail on a trace type it lacks: it draws the trace as an empty `scatter`. So the
test compares, chart by chart, the type of every trace the page asked for with the type plotly
drew, and looks for what each type leaves on the page (bars, pie slices, SVG points and lines,
WebGL pixels). The fidelity projection has 2,000 points per sample, enough for `scattergl`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from audits.charts.fidelity import _projection
from audits.enums import AuditName, SetRole
from tests.audits.test_pages import CT_SMALL, SYNTHETIC_NAME, _charts, add_run, add_set, make_result
from tests.factories import PASSWORD, ProjectFactory, ResearcherFactory

pytestmark = [pytest.mark.browser]

# Every trace type the chart builders emit (static/vendor/plotly/README.md).
TRACE_TYPES = {"bar", "pie", "scatter", "scattergl"}

# Before any page script: collect Content-Security-Policy violations as the browser reports them.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""

# What each chart asked for, what plotly drew, and the marks each kind of trace leaves.
DRAWN = """
() => [...document.querySelectorAll("[data-chart]")].map((element) => {
  const figure = JSON.parse(document.getElementById(element.dataset.chart).textContent);
  let glPixels = 0;
  for (const canvas of element.querySelectorAll("canvas.gl-canvas-context")) {
    const copy = document.createElement("canvas");
    copy.width = canvas.width;
    copy.height = canvas.height;
    const context = copy.getContext("2d");
    context.drawImage(canvas, 0, 0);
    const pixels = context.getImageData(0, 0, copy.width, copy.height).data;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) glPixels += 1;
  }
  return {
    chart: element.dataset.chart,
    asked: figure.data.map((trace) => trace.type || "scatter"),
    drawn: (element._fullData || []).map((trace) => trace.type),
    bars: element.querySelectorAll(".barlayer .point path").length,
    slices: element.querySelectorAll(".pielayer .slice path.surface").length,
    points: element.querySelectorAll(".scatterlayer .points path.point").length,
    lines: element.querySelectorAll(".scatterlayer path.js-line").length,
    glPixels,
    failed: element.textContent.includes("could not be drawn"),
  };
})
"""

MARKS = {"bar": "bars", "pie": "slices", "scattergl": "glPixels"}


def _cloud(rng: np.random.Generator, n: int, shift: float) -> list[list[float]]:
    return (rng.normal(size=(n, 2)) + shift).round(4).tolist()


def _results() -> dict[str, Any]:
    results = {audit: make_result(audit, "warn") for audit in AuditName.values}
    rng = np.random.default_rng(13)
    charts = _charts("fidelity")
    charts["projection"] = {
        **charts["projection"],
        "reference": _cloud(rng, 2000, 0.0),
        "synthetic": _cloud(rng, 2000, 1.5),
    }
    results["fidelity"] = {**results["fidelity"], "charts": charts}
    return results


def test_every_trace_type_draws_with_the_vendored_bundle_under_the_csp(page: Page, shot, browser_errors, catalogue):
    results = _results()
    big = _projection(results["fidelity"]["charts"]["projection"])
    assert big is not None and {trace["type"] for trace in big.figure["data"]} == {"scattergl"}
    owner = ResearcherFactory(username="rosa", full_name="Rosa Researcher")
    project = ProjectFactory(owner=owner, guideline_version=catalogue, title="Synthetic CT slices")
    add_set(project, owner, SetRole.SYNTHETIC, {SYNTHETIC_NAME: CT_SMALL.read_bytes()})
    run = add_run(project, results=results)
    page.add_init_script(WATCH_CSP)

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))

    seen: set[str] = set()
    for audit in AuditName.values:
        page.goto(f"/projects/{project.pk}/audits/runs/{run.pk}/{audit}/")
        charts = page.locator("[data-chart]")
        count = charts.count()
        assert count, f"{audit}: no chart on the page"
        expect(page.locator("body")).to_have_attribute("data-charts-drawn", "true")  # audits.js: all drawn
        for index in range(count):
            expect(charts.nth(index).locator(".main-svg").first).to_be_attached()
        assert "vendor/plotly/plotly.min.js" in page.content()
        shot(audit)
        for chart in page.evaluate(DRAWN):
            where = f"{audit} {chart['chart']}"
            assert not chart["failed"], where
            assert chart["drawn"] == chart["asked"], f"{where}: plotly drew {chart['drawn']} for {chart['asked']}"
            for kind in set(chart["asked"]):
                if kind == "scatter":
                    assert chart["points"] or chart["lines"], f"{where}: no scatter point or line"
                else:
                    assert chart[MARKS[kind]] > 0, f"{where}: nothing drawn for {kind}"
            seen.update(chart["asked"])
        assert page.evaluate("window.__cspViolations") == [], audit

    assert seen == TRACE_TYPES
    assert browser_errors == []
