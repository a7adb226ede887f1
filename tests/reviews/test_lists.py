"""Search, filters, sort orders and pages of the project, account and review lists (issue 11, point 2).

Each filter is checked against a small portfolio whose answer is known project by project: the
expected titles are exact, so a filter that were ignored would list the others too.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import factory
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.enums import RunStatus
from audits.models import AuditRun
from reviews.enums import AssignmentStatus, ExpertiseKind, Modality, ProjectStatus, SynthesisTask, Verdict
from reviews.models import (
    Assignment,
    AuditWaiver,
    GuidelineItem,
    GuidelineVersion,
    ItemReview,
    Project,
    Round,
    RoundReview,
    User,
)
from tests.factories import AdminFactory, ProjectFactory, ResearcherFactory, ReviewerFactory


def client_of(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def text_of(response: Any) -> str:
    return response.content.decode()


def listed(response: Any, table: str = "project-table") -> list[str]:
    """The titles in the list's table, in order (the first link of each row)."""
    page = text_of(response)
    if f'id="{table}"' not in page:
        return []
    body = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    rows = body.split("<tbody>", 1)[1].split("<tr")[1:]
    return [html.unescape(re.search(r'<a href="[^"]*">([^<]+)</a>', row).group(1)) for row in rows]  # type: ignore[union-attr]


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


@dataclass
class Portfolio:
    admin: User
    rosa: User  # owns Alpha, Bravo, Charlie, Foxtrot
    quentin: User  # owns Delta, Echo
    reviewer_a: User
    reviewer_b: User
    projects: dict[str, Project]
    version_99: GuidelineVersion


def _round(project: Project, submitted: str, number: int = 1) -> Round:
    return Round.objects.create(
        project=project,
        number=number,
        guideline_version=project.guideline_version,
        canonical_json="{}",
        digest="0" * 64,
        submitted_by=project.owner,
        submitted_at=at(submitted),
    )


def _run(project: Project, number: int, status: str, privacy: str | None) -> AuditRun:
    results = {"privacy": {"status": privacy, "summary": "s"}} if privacy else None
    return AuditRun.objects.create(
        project=project,
        number=number,
        status=status,
        reason="test",
        input_digest="0" * 64,
        results=results,
        error="worker died" if status == RunStatus.FAILED else "",
    )


def _assign(project: Project, reviewer: User, admin: User, status: str, due_in_days: int) -> Assignment:
    return Assignment.objects.create(
        project=project,
        reviewer=reviewer,
        assigned_by=admin,
        due_date=timezone.localdate() + timedelta(days=due_in_days),
        status=status,
        removed_reason="moved on" if status == AssignmentStatus.REMOVED else "",
    )


@pytest.fixture
def portfolio(catalogue) -> Portfolio:
    admin = AdminFactory(full_name="Ada Admin")
    rosa = ResearcherFactory(full_name="Rosa Researcher", username="rosa")
    quentin = ResearcherFactory(full_name="Quentin Quill", username="quill")
    reviewer_a = ReviewerFactory(full_name="Anna Technical", expertise=ExpertiseKind.TECHNICAL)
    reviewer_b = ReviewerFactory(full_name="Boris Ethics", expertise=ExpertiseKind.ETHICS)
    version_99 = GuidelineVersion.objects.create(guideline_set=catalogue.guideline_set, number=99)

    def make(title: str, owner: User, status: str, modalities: list[str], task: str, **extra: Any) -> Project:
        project = ProjectFactory(
            title=title, owner=owner, modalities=modalities, synthesis_task=task, guideline_version=catalogue, **extra
        )
        Project.objects.filter(pk=project.pk).update(status=status)
        project.refresh_from_db()
        return project

    alpha = make("Alpha liver CT", rosa, ProjectStatus.DRAFT, [Modality.CT], SynthesisTask.IMAGE_TO_IMAGE)
    bravo = make("Bravo knee MRI", rosa, ProjectStatus.SUBMITTED, [Modality.MR], SynthesisTask.AUGMENTATION)
    charlie = make(
        "Charlie chest films", rosa, ProjectStatus.IN_REVIEW, [Modality.XRAY, Modality.MR], SynthesisTask.AUGMENTATION
    )
    delta = make("Delta echo sharpening", quentin, ProjectStatus.SUBMITTED, [Modality.ULTRASOUND], "super_resolution")
    # Its summary names CT, but CT is not among its modalities.
    echo = make(
        "Echo PET tracers",
        quentin,
        ProjectStatus.APPROVED,
        [Modality.PET],
        SynthesisTask.PRIVACY_SHARING,
        summary="Compared with CT.",
    )
    foxtrot = make("Foxtrot text prompts", rosa, ProjectStatus.DRAFT, [Modality.CT], SynthesisTask.TEXT_TO_IMAGE)
    Project.objects.filter(pk=foxtrot.pk).update(guideline_version=version_99)

    bravo_round = _round(bravo, "2026-01-15")
    charlie_round = _round(charlie, "2026-02-20")
    delta_round = _round(delta, "2026-03-05")
    echo_round = _round(echo, "2025-12-01")
    _round(echo, "2026-03-30", number=2)  # a later round: the filter is on the first submission

    _assign(bravo, reviewer_a, admin, AssignmentStatus.ACCEPTED, due_in_days=-3)  # overdue
    _assign(charlie, reviewer_b, admin, AssignmentStatus.INVITED, due_in_days=10)  # an open invitation
    _assign(delta, reviewer_b, admin, AssignmentStatus.REMOVED, due_in_days=-3)  # no longer held: unassigned
    _assign(echo, reviewer_a, admin, AssignmentStatus.ACCEPTED, due_in_days=-30)  # late, but the project is decided

    RoundReview.objects.create(round=bravo_round, reviewer=reviewer_a, submitted_at=at("2026-01-20"))
    ev1 = GuidelineItem.objects.get(version=catalogue, code="EV-1")
    submitted = RoundReview.objects.create(round=echo_round, reviewer=reviewer_a, submitted_at=timezone.now())
    ItemReview.objects.create(review=submitted, item=ev1, verdict=Verdict.MUST_CHANGE, comment="Phase overstated.")
    # A review not yet submitted counts for nothing.
    draft = RoundReview.objects.create(round=charlie_round, reviewer=reviewer_b)
    ItemReview.objects.create(review=draft, item=ev1, verdict=Verdict.MUST_CHANGE, comment="Draft thought.")
    AuditWaiver.objects.create(
        round=echo_round, audit="privacy", audit_status="fail", reason="Checked by hand.", waived_by=reviewer_a
    )
    # Latest succeeded run decides: Echo fails privacy; Delta failed once but passes now; Bravo's
    # newest run failed as a job, so its latest succeeded run (a pass) counts.
    _run(echo, 1, RunStatus.SUCCEEDED, "fail")
    _run(delta, 1, RunStatus.SUCCEEDED, "fail")
    _run(delta, 2, RunStatus.SUCCEEDED, "pass")
    _run(bravo, 1, RunStatus.SUCCEEDED, "pass")
    _run(bravo, 2, RunStatus.FAILED, None)
    del delta_round
    projects = {p.title.split()[0]: p for p in (alpha, bravo, charlie, delta, echo, foxtrot)}
    return Portfolio(admin, rosa, quentin, reviewer_a, reviewer_b, projects, version_99)


def titles(response: Any) -> set[str]:
    return {title.split()[0] for title in listed(response)}


# ---- each filter narrows the project list ------------------------------------------------------


FILTERS = [
    ("q-title", "q=alpha", {"Alpha"}),
    ("q-summary", "q=compared", {"Echo"}),
    ("q-owner-name", "q=quentin", {"Delta", "Echo"}),
    ("q-owner-username", "q=quill", {"Delta", "Echo"}),
    ("q-two-words", "q=chest+films", {"Charlie"}),
    ("status-one", "status=submitted", {"Bravo", "Delta"}),
    ("status-two", "status=submitted&status=approved", {"Bravo", "Delta", "Echo"}),
    ("modality-ct", "modality=CT", {"Alpha", "Foxtrot"}),
    ("modality-mr", "modality=MR", {"Bravo", "Charlie"}),
    ("task", "task=super_resolution", {"Delta"}),
    ("submitted-after", "submitted_after=2026-02-01", {"Charlie", "Delta"}),
    ("submitted-before", "submitted_before=2026-01-15", {"Bravo", "Echo"}),
    ("submitted-between", "submitted_after=2026-01-01&submitted_before=2026-02-28", {"Bravo", "Charlie"}),
    ("must-change", "must_change=EV-1", {"Echo"}),
    ("audit-fail", "audit=privacy&audit_status=fail", {"Echo"}),
    ("audit-pass", "audit=privacy&audit_status=pass", {"Bravo", "Delta"}),
    ("waived", "waived=privacy", {"Echo"}),
    ("overdue", "overdue=1", {"Bravo"}),
    ("unassigned", "unassigned=1", {"Delta"}),
    ("invited", "invited=1", {"Charlie"}),
    ("combined", "modality=MR&status=in_review", {"Charlie"}),
]


@pytest.mark.parametrize(("query", "expected"), [(q, e) for _id, q, e in FILTERS], ids=[i for i, _q, _e in FILTERS])
def test_each_filter_lists_exactly_the_matching_projects(portfolio, query, expected):
    response = client_of(portfolio.admin).get(f"{reverse('project-list')}?{query}")

    assert response.status_code == 200
    assert titles(response) == expected
    assert f'<strong class="text-body">{len(expected)}</strong> of 6 projects shown' in text_of(response)


def test_without_filters_the_admin_lists_every_project_newest_change_first(portfolio):
    now = timezone.now()
    for age, name in enumerate(["Charlie", "Alpha", "Foxtrot", "Echo", "Bravo", "Delta"]):
        Project.objects.filter(pk=portfolio.projects[name].pk).update(updated_at=now - timedelta(hours=age))

    response = client_of(portfolio.admin).get(reverse("project-list"))

    assert [t.split()[0] for t in listed(response)] == ["Charlie", "Alpha", "Foxtrot", "Echo", "Bravo", "Delta"]
    assert '<strong class="text-body">6</strong> of 6 projects shown' in text_of(response)


def test_the_reviewer_filter_lists_projects_where_the_reviewer_holds_a_place(portfolio):
    admin = client_of(portfolio.admin)
    url = reverse("project-list")

    assert titles(admin.get(f"{url}?reviewer={portfolio.reviewer_a.pk}")) == {"Bravo", "Echo"}
    assert titles(admin.get(f"{url}?reviewer={portfolio.reviewer_b.pk}")) == {"Charlie"}  # Delta's was removed


def test_the_version_filter(portfolio):
    response = client_of(portfolio.admin).get(f"{reverse('project-list')}?version={portfolio.version_99.pk}")

    assert titles(response) == {"Foxtrot"}
    assert "Guideline version: " in text_of(response)


def test_the_first_submission_is_a_column(portfolio):
    page = text_of(client_of(portfolio.admin).get(f"{reverse('project-list')}?q=echo"))

    assert "First submitted (UTC)" in page
    assert "2025-12-01" in page  # round 1, not round 2's 2026-03-30
    assert "2026-03-30" not in page


# ---- filters never widen what a user sees ------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["", "q=echo", "status=approved", "modality=PT", "reviewer=REVIEWER_A", "unassigned=1", "must_change=EV-1"],
    ids=["none", "search-other", "status", "modality", "admin-reviewer", "admin-unassigned", "must-change"],
)
def test_a_researcher_never_sees_another_researchers_project(portfolio, query):
    query = query.replace("REVIEWER_A", str(portfolio.reviewer_a.pk))
    response = client_of(portfolio.rosa).get(f"{reverse('project-list')}?{query}")

    assert response.status_code == 200
    assert titles(response) <= {"Alpha", "Bravo", "Charlie", "Foxtrot"}
    for secret in ("Delta echo", "Echo PET"):
        assert secret not in text_of(response)


def test_admin_only_filters_are_neither_shown_nor_applied_for_a_researcher(portfolio):
    url = reverse("project-list")
    rosa = client_of(portfolio.rosa)

    # Ignored: the researcher's own four projects, as without the parameters.
    response = rosa.get(f"{url}?unassigned=1&overdue=1&invited=1&reviewer={portfolio.reviewer_b.pk}")
    assert titles(response) == {"Alpha", "Bravo", "Charlie", "Foxtrot"}
    page = text_of(response)
    for name in ("reviewer", "overdue", "unassigned", "invited", "must_change", "audit", "audit_status", "waived"):
        assert f'name="{name}"' not in page
    assert 'name="reviewer"' in text_of(client_of(portfolio.admin).get(url))


@pytest.mark.parametrize(
    "query",
    ["must_change=EV-1", "audit=privacy&audit_status=fail", "audit=privacy&audit_status=pass", "waived=privacy"],
)
def test_what_reviewers_found_is_no_filter_for_owners_and_reviewers(portfolio, query):
    """Verdicts, audit results and waivers answer only the board: an owner or a reviewer who may
    not read them yet (or an invited one, who never may) learns nothing by filtering on them."""
    url = reverse("project-list")
    for user in (portfolio.rosa, portfolio.reviewer_a, portfolio.reviewer_b):
        client = client_of(user)
        assert titles(client.get(f"{url}?{query}")) == titles(client.get(url)), user


def test_a_reviewer_lists_only_projects_they_were_invited_to_or_accepted(portfolio):
    url = reverse("project-list")
    anna, boris = client_of(portfolio.reviewer_a), client_of(portfolio.reviewer_b)

    assert titles(anna.get(url)) == {"Bravo", "Echo"}
    assert titles(anna.get(f"{url}?q=charlie")) == set()
    assert titles(anna.get(f"{url}?status=in_review")) == set()
    assert titles(boris.get(url)) == {"Charlie"}  # Delta's assignment was removed
    assert titles(boris.get(f"{url}?q=delta")) == set()


# ---- sort orders -------------------------------------------------------------------------------


SORTS = [
    ("title", ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"]),
    ("-title", ["Foxtrot", "Echo", "Delta", "Charlie", "Bravo", "Alpha"]),
    ("submitted", ["Echo", "Bravo", "Charlie", "Delta", "Alpha", "Foxtrot"]),  # drafts last
    ("-submitted", ["Delta", "Charlie", "Bravo", "Echo", "Foxtrot", "Alpha"]),  # drafts last, newest first
    ("status", ["Foxtrot", "Alpha", "Delta", "Bravo", "Charlie", "Echo"]),  # lifecycle, newest change first within
    ("-status", ["Echo", "Charlie", "Delta", "Bravo", "Foxtrot", "Alpha"]),
    ("updated", ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"]),
    ("-updated", ["Foxtrot", "Echo", "Delta", "Charlie", "Bravo", "Alpha"]),
]


@pytest.mark.parametrize(("sort", "expected"), SORTS, ids=[s for s, _e in SORTS])
def test_sort_orders(portfolio, sort, expected):
    start = timezone.now() - timedelta(days=1)
    for hours, name in enumerate(["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"]):
        Project.objects.filter(pk=portfolio.projects[name].pk).update(updated_at=start + timedelta(hours=hours))

    response = client_of(portfolio.admin).get(f"{reverse('project-list')}?sort={sort}")

    assert [t.split()[0] for t in listed(response)] == expected


# ---- pages -------------------------------------------------------------------------------------


def _hrefs(page: str, rel: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(rf'href="([^"]*)" rel="{rel}"', page)]


def test_page_links_keep_the_filters_and_absurd_pages_show_the_last(researcher, other_researcher, catalogue):
    ProjectFactory.create_batch(55, owner=researcher, title=factory_title("Kidney"), guideline_version=catalogue)
    ProjectFactory.create_batch(3, owner=researcher, title=factory_title("Liver"), guideline_version=catalogue)
    ProjectFactory(owner=other_researcher, title="Kidney of someone else", guideline_version=catalogue)
    client = client_of(researcher)
    url = reverse("project-list")

    first = text_of(client.get(f"{url}?q=kidney&sort=title"))
    assert '<strong class="text-body">55</strong> of 58 projects shown' in first
    (next_link,) = _hrefs(first, "next")
    params = parse_qs(urlsplit(next_link).query)
    assert params == {"q": ["kidney"], "sort": ["title"], "page": ["2"]}

    second = client.get(f"{url}{next_link}")
    names = listed(second)
    assert len(names) == 5 and all(name.startswith("Kidney") for name in names)
    assert "Page 2 of 2" in text_of(second)
    assert parse_qs(urlsplit(_hrefs(text_of(second), "prev")[0]).query) == {
        "q": ["kidney"],
        "sort": ["title"],
        "page": ["1"],
    }

    assert listed(client.get(f"{url}?q=kidney&sort=title&page=999999")) == names
    assert listed(client.get(f"{url}?q=kidney&sort=title&page=-3")) == names
    assert len(listed(client.get(f"{url}?q=kidney&page=abc"))) == 50


def factory_title(prefix: str) -> Any:
    return factory.Sequence(lambda n: f"{prefix} study {n:03d}")


# ---- bad values --------------------------------------------------------------------------------


BAD = [
    ("date", "submitted_after=yesterday", "Submitted from"),
    ("date-order", "submitted_after=2026-03-01&submitted_before=2026-01-01", "Submitted until"),
    ("sort", "sort=price", "Sort by"),
    ("status", "status=lost", "Status"),
    ("version", "version=999999999", "Guideline version"),
    ("version-text", "version=%27%3B--", "Guideline version"),
    ("modality", "modality=%3Cscript%3E", "Modality"),
    ("must-change", "must_change=ZZ-99", "must change"),
    ("audit-alone", "audit=privacy", "Latest audit result"),
    ("status-alone", "audit_status=fail", "Audit"),
    ("audit-unknown", "audit=horoscope&audit_status=fail", "Audit"),
    ("reviewer", "reviewer=abc", "Reviewer"),
    ("search-too-long", "q=" + "x" * 300, "Search"),
    ("huge-number", "version=99999999999999999999999", "Guideline version"),
    ("huge-reviewer", "reviewer=99999999999999999999999", "Reviewer"),
]


@pytest.mark.parametrize(("query", "field"), [(q, f) for _i, q, f in BAD], ids=[i for i, _q, _f in BAD])
def test_a_bad_value_lists_nothing_and_names_the_field(portfolio, query, field):
    response = client_of(portfolio.admin).get(f"{reverse('project-list')}?{query}")

    assert response.status_code == 200
    page = text_of(response)
    errors = page.split('id="filter-errors"', 1)[1].split("</div>", 1)[0]
    assert field in html.unescape(errors)
    assert listed(response) == []
    assert "<script>" not in page.split('id="filter-errors"', 1)[1]


def test_a_valid_filter_beside_a_bad_one_keeps_its_value_in_the_form(portfolio):
    page = text_of(client_of(portfolio.admin).get(f"{reverse('project-list')}?q=bravo&submitted_after=31-12-2025"))

    assert 'value="bravo"' in page
    assert "Enter a valid date." in page
    assert "You gave “31-12-2025”" in page


def test_the_empty_state_names_the_filters_that_removed_everything(portfolio):
    response = client_of(portfolio.admin).get(f"{reverse('project-list')}?modality=CT&status=approved")

    page = html.unescape(text_of(response))
    empty = page.split('id="empty-filtered"', 1)[1].split("</div>", 1)[0]
    assert "Modality: CT" in empty and "Status: Approved" in empty
    assert listed(response) == []
    # Each filter in use links to the list without it.
    chips = re.findall(r'class="badge rounded-pill[^"]*active-filter" href="([^"]*)"', text_of(response))
    assert sorted(html.unescape(c) for c in chips) == ["?modality=CT", "?status=approved"]


# ---- a fixed number of queries -----------------------------------------------------------------

# session, user, the nav's unread count; the digest of the rows the filter bar's choices are made
# of (guideline versions; for admins also the item codes and reviewers of the board's filters: one
# query, the fields' rendering kept per process under it, tests/reviews/test_filter_copies.py); the
# page count; the page's ids (filters and order on bare project rows); the page's rows by those
# ids with their progress counts as subqueries of each row (no join on answers, no GROUP BY).
# Counted once the bar was rendered in this state (a first request reads the choices too) and the
# published version's items were counted (once per process: selectors.projects.version_item_totals).
RESEARCHER_PROJECT_LIST = 7
ADMIN_PROJECT_LIST = 7
# A filter in use adds the count of everything visible (the "N of M shown").
FILTERED = 1


def _many_projects(owner: User, count: int, version: GuidelineVersion) -> None:
    Project.objects.bulk_create(
        Project(
            owner=owner,
            title=f"Bulk study {n:03d}",
            summary="s",
            synthesis_task=SynthesisTask.AUGMENTATION,
            modalities=[Modality.CT if n % 2 else Modality.MR],
            generator_family="gan",
            intended_use="u",
            prohibited_uses="p",
            data_sources="d",
            guideline_version=version,
        )
        for n in range(count)
    )


@pytest.mark.parametrize("count", [10, 200])
@pytest.mark.parametrize("query", ["", "?modality=CT&sort=-submitted&q=bulk"], ids=["plain", "filtered"])
def test_the_project_list_runs_a_fixed_number_of_queries(
    django_assert_num_queries, researcher, admin_user, catalogue, count, query
):
    _many_projects(researcher, count, catalogue)
    extra = FILTERED if query else 0
    shown = min(50, count // 2 if query else count)
    for user, expected in ((researcher, RESEARCHER_PROJECT_LIST), (admin_user, ADMIN_PROJECT_LIST)):
        client = client_of(user)
        client.get(reverse("project-list") + query)
        with django_assert_num_queries(expected + extra):
            response = client.get(reverse("project-list") + query)
        assert len(listed(response)) == shown


# ---- accounts ----------------------------------------------------------------------------------


@pytest.fixture
def accounts(db) -> dict[str, User]:
    people = {
        "admin": AdminFactory(full_name="Ada Admin", username="ada"),
        "active": ResearcherFactory(full_name="Zoe Active", affiliation="Harbour Clinic"),
        "pending": ResearcherFactory(full_name="Paul Pending", approved_at=None),
        "invited": ResearcherFactory(full_name="Ivy Invited"),
        "inactive": ResearcherFactory(full_name="Ian Inactive", is_active=False),
        "unconfirmed": ResearcherFactory(full_name="Uma Unconfirmed", email_verified_at=None),
        "ethics": ReviewerFactory(full_name="Eve Ethics", expertise=ExpertiseKind.ETHICS, email="eve@ethics.example"),
    }
    people["invited"].set_unusable_password()
    people["invited"].save()
    return people


def names(response: Any) -> set[str]:
    page = text_of(response)
    if 'id="user-table"' not in page:
        return set()
    body = page.split('id="user-table"', 1)[1].split("</table>", 1)[0]
    return set(re.findall(r'<td class="stack-title">([^<]+)<', body))


USER_FILTERS = [
    ("q-name", "q=zoe", {"Zoe Active"}),
    ("q-affiliation", "q=harbour", {"Zoe Active"}),
    ("q-email", "q=ethics.example", {"Eve Ethics"}),
    ("q-username", "q=ada", {"Ada Admin"}),
    ("role", "role=reviewer", {"Eve Ethics"}),
    ("expertise", "expertise=ethics", {"Eve Ethics"}),
    ("state-pending", "state=pending", {"Paul Pending"}),
    ("state-invited", "state=invited", {"Ivy Invited"}),
    ("state-inactive", "state=inactive", {"Ian Inactive"}),
    ("state-unconfirmed", "state=unconfirmed", {"Uma Unconfirmed"}),
    ("state-active", "state=active", {"Ada Admin", "Zoe Active", "Uma Unconfirmed", "Eve Ethics"}),
    ("old-pending-link", "pending=1", {"Paul Pending"}),
]


@pytest.mark.parametrize(
    ("query", "expected"), [(q, e) for _i, q, e in USER_FILTERS], ids=[i for i, _q, _e in USER_FILTERS]
)
def test_each_account_filter(accounts, query, expected):
    response = client_of(accounts["admin"]).get(f"{reverse('user-list')}?{query}")

    assert response.status_code == 200
    assert names(response) == expected


def test_accounts_awaiting_approval_come_first_and_sorts_apply(accounts):
    admin = client_of(accounts["admin"])
    page = text_of(admin.get(reverse("user-list")))
    order = re.findall(r'<td class="stack-title">([^<]+)<', page)
    assert order[0] == "Paul Pending"
    assert len(order) == 7

    by_name = re.findall(r'<td class="stack-title">([^<]+)<', text_of(admin.get(f"{reverse('user-list')}?sort=-name")))
    assert by_name == sorted(by_name, reverse=True)


def test_a_bad_account_filter_names_the_field(accounts):
    response = client_of(accounts["admin"]).get(f"{reverse('user-list')}?state=sleeping&role=king")

    page = html.unescape(text_of(response))
    assert response.status_code == 200
    assert "State" in page.split('id="filter-errors"')[1] and "Role" in page.split('id="filter-errors"')[1]
    assert names(response) == set()


# ---- every review (admin) ----------------------------------------------------------------------


def reviewers_and_projects(response: Any) -> set[tuple[str, str]]:
    page = text_of(response)
    if 'id="review-table"' not in page:
        return set()
    body = page.split('id="review-table"', 1)[1].split("</table>", 1)[0]
    rows = body.split("<tbody>", 1)[1].split("<tr")[1:]
    found = set()
    for row in rows:
        reviewer = re.search(r'<td class="stack-title">([^<]+)<', row).group(1)  # type: ignore[union-attr]
        project = re.search(r'data-label="Project"><a href="[^"]*">([^<]+)</a>', row).group(1)  # type: ignore[union-attr]
        found.add((reviewer.split()[0], project.split()[0]))
    return found


REVIEW_FILTERS = [
    ("none", "", {("Anna", "Bravo"), ("Boris", "Charlie"), ("Boris", "Delta"), ("Anna", "Echo")}),
    ("q-project", "q=charlie", {("Boris", "Charlie")}),
    ("q-reviewer", "q=anna", {("Anna", "Bravo"), ("Anna", "Echo")}),
    ("status", "status=invited&status=removed", {("Boris", "Charlie"), ("Boris", "Delta")}),
    ("overdue", "overdue=1", {("Anna", "Bravo")}),
]


@pytest.mark.parametrize(
    ("query", "expected"), [(q, e) for _i, q, e in REVIEW_FILTERS], ids=[i for i, _q, _e in REVIEW_FILTERS]
)
def test_each_review_filter(portfolio, query, expected):
    response = client_of(portfolio.admin).get(f"{reverse('review-list')}?{query}")

    assert response.status_code == 200
    assert reviewers_and_projects(response) == expected


def test_review_list_by_reviewer_and_project_and_sorted_by_due_date(portfolio):
    admin = client_of(portfolio.admin)
    url = reverse("review-list")

    assert reviewers_and_projects(admin.get(f"{url}?reviewer={portfolio.reviewer_b.pk}")) == {
        ("Boris", "Charlie"),
        ("Boris", "Delta"),
    }
    by_project = admin.get(f"{url}?project={portfolio.projects['Echo'].pk}")
    assert reviewers_and_projects(by_project) == {("Anna", "Echo")}
    assert "Project: Echo PET tracers" in html.unescape(text_of(by_project))
    page = text_of(admin.get(f"{url}?sort=due"))
    order = [page.index(title) for title in ("Echo PET", "Bravo knee", "Delta echo", "Charlie chest")]
    assert order == sorted(order)  # due -30, -3 (Bravo first by pk), -3, +10
    later = text_of(admin.get(f"{url}?sort=-due"))
    assert later.index("Charlie chest") < later.index("Echo PET")


def test_review_list_shows_round_overdue_flag_and_whether_the_review_was_submitted(portfolio):
    page = text_of(client_of(portfolio.admin).get(reverse("review-list")))
    body = page.split('id="review-table"', 1)[1]
    rows = {row.split("</tr>")[0] for row in body.split("<tr")[1:]}
    echo = next(row for row in rows if "Echo PET" in row)
    bravo = next(row for row in rows if "Bravo knee" in row)

    assert "Round 2" in echo and "not submitted" in echo and "overdue-flag" not in echo
    assert "Round 1" in bravo and "submitted 2026-01-20" in bravo and "overdue-flag" in bravo


def test_a_bad_review_filter_names_the_field(portfolio):
    response = client_of(portfolio.admin).get(f"{reverse('review-list')}?project=99999999999999999999999&overdue=1")

    assert response.status_code == 200
    assert "Project" in text_of(response).split('id="filter-errors"')[1]
    assert reviewers_and_projects(response) == set()


@pytest.mark.parametrize("count", [3, 60])
def test_the_review_list_runs_a_fixed_number_of_queries(django_assert_num_queries, portfolio, count):
    for n in range(count):
        project = ProjectFactory(
            title=f"Extra study {n}", guideline_version=portfolio.projects["Alpha"].guideline_version
        )
        _assign(project, ReviewerFactory(), portfolio.admin, AssignmentStatus.INVITED, due_in_days=n)
    client = client_of(portfolio.admin)
    client.get(reverse("review-list"))
    # session, user, unread count, the digest of the reviewers the filter offers (once the bar was
    # rendered for them), the page count, the page's ids, the page's rows by those ids (latest
    # round and submitted review as subqueries of each)
    with django_assert_num_queries(7):
        response = client.get(reverse("review-list"))
    assert text_of(response).split('id="review-table"', 1)[1].count("<tr") == 1 + min(50, count + 4)


# ---- my reviews ----------------------------------------------------------------------------


def test_my_reviews_search_narrows_every_section_and_finished_pages_keep_it(catalogue, admin_user):
    reviewer = ReviewerFactory(full_name="Rhea Reviewer")
    for n in range(25):
        project = ProjectFactory(title=f"Finished lung study {n:02d}", guideline_version=catalogue)
        Project.objects.filter(pk=project.pk).update(status=ProjectStatus.APPROVED)
        _assign(project, reviewer, admin_user, AssignmentStatus.ACCEPTED, due_in_days=-n)
    for n in range(3):
        project = ProjectFactory(title=f"Open heart study {n}", guideline_version=catalogue)
        _assign(project, reviewer, admin_user, AssignmentStatus.INVITED, due_in_days=n)
    client = client_of(reviewer)
    url = reverse("my-reviews")

    everything = text_of(client.get(url))
    assert everything.count("Finished lung study") == 20  # one page of the finished section
    assert "Page 1 of 2" in everything
    assert "Open heart study" in everything

    lungs = text_of(client.get(f"{url}?q=lung"))
    assert "Open heart study" not in lungs
    assert "No open invitation matches the search." in lungs
    (next_link,) = _hrefs(lungs, "next")
    assert parse_qs(urlsplit(next_link).query) == {"q": ["lung"], "page": ["2"]}
    second = text_of(client.get(url + next_link))
    assert second.count("Finished lung study") == 5

    hearts = text_of(client.get(f"{url}?q=heart&sort=-due"))
    assert hearts.index("Open heart study 2") < hearts.index("Open heart study 0")
    assert "Finished lung study" not in hearts


def test_a_declined_reviewer_lists_nothing_of_the_project(portfolio, client):
    """The list runs on projects_visible_to alone: an assignment no longer active shows nothing."""
    declined = ReviewerFactory()
    _assign(portfolio.projects["Delta"], declined, portfolio.admin, AssignmentStatus.DECLINED, due_in_days=3)
    client.force_login(declined)
    assert "Delta" not in text_of(client.get(reverse("project-list")))


def test_titles_sort_as_people_read_them_whatever_their_case(researcher, catalogue):
    for title in ("Synthetic FLAIR slices", "Synthetic brain MRI", "Synthetic EPI slices"):
        ProjectFactory(owner=researcher, guideline_version=catalogue, title=title)
    client = client_of(researcher)
    ascending = listed(client.get(f"{reverse('project-list')}?sort=title"))
    assert ascending == ["Synthetic brain MRI", "Synthetic EPI slices", "Synthetic FLAIR slices"]
    assert listed(client.get(f"{reverse('project-list')}?sort=-title")) == ascending[::-1]
