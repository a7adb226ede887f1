"""Lists that do not grow with the data (issue 13): each list pages bare project ids first and reads
only the shown rows with their counts, so its queries are the same at 12 and at 48 projects, and
no query joins the answers or groups by project; the sorts and the counts stay right.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from reviews.enums import AnswerStatus
from reviews.models import Answer, Assignment, GuidelineItem, GuidelineVersion, Project, Round, User
from tests.api.client import api_client
from tests.oversight.worlds import bulk_world
from tests.reviews.test_lists import client_of, listed

# Every project list and dashboard, as (who, url); "token" is the administrator's API token.
PAGES = [
    ("admin", "/"),
    ("admin", "/projects/"),
    ("admin", "/projects/?sort=status"),
    ("admin", "/projects/?sort=-title"),
    ("admin", "/projects/?sort=-submitted"),
    ("admin", "/projects/?q=bulk&modality=CT&status=approved&status=submitted"),
    ("admin", "/projects/?overdue=1&sort=submitted"),
    ("admin", "/reviews/all/"),
    # The unfiltered board is a snapshot (tests/oversight/test_board_snapshot.py counts its
    # queries); a filtered board is counted live, every figure as one query whatever the size.
    ("admin", "/board/?modality=CT"),
    ("researcher", "/"),
    ("researcher", "/projects/"),
    ("reviewer", "/projects/"),
    ("token", "/api/v1/projects/"),
    ("token", "/api/v1/projects/?sort=status&page_size=5"),
]
# The project lists and the home page: no GROUP BY anywhere (the board's figures do group).
PROJECT_PAGES = [page for page in PAGES if "/reviews/all/" not in page[1] and "/board/" not in page[1]]


def grow(catalogue: GuidelineVersion, researcher: User, reviewer: User, n: int) -> None:
    """n more projects of every kind (rounds, outcomes, assignments, reviews, audit runs, waivers),
    all the researcher's, every third with the reviewer on it, each with three answers, one of
    them blank (saved but not answered)."""
    before = set(Project.objects.values_list("pk", flat=True))
    bulk_world(catalogue, n)
    added = Project.objects.exclude(pk__in=before)
    added.update(owner=researcher)
    items = list(GuidelineItem.objects.filter(version=catalogue).order_by("stage__order", "order")[:3])
    statuses = [AnswerStatus.MET, AnswerStatus.MET, ""]
    Answer.objects.bulk_create(
        Answer(project=project, item=item, status=status, evidence_text="See the protocol.")
        for project in added
        for item, status in zip(items, statuses, strict=True)
    )
    Assignment.objects.filter(project__in=list(added.order_by("pk")[::3])).update(reviewer=reviewer)


def clients(admin: User, researcher: User, reviewer: User) -> dict[str, Any]:
    return {
        "admin": client_of(admin),
        "researcher": client_of(researcher),
        "reviewer": client_of(reviewer),
        "token": api_client(admin),
    }


def queries_of(client: Client, url: str) -> list[str]:
    """The page's queries, without the API token's last-use write (made at most once a minute,
    so whether it falls in a request depends on the clock, not on the list)."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return [query["sql"] for query in captured.captured_queries if not query["sql"].startswith('UPDATE "api_apitoken"')]


@pytest.fixture
def people(researcher, admin_user, reviewer) -> dict[str, User]:
    return {"admin": admin_user, "researcher": researcher, "reviewer": reviewer}


def test_every_list_runs_the_same_queries_at_12_and_48_projects(catalogue, people):
    browsers = clients(people["admin"], people["researcher"], people["reviewer"])
    grow(catalogue, people["researcher"], people["reviewer"], 12)
    # Every HTML project list shows rows already (an empty list skips the rows and the filter bar).
    assert all(listed(browsers[who].get(url)) for who, url in PAGES if url.startswith("/projects/"))
    for who, url in PAGES:  # each filter bar rendered once for these choices (see below)
        browsers[who].get(url)
    small = {page: len(queries_of(browsers[page[0]], page[1])) for page in PAGES}
    grow(catalogue, people["researcher"], people["reviewer"], 36)
    # Once more before counting: the new reviewers change the filter bar's choices, which the
    # first request after reads to render the bar again (tests/reviews/test_filter_copies.py).
    for who, url in PAGES:
        browsers[who].get(url)
    large = {page: len(queries_of(browsers[page[0]], page[1])) for page in PAGES}
    assert Project.objects.count() == 48
    assert {page: large[page] - small[page] for page in PAGES if large[page] != small[page]} == {}


@pytest.mark.parametrize(("who", "url"), PROJECT_PAGES)
def test_no_project_list_query_joins_or_groups_the_answers(catalogue, people, who, url):
    grow(catalogue, people["researcher"], people["reviewer"], 30)
    sql = queries_of(clients(people["admin"], people["researcher"], people["reviewer"])[who], url)
    assert [query for query in sql if "GROUP BY" in query] == []
    assert [query for query in sql if 'JOIN "reviews_answer"' in query] == []
    # The one query that reads answers counts them for the shown rows only, named by their ids.
    reading = [query for query in sql if '"reviews_answer"' in query]
    assert len(reading) == 1
    assert re.search(r'"reviews_project"\."id" IN \(\d+(, \d+)*\)', reading[0])


@pytest.mark.parametrize("who", ["admin", "token"])
def test_the_ids_of_a_page_are_chosen_on_bare_project_rows(catalogue, people, who):
    """The query that picks a page (filters, order, LIMIT) reads the projects table alone."""
    grow(catalogue, people["researcher"], people["reviewer"], 12)
    url = "/projects/" if who == "admin" else "/api/v1/projects/"
    sql = queries_of(clients(people["admin"], people["researcher"], people["reviewer"])[who], url)
    picking = [
        query for query in sql if re.match(r'SELECT "reviews_project"\."id"( AS "\w+")? FROM "reviews_project"', query)
    ]
    assert len(picking) == 1
    assert "JOIN" not in picking[0] and "LIMIT" in picking[0]


def _expected_order(key: Any, reverse: bool = False) -> list[str]:
    projects = list(Project.objects.all())
    return [p.title for p in sorted(projects, key=key, reverse=reverse)]


def test_sorts_and_counts_stay_right_across_pages(catalogue, people):
    grow(catalogue, people["researcher"], people["reviewer"], 60)
    admin = client_of(people["admin"])
    first_round = {r.project_id: r.submitted_at for r in Round.objects.filter(number=1)}
    by_title = _expected_order(lambda p: (p.title.lower(), p.pk))
    shown = listed(admin.get("/projects/?sort=title")) + listed(admin.get("/projects/?sort=title&page=2"))
    assert shown == by_title
    newest_first = _expected_order(lambda p: (first_round.get(p.pk) is not None, first_round.get(p.pk), p.pk), True)
    shown = listed(admin.get("/projects/?sort=-submitted")) + listed(admin.get("/projects/?sort=-submitted&page=2"))
    assert shown == newest_first  # drafts (never submitted) last
    page = admin.get("/projects/?sort=title").content.decode()
    # Three answers each, one saved blank: 2 of the version's items answered; a draft has no round.
    total = GuidelineItem.objects.filter(version=catalogue).count()
    assert page.count(f"2 / {total} answered") == 50
    draft = Project.objects.filter(status="draft").order_by("title").first()
    assert draft is not None
    row = page.split(f">{draft.title}</a>", 1)[1].split("</tr>", 1)[0]
    assert 'data-label="Rounds">0<' in row and "not yet" in row


def test_the_api_list_pages_in_order_with_the_counts(catalogue, people):
    grow(catalogue, people["researcher"], people["reviewer"], 12)
    client = api_client(people["admin"])
    first = client.get("/api/v1/projects/?sort=title&page_size=5").json()
    second = client.get("/api/v1/projects/?sort=title&page_size=5&page=2").json()
    assert first["count"] == 12
    titles = [row["title"] for row in first["results"] + second["results"]]
    assert titles == _expected_order(lambda p: (p.title.lower(), p.pk))[:10]
    rounds = {p.title: p.rounds.count() for p in Project.objects.prefetch_related("rounds")}
    for row in first["results"]:
        assert row["progress"]["answered"] == 2
        assert row["rounds"] == rounds[row["title"]]


def test_home_shows_the_five_latest_changed_projects_with_their_progress(catalogue, people):
    grow(catalogue, people["researcher"], people["reviewer"], 12)
    page = client_of(people["researcher"]).get("/").content.decode()
    newest = list(Project.objects.order_by("-updated_at", "-pk")[:5])
    positions = [page.index(f">{project.title}</a>") for project in newest]
    assert positions == sorted(positions)
    for project in Project.objects.exclude(pk__in=[p.pk for p in newest]):
        assert f">{project.title}</a>" not in page


def test_the_filter_bar_shows_the_reviewers_as_they_are_now(admin_user, reviewer, project):
    """The bar's fields are rendered once per state and kept (reviews.templatetags.filter_bar):
    a renamed reviewer, and a value or an error given in the URL, show on the next request,
    never the HTML kept from before."""
    client = client_of(admin_user)
    first = client.get("/projects/").content.decode()
    before = str(reviewer)
    assert f'<option value="{reviewer.pk}">{reviewer}</option>' in first
    reviewer.full_name = "Renamed Reviewer"
    reviewer.save(update_fields=["full_name"])
    page = client.get("/projects/").content.decode()
    reviewer.refresh_from_db()
    assert f'<option value="{reviewer.pk}">{reviewer}</option>' in page
    assert str(reviewer) != before and f">{before}</option>" not in page
    chosen = client.get(f"/projects/?reviewer={reviewer.pk}").content.decode()
    assert f'<option value="{reviewer.pk}" selected>{reviewer}</option>' in chosen
    assert f'<option value="{reviewer.pk}" selected>' not in client.get("/projects/").content.decode()
    wrong = client.get("/projects/?submitted_after=not-a-date").content.decode()
    assert 'name="submitted_after" value="not-a-date"' in wrong
    assert "is-invalid" in wrong
