"""plotly (1.7 MB, 4.8 MB before the partial bundle) is loaded only by pages that draw a chart."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audits.enums import RunStatus, SetRole
from audits.selectors import AUDITS
from tests.audits.test_pages import CT_SMALL, SYNTHETIC_NAME, add_run, add_set, make_result

pytestmark = pytest.mark.django_db


def test_plotly_loads_only_where_a_chart_is_drawn(client, project, researcher) -> None:
    synthetic = add_set(project, researcher, SetRole.SYNTHETIC, {SYNTHETIC_NAME: CT_SMALL.read_bytes()})
    results = {audit: make_result(audit, "pass") for audit in AUDITS}
    results["privacy"] = make_result("privacy", "not_computable")  # no chart to draw
    run = add_run(project, results=results)
    add_run(project, status=RunStatus.RUNNING, results=None, progress=10)
    client.force_login(researcher)
    without = {
        "overview": reverse("audits-overview", kwargs={"pk": project.pk}),
        "run": run.get_absolute_url(),
        "set": reverse("imageset-detail", kwargs={"pk": project.pk, "set_pk": synthetic.pk}),
        "upload": reverse("imageset-upload", kwargs={"pk": project.pk}),
        "thresholds": reverse("audit-thresholds", kwargs={"pk": project.pk}),
        "not computable": f"{run.get_absolute_url()}privacy/",
        "project": reverse("project-detail", kwargs={"pk": project.pk}),
        "checklist": reverse("project-checklist", kwargs={"pk": project.pk}),
    }
    for name, url in without.items():
        page = client.get(url).content.decode()
        assert "plotly" not in page, name
    chart_page = client.get(f"{run.get_absolute_url()}memorization/").content.decode()
    assert "vendor/plotly/plotly.min.js" in chart_page and 'class="audit-chart"' in chart_page
