"""The round diff page leads with what changed in words; the metric table waits behind a
disclosure, each metric named in words with its code in the tooltip."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from reviews.enums import AnswerStatus, Meaning, Verdict
from reviews.models import GuidelineItem, Round
from reviews.services.projects import answer_save, project_submit
from tests.reviews.test_review_views import add_run
from tests.workflow import answer_everything, review, reviewers_on, sign


def test_the_diff_says_which_answers_and_verdicts_changed_before_any_figure(project, admin_user):
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
    assert Round.objects.filter(project=project).count() == 2

    client = Client()
    client.force_login(clinical)
    page = client.get(reverse("round-diff", kwargs={"pk": project.pk, "number": 2})).content.decode()

    summary = page[page.index('id="summary-heading"') : page.index("</section>", page.index('id="summary-heading"'))]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", summary))
    assert "EV-5" in text and "answer: Met → Partly met; justification rewritten; evidence text rewritten" in text
    assert "Audit verdict changed: Memorization: fail → pass." in text
    assert "synthetic set replaced" in text
    # Words first: the summary comes before the figures, which wait behind a disclosure.
    assert page.index('id="summary-heading"') < page.index("metric-table")
    details = page[
        page.index('<details class="metric-details">') : page.index("</details>", page.index("metric-details"))
    ]
    assert "metric-table" in details
    assert '<span class="metric-name" title="frac_probable_copies: Share of the synthetic images' in details
    assert ">Share of synthetic images over the copy threshold</span>" in details
