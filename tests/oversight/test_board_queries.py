"""The dashboard and its export run a fixed number of queries whatever the portfolio's size
(STYLE.md, Tests): the same count at 10 and at 1,000 projects, each with rounds, outcomes,
assignments, reviews, verdicts, two audit runs and waivers.

3 queries for the request itself (session, user, the nav's unread notifications; the CSV has no
nav, so 2), then one per
figure: projects by state; first submissions and decisions per month (2); turnaround; overdue
and invited assignments, and unassigned projects (2); reviewer load (2: the reviewers, and
their counts grouped in one UNION ALL); must-change items; audits
failing in the latest run, and waivers (2). The filter form's version list adds 1 on the
page; a chosen version costs 1 more (the form looks it up).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviews.models import Project
from tests.factories import AdminFactory
from tests.oversight.worlds import bulk_world

REQUEST = 3
FIGURES = 11
DASHBOARD = REQUEST + FIGURES + 1  # + the version list of the filter form
EXPORT = REQUEST - 1 + FIGURES  # no page, no nav bell
CHOSEN_VERSION = 1


@pytest.fixture(params=[10, 1000], ids=["10-projects", "1000-projects"])
def portfolio(request, catalogue):
    bulk_world(catalogue, request.param)
    assert Project.objects.count() == request.param
    return request.param


def test_the_dashboard_runs_a_fixed_number_of_queries(client, django_assert_num_queries, portfolio):
    client.force_login(AdminFactory())
    with django_assert_num_queries(DASHBOARD):
        response = client.get(reverse("board-dashboard"))
    assert response.status_code == 200
    assert f">{portfolio}</div>" in response.content.decode()  # the projects tile counts them all


def test_the_filtered_dashboard_runs_a_fixed_number_of_queries(client, django_assert_num_queries, catalogue, portfolio):
    client.force_login(AdminFactory())
    query = {
        "version": catalogue.pk,
        "modality": "CT",
        "submitted_after": "2025-01-01",
        "submitted_before": "2026-12-31",
    }
    with django_assert_num_queries(DASHBOARD + CHOSEN_VERSION):
        response = client.get(reverse("board-dashboard"), query)
    assert response.status_code == 200 and "These filters were left out" not in response.content.decode()


def test_the_export_runs_a_fixed_number_of_queries(client, django_assert_num_queries, portfolio):
    client.force_login(AdminFactory())
    with django_assert_num_queries(EXPORT):
        response = client.get(reverse("board-export"))
    assert response.status_code == 200
    assert f"Projects by state,Draft,projects,{(portfolio + 5) // 6}," in response.content.decode()
