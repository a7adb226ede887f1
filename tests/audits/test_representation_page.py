"""The representation page shows how each spelling was counted, and what is too small to judge.

The result is the engine's own, computed on real DICOM files with messy subgroup spellings
(tests.audits.engine.test_representation_spellings.real_set), stored on a run as the worker
stores it (no worker needed to render the page).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from audits import charts
from audits.engine import representation
from audits.enums import SetRole
from reviews.models import Project, User
from tests.audits.engine.test_representation_spellings import SEX_SPELLINGS, real_set, spelt
from tests.audits.test_pages import CT_SMALL, add_run, add_set, all_results

pytestmark = pytest.mark.django_db


def page_text(content: bytes) -> str:
    """The page as a reader sees it: tags dropped, entities decoded, white space collapsed."""
    text = re.sub(r"<script.*?</script>", " ", content.decode(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def test_the_page_shows_the_mapping_applied_and_what_is_too_small(
    tmp_path: Path, project: Project, researcher: User
) -> None:
    mapping = "attribute,value,group\nsite,St Marys,St Mary's Hospital\n"
    sites = ["St Mary's Hospital", "Leeds"] * 30
    reference = real_set(
        tmp_path,
        "reference",
        [{**row, "site": site} for row, site in zip(spelt({"F": 30, "M": 30}, SEX_SPELLINGS), sites, strict=True)],
    )
    synthetic_rows = spelt({"F": 30, "M": 30}, {"F": ["woman", "F"], "M": ["male", "M"]})
    for position, row in enumerate(synthetic_rows[:4]):  # site given for 4 of 60 synthetic images only
        row["site"] = ["St Marys", "LEEDS"][position % 2]
    synthetic = real_set(tmp_path, "synthetic", synthetic_rows, value_map=mapping)
    result = representation.run(synthetic, reference).as_dict()
    dicom = CT_SMALL.read_bytes()
    add_set(project, researcher, SetRole.SYNTHETIC, {"synthetic/a.dcm": dicom})
    add_set(project, researcher, SetRole.REFERENCE, {"reference/a.dcm": dicom})
    run = add_run(project, results={**all_results(), "representation": result})

    client = Client()
    client.force_login(researcher)
    response = client.get(
        reverse("audit-result", kwargs={"pk": project.pk, "run_pk": run.pk, "audit": "representation"})
    )
    assert response.status_code == 200
    text = page_text(response.content)
    assert "How the values were grouped" in text
    assert "sex : 12 spellings counted as 2 subgroups" in text
    assert "site : 4 spellings counted as 2 subgroups" in text
    # Spelling, group, rule, real images, synthetic images.
    assert "F F as written 5 15" in text
    assert "woman F sex synonym 5 15" in text
    assert "FEMALE F sex synonym 5 0" in text
    assert "St Marys St Mary's Hospital your mapping 0 2" in text
    assert "LEEDS Leeds case and spacing 0 2" in text
    # Four synthetic site values: shown, but too small to judge, and the missing values warn.
    assert "Status: too small to judge (neither pass nor fail)" in text
    assert "value missing for 93 % of the synthetic images" in text
    # The over/under-representation overview has no bar for what is too small to judge.
    overview = next(chart for chart in charts.figures("representation", result) if chart.key == "representation-gaps")
    labels = overview.figure["data"][0]["y"]
    assert "sex: F" in labels and not any(label.startswith("site") for label in labels)
