"""Each page runs a fixed number of queries whatever the amount of data (STYLE.md, Tests).

The numbers are exact on purpose: a page that starts to query per row, or a template that
adds a lookup, changes them and must explain why here. Every page pays 3 fixed queries for
the request itself: session, user and the unread-notification count of the nav's bell. Permissions cost none: they are rules, decided in
Python (User.has_perm never falls through to ModelBackend's permission tables for them).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from reviews.models import Answer, Project
from reviews.services.projects import answer_save
from reviews.validators import validate_evidence_file
from tests.factories import ProjectFactory, ResearcherFactory

# + page count + the page's ids + those projects (owner joined, progress as subqueries), + the
# digest of the rows the filter bar's choices are made of (the versions; for admins also the
# checklist item codes and the reviewers of the board's filters), once the bar was rendered and
# the published version's items counted (once per process: selectors.projects.version_item_totals).
PROJECT_LIST = 7
ADMIN_PROJECT_LIST = 7
# + project, stages, answers, evidence files of those answers, items, and the latest finished
# audit run: +1 for the "computed evidence" badges of the items bound to an audit. That one
# query reads only each audit's status and summary out of the run's results JSON
# (audits.selectors.latest_results), whatever the number of items, audits or chart data;
# and +2 to know which run is current: the project's current image sets and its thresholds,
# whose digest the run must match (results of replaced images are history, not evidence).
# +1 for the items a move to a newer guideline version asked to read again (editable projects).
CHECKLIST = 12
# + the checklist's queries and the rounds, and for the owner's to-do list the latest finished
# audit run with the +2 for the current inputs' digest, as on the checklist (a failing audit
# adds the one query of its waivers; the reviews come with the round's feedback).
# +1 for the owner's notice of a newer guideline version (reviews/catalogue_notice.html).
PROJECT_DETAIL = 13
# + project, item, answer, its evidence files, previous and next item, and the latest finished
# audit run (+1, the same query as the checklist's; run on every item, bound to an audit or
# not, so that the count is the same on every answer page), with the same +2 for the
# current inputs' digest.
ANSWER_PAGE = 12
# With no answer at all, Django skips the evidence-file prefetch (there is nothing to
# attach files to), so a page without answers runs one query less. From one answer to all
# 45, each with a file, the number stays the same.
WITHOUT_ANSWERS = -1


def answer_everything(project: Project, actor, items) -> None:
    """Every item of the checklist answered, each with one evidence file."""
    for code, item in items.items():
        upload = SimpleUploadedFile(f"{code} evidence.txt", f"Evidence for {code}\n".encode())
        answer_save(
            actor=actor, project=project, item=item, status="met", justification="", evidence_text=f"Notes on {code}",
            files=[validate_evidence_file(upload)],
        )  # fmt: skip


@pytest.fixture(params=["empty", "one answered", "all answered"])
def filled_project(request, project, researcher, items):
    """The project with no answers, only EV-5 answered, or all 45 answered; each answer with a file."""
    if request.param == "one answered":
        answer_everything(project, researcher, {"EV-5": items["EV-5"]})
    if request.param == "all answered":
        answer_everything(project, researcher, items)
    return project, request.param


def expected(count: int, fill: str) -> int:
    return count + WITHOUT_ANSWERS if fill == "empty" else count


ANSWERED = {"empty": 0, "one answered": 1, "all answered": 45}


@pytest.mark.parametrize("count", [1, 30])
def test_project_list(client, django_assert_num_queries, researcher, other_researcher, items, count):
    projects = [ProjectFactory(owner=researcher, title=f"Retinal fundus synthesis {n:02d}") for n in range(count)]
    Answer.objects.bulk_create(Answer(project=p, item=items["PF-1"], status="met") for p in projects)
    ProjectFactory(owner=other_researcher, title="Someone else's secret project")
    client.force_login(researcher)
    client.get("/projects/")

    with django_assert_num_queries(PROJECT_LIST):
        response = client.get("/projects/")

    page = response.content.decode()
    assert response.status_code == 200
    for project in projects:
        assert project.title in page
    assert page.count("1 / 45 answered") == count
    assert "Someone else" not in page


@pytest.mark.parametrize("count", [1, 30])
def test_admin_project_list_with_many_owners(client, django_assert_num_queries, admin_user, catalogue, count):
    owners = [ResearcherFactory(full_name=f"Researcher Number {n:02d}") for n in range(count)]
    projects = [ProjectFactory(owner=owner, title=f"Owned by {owner.full_name}") for owner in owners]
    client.force_login(admin_user)
    client.get("/projects/")

    with django_assert_num_queries(ADMIN_PROJECT_LIST):
        response = client.get("/projects/")

    page = response.content.decode()
    assert "All projects" in page
    for project, owner in zip(projects, owners, strict=True):
        assert f"Owned by {owner.full_name}" in page
        assert f'<td data-label="Researcher">{owner.full_name}</td>' in page
        assert project.get_absolute_url() in page


def test_checklist_page(client, django_assert_num_queries, researcher, filled_project):
    project, fill = filled_project
    client.force_login(researcher)

    with django_assert_num_queries(expected(CHECKLIST, fill)):
        response = client.get(f"/projects/{project.pk}/checklist/")

    page = response.content.decode()
    answered = ANSWERED[fill]
    assert f'{answered} <span class="text-muted h6">/ 45</span>' in page
    assert page.count('<span class="badge text-bg-success">Met</span>') == answered
    assert page.count("bi-paperclip") == answered
    assert page.count('id="item-') == 45


def test_project_detail_page(client, django_assert_num_queries, researcher, filled_project):
    project, fill = filled_project
    client.force_login(researcher)

    with django_assert_num_queries(expected(PROJECT_DETAIL, fill)):
        response = client.get(f"/projects/{project.pk}/")

    page = response.content.decode()
    answered = ANSWERED[fill]
    assert f"<strong>{answered}</strong> of 45 items answered" in page
    assert project.summary in page


def test_answer_page(client, django_assert_num_queries, researcher, filled_project):
    project, fill = filled_project
    client.force_login(researcher)

    with django_assert_num_queries(expected(ANSWER_PAGE, fill)):
        response = client.get(f"/projects/{project.pk}/checklist/EV-5/")

    page = response.content.decode()
    assert "&larr; EV-4" in page
    assert "EV-6 &rarr;" in page
    answered = fill != "empty"
    assert ("EV-5 evidence.txt" in page) == answered
    assert ("Notes on EV-5" in page) == answered
    assert ("No files attached." in page) == (not answered)


def test_project_list_shows_the_most_recently_updated_first(client, researcher, catalogue):
    """The list is paginated, so it needs a fixed order, or a project can appear on two pages and
    another on none."""
    first, second, third = (ProjectFactory(owner=researcher, title=f"Ordered project {n}") for n in "ABC")
    now = timezone.now()
    for project, age in ((first, 0), (second, 2), (third, 1)):
        Project.objects.filter(pk=project.pk).update(updated_at=now - timedelta(hours=age))
    client.force_login(researcher)

    page = client.get("/projects/").content.decode()

    shown = sorted((first.title, second.title, third.title), key=page.index)
    assert shown == ["Ordered project A", "Ordered project C", "Ordered project B"]
