"""Malformed, oversized and hostile values posted to every form of the review workflow
(SECURITY.md, "Bad input"), with the conventions of test_hostile_input.py.

For every refused post: the answer is 200 or 400 (a 500 raises in the test client), the
error shows under the field it is about (or, for a hidden field or a button, in a message
that names it), every value typed is still on the re-rendered page (passwords excepted),
and nothing already saved has changed. Accepted hostile text is stored as typed and shown
escaped to the people who read it. Ids smuggled into a post are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from audits.enums import RunStatus, SetRole
from audits.models import AuditRun, ImageSet
from audits.selectors import AUDITS, current_input_digest
from reviews.enums import (
    AssignmentStatus,
    ExpertiseKind,
    Meaning,
    NotificationKind,
    ProjectStatus,
    Verdict,
)
from reviews.models import (
    Assignment,
    AuditWaiver,
    GuidelineItem,
    ItemReview,
    Notification,
    Project,
    ReviewPolicy,
    Round,
    RoundOutcome,
    RoundReview,
    Signature,
    Stage,
    User,
)
from reviews.services.assignments import assignment_create, assignment_respond
from reviews.services.catalogue import catalogue_load, guideline_version_new_draft
from reviews.services.decisions import project_withdraw
from reviews.services.notifications import notify
from reviews.services.projects import project_submit
from tests.factories import PASSWORD, AdminFactory, ProjectFactory, ResearcherFactory, ReviewerFactory
from tests.reviews.test_hostile_input import (
    LONG,
    SCRIPT,
    Case,
    _client,
    _input_tags,
    assert_escaped,
    assert_kept,
    body_of,
    cases,
    db_state,
)
from tests.workflow import answer_everything, review, reviewers_on, sign, submitted

STATEMENT_LONG = 5_001  # over the 5,000-character limit of assignment statements
FIRST = "PF-1"  # the catalogue's first item


# ---------------------------------------------------------------------------------------
# What must survive a refused post


def review_state() -> dict[str, Any]:
    """Everything a refused post could have changed, read from the database."""
    return {
        **db_state(),
        "assignments": list(Assignment.objects.order_by("pk").values()),
        "reviews": list(RoundReview.objects.order_by("pk").values()),
        "item_reviews": list(ItemReview.objects.order_by("pk").values()),
        "waivers": list(AuditWaiver.objects.order_by("pk").values()),
        "signatures": list(Signature.objects.order_by("pk").values()),
        "outcomes": list(RoundOutcome.objects.order_by("pk").values()),
        "notifications": list(Notification.objects.order_by("pk").values("pk", "recipient", "read_at", "body")),
    }


def _region(body: str, name: str, *, anchor: str = "", to_form_end: bool = False) -> str:
    """The page from the field's widget up to the next other field (or the end of its form)."""
    start = body.find(anchor) if anchor else 0
    assert start >= 0, f"{anchor!r} is not on the page"
    at = body.find(f'name="{name}"', start)
    assert at >= 0, f"the field {name} is not on the page"
    at = body.rfind("<", 0, at)  # from the start of the widget's tag
    rest = body[at:]
    end = rest.find("</form>")
    end = len(rest) if end < 0 else end
    if not to_form_end:
        for match in re.finditer(r'name="([^"]+)"', rest[:end]):
            if match.group(1) != name:
                end = match.start()
                break
    return rest[:end]


def assert_error_under(
    response: Any,
    field_name: str,
    fragment: str,
    *,
    form: str = "form",
    html_name: str = "",
    anchor: str = "",
    hidden: bool = False,
) -> None:
    """The message is on the form, under the field it is about (for a hidden field: in its
    form, after the visible fields), and says what is wrong."""
    assert response.status_code in (200, 400), response.status_code
    bound = response.context[form]
    errors = bound.errors.get(field_name, [])
    assert any(fragment in message for message in errors), f"{field_name}: {fragment!r} not in {errors}"
    name = html_name or bound[field_name].html_name
    region = _region(body_of(response), name, anchor=anchor, to_form_end=hidden)
    assert escape(fragment) in region, f"{fragment!r} is not shown under {name}"


def _message_texts(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


# ---------------------------------------------------------------------------------------
# The project under review, and the people on it


@dataclass
class World:
    project: Project
    round: Round
    owner: User
    admin: User
    technical: User
    clinical: User
    invited: User

    def url(self, name: str, **kwargs: Any) -> str:
        if name in {"round-review", "round-sign", "round-detail", "audit-waive"}:
            kwargs = {"number": self.round.number, **kwargs}
        return reverse(name, kwargs={"pk": self.project.pk, **kwargs})


@pytest.fixture(scope="module")
def world_rows(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, int]]:
    """A submitted project with two accepted reviewers and one still invited; no images, so
    every bound audit is not computable and may be waived. Built once for the module (about
    1.4 s a build, 220 tests) in a transaction rolled back at its end; each test runs in a
    transaction of its own, rolled back too."""
    with django_db_blocker.unblock(), transaction.atomic():
        catalogue, _ = catalogue_load()
        researcher, admin = ResearcherFactory(full_name="Rosa Researcher"), AdminFactory(full_name="Ada Admin")
        project = ProjectFactory(owner=researcher, guideline_version=catalogue, title="Secret brain MRI project")
        round_ = submitted(project)
        technical, clinical = reviewers_on(project, admin=admin)
        invited = ReviewerFactory(full_name="Ivy Invited", expertise=ExpertiseKind.ETHICS)
        assignment_create(actor=admin, project=project, reviewer=invited)
        people = {"owner": researcher, "admin": admin, "technical": technical, "clinical": clinical, "invited": invited}
        yield {"project": project.pk, "round": round_.pk, **{role: user.pk for role, user in people.items()}}
        transaction.set_rollback(True)


@pytest.fixture
def world(world_rows: dict[str, int], db: None) -> World:
    """The module's world read afresh for each test: what an earlier test changed in memory is gone
    with its rows."""
    roles = ("owner", "admin", "technical", "clinical", "invited")
    users = User.objects.in_bulk([world_rows[role] for role in roles])
    project, round_ = Project.objects.get(pk=world_rows["project"]), Round.objects.get(pk=world_rows["round"])
    return World(project, round_, *(users[world_rows[role]] for role in roles))


def items_of(round_: Round) -> list[GuidelineItem]:
    return list(GuidelineItem.objects.filter(version=round_.guideline_version_id).order_by("stage__order", "order"))


# ---------------------------------------------------------------------------------------
# assignment-list: assigning a reviewer


def _due(days: int) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


@pytest.fixture
def candidate(world) -> User:
    """A reviewer suggested on the assignment page and not assigned yet."""
    return ReviewerFactory(full_name="Cora Candidate", expertise=ExpertiseKind.PATIENT_PUBLIC)


@cases(
    Case("due-date-past", {"due_date": _due(-1)}, "due_date", "The due date is in the past."),
    Case("due-date-year-1", {"due_date": "0001-01-01"}, "due_date", "The due date is in the past."),
    Case("due-date-absurd", {"due_date": "9999-12-31"}, "due_date", "Choose a due date within a year."),
    Case("due-date-next-year", {"due_date": _due(400)}, "due_date", "Choose a due date within a year."),
    Case("due-date-malformed", {"due_date": "31/02/2030"}, "due_date", "Enter the due date as YYYY-MM-DD."),
    Case("due-date-impossible", {"due_date": "2030-02-31"}, "due_date", "Enter the due date as YYYY-MM-DD."),
    Case("due-date-overflow", {"due_date": "99999-01-01"}, "due_date", "Enter the due date as YYYY-MM-DD."),
    Case("due-date-script", {"due_date": SCRIPT}, "due_date", "Enter the due date as YYYY-MM-DD."),
    Case("due-date-huge", {"due_date": "2" * LONG}, "due_date", "Enter the due date as YYYY-MM-DD."),
    Case("due-date-nul", {"due_date": "2030-01-01\x00"}, "due_date", "Enter the due date as YYYY-MM-DD."),
    Case("due-date-missing", {"due_date": ""}, "due_date", "Give a due date."),
)
def test_assigning_refuses_a_bad_due_date_under_the_reviewers_row(world, candidate, case):
    before = review_state()
    data = {"reviewer": str(candidate.pk), "due_date": _due(10), **case.changes}

    response = _client(world.admin).post(world.url("assignment-list"), data)

    assert response.status_code == 400
    row_form = next(row.form for row in response.context["suggestions"] if row.suggestion.reviewer == candidate)
    assert case.fragment in " ".join(row_form.errors[case.field])
    body = body_of(response)
    region = _region(body, "due_date", anchor=f'id="suggestion-{candidate.pk}"')
    assert escape(case.fragment) in region, "the error is not under the due date of this reviewer"
    assert "Due date: " in region, "the error does not name the field"
    if "\x00" not in data["due_date"]:
        tags = _input_tags(region, "due_date", data["due_date"])
        assert tags, "the typed due date is lost"
    assert response.context["orphan_form"] is None
    assert review_state() == before


@cases(
    Case("not-a-reviewer", {}, "reviewer", "this person cannot be assigned"),
    Case("the-owner", {}, "reviewer", "this person cannot be assigned"),
    Case("inactive-reviewer", {}, "reviewer", "this person cannot be assigned"),
    Case("admin", {}, "reviewer", "this person cannot be assigned"),
    Case("non-number", {"reviewer": "abc"}, "reviewer", "this person cannot be assigned"),
    Case("negative", {"reviewer": "-1"}, "reviewer", "this person cannot be assigned"),
    Case("decimal", {"reviewer": "1.5"}, "reviewer", "this person cannot be assigned"),
    Case("huge-number", {"reviewer": "9" * 30}, "reviewer", "this person cannot be assigned"),
    Case("bigint-overflow", {"reviewer": str(2**63)}, "reviewer", "this person cannot be assigned"),
    Case("script", {"reviewer": SCRIPT}, "reviewer", "this person cannot be assigned"),
    Case("oversized", {"reviewer": "1" * LONG}, "reviewer", "this person cannot be assigned"),
    Case("nul", {"reviewer": "1\x00"}, "reviewer", "this person cannot be assigned"),
    Case("missing", {"reviewer": ""}, "reviewer", "Reviewer: choose a reviewer to assign."),
)
def test_assigning_refuses_anyone_who_may_not_review_the_project(world, candidate, other_researcher, case):
    inactive = ReviewerFactory(full_name="Ina Inactive", is_active=False)
    ids = {
        "not-a-reviewer": other_researcher.pk,
        "the-owner": world.owner.pk,
        "inactive-reviewer": inactive.pk,
        "admin": world.admin.pk,
    }
    before = review_state()
    data = {"reviewer": str(ids.get(case.id, "")), "due_date": _due(10), **case.changes}

    response = _client(world.admin).post(world.url("assignment-list"), data)

    assert response.status_code == 400
    form = response.context["orphan_form"]
    assert form is not None, "the refusal of a reviewer without a row must show above the list"
    assert any(case.fragment in message for message in form.errors[case.field]), form.errors
    body = body_of(response)
    alert = body[body.find('class="alert alert-danger"') :]
    alert = alert[: alert.find("</div>\n")]
    assert escape(case.fragment) in alert
    assert "Reviewer" in alert, "the error does not name the field"
    assert "<script>alert" not in body
    # The due date typed for a row that is not shown goes into the rows that are.
    row = _region(body, "due_date", anchor=f'id="suggestion-{candidate.pk}"')
    assert _input_tags(row, "due_date", data["due_date"]), "the typed due date is lost"
    assert review_state() == before
    assert not Assignment.objects.filter(reviewer_id__in=ids.values()).exists()


@pytest.mark.parametrize("due_date", ["31/02/2030", SCRIPT, _due(-3)])
def test_a_refused_reviewer_and_a_bad_due_date_are_both_named_and_the_date_kept(world, other_researcher, due_date):
    before = review_state()

    response = _client(world.admin).post(
        world.url("assignment-list"), {"reviewer": str(other_researcher.pk), "due_date": due_date}
    )

    assert response.status_code == 400
    form = response.context["orphan_form"]
    assert set(form.errors) == {"reviewer", "due_date"}
    body = body_of(response)
    alert = body[body.find('class="alert alert-danger"') :]
    alert = alert[: alert.find("</div>\n")]
    assert "Reviewer: this person cannot be assigned" in alert
    assert f"Due date “{escape(due_date)}”: " in alert, "the typed due date is lost"
    assert "<script>alert" not in body
    assert review_state() == before


def test_assigning_ignores_smuggled_project_status_and_assigner(world, candidate, other_researcher):
    foreign = ProjectFactory(owner=other_researcher, guideline_version=world.project.guideline_version)
    data = {
        "reviewer": candidate.pk,
        "due_date": _due(9),
        "project": foreign.pk,
        "project_id": foreign.pk,
        "status": AssignmentStatus.ACCEPTED,
        "assigned_by": other_researcher.pk,
        "has_conflict": "on",
        "conflict_statement": SCRIPT,
        "id": 1,
    }

    response = _client(world.admin).post(world.url("assignment-list"), data)

    assert response.status_code == 302
    assignment = Assignment.objects.get(reviewer=candidate)
    assert (assignment.project, assignment.status, assignment.assigned_by) == (
        world.project,
        AssignmentStatus.INVITED,
        world.admin,
    )
    assert (assignment.has_conflict, assignment.conflict_statement) == (False, "")
    assert assignment.due_date.isoformat() == data["due_date"]
    assert not Assignment.objects.filter(project=foreign).exists()


# ---------------------------------------------------------------------------------------
# assignment-remove


def _assignment(world: World, reviewer: User) -> Assignment:
    return Assignment.objects.get(project=world.project, reviewer=reviewer)


@cases(
    Case("reason-missing", {"reason": None}, "reason", "Say why the reviewer is removed."),
    Case("reason-empty", {"reason": ""}, "reason", "Say why the reviewer is removed."),
    Case("reason-blank", {"reason": " \n\t "}, "reason", "Say why the reviewer is removed."),
    Case(
        "reason-oversized",
        {"reason": "r" * STATEMENT_LONG},
        "reason",
        f"at most 5000 characters (it has {STATEMENT_LONG})",
    ),
    Case("reason-huge", {"reason": "r" * LONG}, "reason", f"at most 5000 characters (it has {LONG})"),
    Case("reason-nul", {"reason": "no\x00show"}, "reason", "Null characters are not allowed"),
)
def test_removing_refuses_a_missing_or_bad_reason(world, case):
    assignment = _assignment(world, world.clinical)
    before = review_state()
    data = {k: v for k, v in case.changes.items() if v is not None}

    response = _client(world.admin).post(world.url("assignment-remove", assignment_pk=assignment.pk), data)

    assert response.status_code == 400
    body = body_of(response)
    region = _region(body, "reason", anchor=f'id="assignment-{assignment.pk}"')
    assert escape(case.fragment) in region, "the error is not under this assignment's reason"
    assert f'id="id_remove_{assignment.pk}_reason_error"' in region
    assert_kept(response, data)
    assert review_state() == before


def test_removing_through_another_project_is_refused_and_changes_nothing(world, other_researcher):
    foreign = ProjectFactory(owner=other_researcher, guideline_version=world.project.guideline_version)
    submitted(foreign)
    assignment_create(actor=world.admin, project=foreign, reviewer=world.clinical)
    theirs = Assignment.objects.get(project=foreign)
    before = review_state()

    for pk in (theirs.pk, 999_999, 2**62):
        response = _client(world.admin).post(
            world.url("assignment-remove", assignment_pk=pk), {"reason": "Through the wrong project."}
        )
        assert response.status_code == 404, pk
    assert review_state() == before


def test_removing_ignores_smuggled_ids_and_shows_the_reason_escaped(world):
    assignment = _assignment(world, world.clinical)
    other = _assignment(world, world.technical)
    data = {
        "reason": SCRIPT,
        "assignment": other.pk,
        "reviewer": world.technical.pk,
        "project": 0,
        "status": AssignmentStatus.ACCEPTED,
    }

    response = _client(world.admin).post(world.url("assignment-remove", assignment_pk=assignment.pk), data)

    assert response.status_code == 302
    assignment.refresh_from_db()
    other.refresh_from_db()
    assert (assignment.status, assignment.removed_reason) == (AssignmentStatus.REMOVED, SCRIPT)
    assert other.status == AssignmentStatus.ACCEPTED
    assert_escaped(body_of(_client(world.admin).get(world.url("assignment-list"))))
    told = body_of(_client(world.clinical).get(reverse("notification-list")))
    assert escape(SCRIPT) in told
    assert_escaped(told)


# ---------------------------------------------------------------------------------------
# assignment-respond: accepting or declining an invitation

ACCEPT_CHOICES = {"conflict"}


def accept_data(**changes: Any) -> dict[str, Any]:
    return {"decision": "accept", "conflict": "none", "conflict_statement": "", **changes}


@cases(
    Case(
        "declare-without-statement",
        {"conflict": "declare"},
        "conflict_statement",
        "Describe the conflict of interest you declare.",
    ),
    Case(
        "declare-with-blank-statement",
        {"conflict": "declare", "conflict_statement": "   "},
        "conflict_statement",
        "Describe the conflict of interest you declare.",
    ),
    Case(
        "no-conflict-with-statement",
        {"conflict_statement": "Typed statement that must survive."},
        "conflict_statement",
        "You chose “no conflict” but wrote a statement",
    ),
    Case(
        "statement-oversized",
        {"conflict": "declare", "conflict_statement": "c" * STATEMENT_LONG},
        "conflict_statement",
        f"at most 5000 characters (it has {STATEMENT_LONG})",
    ),
    Case(
        "statement-huge",
        {"conflict": "declare", "conflict_statement": "c" * LONG},
        "conflict_statement",
        "at most 5000 characters",
    ),
    Case(
        "statement-nul",
        {"conflict": "declare", "conflict_statement": "a\x00b"},
        "conflict_statement",
        "Null characters are not allowed",
    ),
    Case("conflict-unknown", {"conflict": "maybe"}, "conflict", "Select a valid choice"),
    Case("conflict-script", {"conflict": SCRIPT}, "conflict", "Select a valid choice"),
    Case("conflict-missing", {"conflict": ""}, "conflict", "Say whether you have a conflict of interest."),
)
def test_accepting_refuses_bad_values_and_keeps_the_rest(world, case):
    before = review_state()
    data = accept_data(**case.changes)

    response = _client(world.invited).post(world.url("assignment-respond"), data)

    assert response.status_code == 400
    assert_error_under(response, case.field, case.fragment, form="accept_form")
    assert f'id="error_1_id_{case.field}"' in body_of(response)
    assert_kept(response, data, choices=ACCEPT_CHOICES, skip={"decision", *({case.field} & ACCEPT_CHOICES)})
    assert review_state() == before


@cases(
    Case(
        "reason-oversized",
        {"decline_reason": "d" * STATEMENT_LONG},
        "decline_reason",
        f"at most 5000 characters (it has {STATEMENT_LONG})",
    ),
    Case("reason-nul", {"decline_reason": "busy\x00"}, "decline_reason", "Null characters are not allowed"),
)
def test_declining_refuses_bad_values_and_keeps_the_rest(world, case):
    before = review_state()
    data = {"decision": "decline", **case.changes}

    response = _client(world.invited).post(world.url("assignment-respond"), data)

    assert response.status_code == 400
    assert_error_under(response, case.field, case.fragment, form="decline_form")
    assert_kept(response, data, skip={"decision"})
    assert review_state() == before


@pytest.mark.parametrize("decision", [None, "", "maybe", "ACCEPT", SCRIPT, "a" * LONG, "accept\x00"])
def test_an_unknown_decision_is_refused_and_keeps_what_was_typed(world, decision):
    before = review_state()
    data = {
        "conflict": "declare",
        "conflict_statement": "Typed conflict statement that must survive.",
        "decline_reason": "Typed decline reason that must survive.",
    }
    if decision is not None:
        data["decision"] = decision

    response = _client(world.invited).post(world.url("assignment-respond"), data)

    assert response.status_code == 400
    assert "Choose “Accept” or “Decline”." in _message_texts(response)
    body = body_of(response)
    assert "<script>alert" not in body
    assert_kept(response, data, choices=ACCEPT_CHOICES, skip={"decision"})
    assert review_state() == before


def test_a_script_in_a_conflict_statement_is_stored_as_typed_and_shown_escaped(world):
    data = accept_data(conflict="declare", conflict_statement=SCRIPT)

    response = _client(world.invited).post(world.url("assignment-respond"), data)

    assert response.status_code == 302
    assignment = _assignment(world, world.invited)
    assert (assignment.status, assignment.has_conflict, assignment.conflict_statement) == (
        AssignmentStatus.ACCEPTED,
        True,
        SCRIPT,
    )
    for user, url in [
        (world.admin, world.url("assignment-list")),
        (world.admin, reverse("notification-list")),
        (world.invited, world.url("assignment-respond")),
        (world.invited, world.url("round-review")),
    ]:
        page = _client(user).get(url)
        assert page.status_code == 200, url
        assert escape(SCRIPT) in body_of(page), url
        assert_escaped(body_of(page))


def test_a_script_in_a_decline_reason_is_stored_as_typed_and_shown_escaped(world):
    response = _client(world.invited).post(
        world.url("assignment-respond"), {"decision": "decline", "decline_reason": SCRIPT}
    )

    assert response.status_code == 302
    assert _assignment(world, world.invited).decline_reason == SCRIPT
    for user, url in [
        (world.admin, world.url("assignment-list")),
        (world.admin, reverse("notification-list")),
        (world.invited, world.url("assignment-respond")),
    ]:
        body = body_of(_client(user).get(url))
        assert escape(SCRIPT) in body, url
        assert_escaped(body)


def test_accepting_ignores_smuggled_ids(world, other_researcher):
    foreign = ProjectFactory(owner=other_researcher, guideline_version=world.project.guideline_version)
    data = accept_data(
        reviewer=world.technical.pk,
        project=foreign.pk,
        status=AssignmentStatus.REMOVED,
        has_conflict="on",
        assignment=_assignment(world, world.technical).pk,
        due_date="2000-01-01",
    )

    response = _client(world.invited).post(world.url("assignment-respond"), data)

    assert response.status_code == 302
    mine = _assignment(world, world.invited)
    assert (mine.status, mine.has_conflict, mine.conflict_statement) == (AssignmentStatus.ACCEPTED, False, "")
    assert mine.due_date.year != 2000
    technical = _assignment(world, world.technical)
    assert (technical.status, technical.has_conflict) == (AssignmentStatus.ACCEPTED, False)
    assert not Assignment.objects.filter(project=foreign).exists()


# ---------------------------------------------------------------------------------------
# conflict-declare


@cases(
    Case("statement-missing", {}, "statement", "Describe the conflict of interest."),
    Case("statement-blank", {"statement": "    "}, "statement", "Describe the conflict of interest."),
    Case(
        "statement-oversized",
        {"statement": "s" * STATEMENT_LONG},
        "statement",
        f"at most 5000 characters (it has {STATEMENT_LONG})",
    ),
    Case("statement-nul", {"statement": "a\x00b"}, "statement", "Null characters are not allowed"),
)
def test_declaring_a_conflict_refuses_bad_statements_and_keeps_the_text(world, case):
    before = review_state()

    response = _client(world.technical).post(world.url("conflict-declare"), case.changes)

    assert response.status_code == 400
    assert_error_under(response, case.field, case.fragment, form="conflict_form")
    assert f'id="error_1_id_{case.field}"' in body_of(response)
    assert_kept(response, case.changes)
    assert review_state() == before


@pytest.mark.parametrize("statement", ["", "A statement typed where no declaration is possible."])
def test_declaring_a_conflict_twice_says_why_whatever_was_typed(world, statement):
    """Once declared the form is gone; a second post (a stale page, a double click) says why,
    whether or not its statement was valid, instead of an error under a form that is not shown."""
    _client(world.technical).post(world.url("conflict-declare"), {"statement": "Declared first."})
    before = review_state()

    response = _client(world.technical).post(world.url("conflict-declare"), {"statement": statement}, follow=True)

    assert response.status_code == 200
    said = " ".join(_message_texts(response))
    assert "You have already declared a conflict on this project." in said, said
    assert _assignment(world, world.technical).conflict_statement == "Declared first."
    assert review_state() == before


@pytest.mark.parametrize("statement", ["", "Typed by someone who has not accepted."])
def test_an_invited_reviewer_cannot_declare_a_conflict_on_a_project_they_cannot_see(world, statement):
    before = review_state()

    response = _client(world.invited).post(world.url("conflict-declare"), {"statement": statement})

    assert response.status_code == 404
    assert review_state() == before


def test_a_declared_conflict_is_stored_as_typed_and_shown_escaped(world):
    data = {"statement": SCRIPT, "reviewer": world.clinical.pk, "project": 0, "has_conflict": ""}

    response = _client(world.technical).post(world.url("conflict-declare"), data)

    assert response.status_code == 302
    mine, theirs = _assignment(world, world.technical), _assignment(world, world.clinical)
    assert (mine.has_conflict, mine.conflict_statement) == (True, SCRIPT)
    assert (theirs.has_conflict, theirs.conflict_statement) == (False, "")
    for user, url in [
        (world.admin, world.url("assignment-list")),
        (world.admin, reverse("notification-list")),
        (world.technical, world.url("assignment-respond")),
        (world.technical, world.url("round-review")),
    ]:
        body = body_of(_client(user).get(url))
        assert escape(SCRIPT) in body, url
        assert_escaped(body)


# ---------------------------------------------------------------------------------------
# round-review: verdicts, comments and the overclaim check

REVIEW_CHOICES = {"declared_phase", "overclaim"}


def review_data(round_: Round, **changes: Any) -> dict[str, Any]:
    """A complete review (every item acceptable, phase 2, claims within it) as posted."""
    data: dict[str, Any] = {"declared_phase": "2", "overclaim": "within", "overclaim_note": "", "action": "save"}
    for item in items_of(round_):
        data[f"verdict_{item.code}"] = Verdict.ACCEPTABLE
        data[f"comment_{item.code}"] = ""
    return {**data, **changes}


def _review_choices(data: dict[str, Any]) -> set[str]:
    return REVIEW_CHOICES | {name for name in data if name.startswith("verdict_")}


V, C = f"verdict_{FIRST}", f"comment_{FIRST}"


@cases(
    Case("verdict-unknown", {V: "approved"}, V, "Select a valid choice"),
    Case("verdict-script", {V: SCRIPT}, V, "Select a valid choice"),
    Case("verdict-huge", {V: "a" * LONG}, V, "Select a valid choice"),
    Case("verdict-nul", {V: "acceptable\x00"}, V, "Select a valid choice"),
    Case("concern-without-comment", {V: Verdict.CONCERN, C: ""}, C, f"{FIRST}: “Concern” needs a comment"),
    Case("must-change-blank-comment", {V: Verdict.MUST_CHANGE, C: "  \n "}, C, "needs a comment"),
    Case("comment-oversized", {C: "c" * LONG}, C, f"at most 20000 characters (it has {LONG})"),
    Case("comment-nul", {C: "a\x00b"}, C, "Null characters are not allowed"),
    Case("phase-0", {"declared_phase": "0"}, "declared_phase", "Select a valid choice. 0 is not one"),
    Case("phase-6", {"declared_phase": "6"}, "declared_phase", "Select a valid choice. 6 is not one"),
    Case("phase-abc", {"declared_phase": "abc"}, "declared_phase", "Select a valid choice"),
    Case("phase-negative", {"declared_phase": "-1"}, "declared_phase", "Select a valid choice"),
    Case("phase-huge", {"declared_phase": "9" * 40}, "declared_phase", "Select a valid choice"),
    Case("phase-float", {"declared_phase": "2.0"}, "declared_phase", "Select a valid choice"),
    Case("phase-script", {"declared_phase": SCRIPT}, "declared_phase", "Select a valid choice"),
    Case("overclaim-unknown", {"overclaim": "maybe"}, "overclaim", "Select a valid choice"),
    Case("overclaim-script", {"overclaim": SCRIPT}, "overclaim", "Select a valid choice"),
    Case("overclaim-without-note", {"overclaim": "overclaim"}, "overclaim_note", "Say which claims go beyond"),
    Case("note-oversized", {"overclaim_note": "n" * LONG}, "overclaim_note", "at most 20000 characters"),
    Case("note-nul", {"overclaim_note": "\x00"}, "overclaim_note", "Null characters are not allowed"),
    Case(
        "submit-incomplete",
        {V: "", "declared_phase": "", "action": "submit"},
        V,
        f"{FIRST}: choose a verdict before submitting",
    ),
    Case(
        "submit-without-phase",
        {"declared_phase": "", "action": "submit"},
        "declared_phase",
        "Choose the evaluation phase the project declares",
    ),
    Case(
        "submit-without-finding",
        {"overclaim": "", "action": "submit"},
        "overclaim",
        "Give your finding on the claims",
    ),
)
def test_a_review_refuses_bad_values_and_keeps_everything_typed(world, case):
    review(world.round, world.technical, verdict=Verdict.CONCERN, submit=False)  # a saved draft to keep
    before = review_state()
    data = {**review_data(world.round, **{C: "Typed comment that must survive."}), **case.changes}

    response = _client(world.technical).post(world.url("round-review"), data)

    assert response.status_code == 400
    assert "Not saved" in body_of(response)
    assert_error_under(response, case.field, case.fragment)
    skip = {"action"} | ({case.field} if case.field in _review_choices(data) else set())
    assert_kept(response, data, choices=_review_choices(data), skip=skip)
    assert review_state() == before
    draft = RoundReview.objects.get(reviewer=world.technical)
    assert draft.submitted_at is None
    assert set(draft.items.values_list("verdict", flat=True)) == {Verdict.CONCERN}


@pytest.mark.parametrize(
    "action", ["publish", "SUBMIT", "submit ", "delete", SCRIPT, "a" * LONG, "save\x00", ""], ids=repr
)
def test_an_unknown_action_saves_nothing_and_keeps_everything_typed(world, action):
    before = review_state()
    data = review_data(world.round, **{C: "Typed comment that must survive.", "action": action})

    response = _client(world.technical).post(world.url("round-review"), data)

    assert response.status_code == 400
    body = body_of(response)
    assert "Not saved" in body
    assert any("Unknown action: choose “Save draft”" in e for e in response.context["form"].non_field_errors())
    assert escape("Unknown action: choose “Save draft”") in body
    assert "<script>alert" not in body
    assert_kept(response, data, choices=_review_choices(data), skip={"action"})
    assert review_state() == before
    assert not RoundReview.objects.exists()


@pytest.fixture
def other_version_code(world) -> str:
    """An item that exists only in a newer (draft) guideline version."""
    draft = guideline_version_new_draft(source=world.project.guideline_version, actor=world.admin)
    stage = Stage.objects.filter(version=draft).order_by("order").first()
    GuidelineItem.objects.create(version=draft, stage=stage, code="NV-1", order=999, requirement="Only in v2.")
    assert not GuidelineItem.objects.filter(version=world.round.guideline_version_id, code="NV-1").exists()
    return "NV-1"


@pytest.mark.parametrize("action", ["save", "accept_rest", "submit"])
def test_verdicts_for_items_outside_the_rounds_catalogue_are_ignored(world, other_version_code, action):
    extra = {
        f"verdict_{other_version_code}": Verdict.MUST_CHANGE,
        f"comment_{other_version_code}": "Not an item of this round.",
        "verdict_ZZ-99": Verdict.MUST_CHANGE,
        "comment_ZZ-99": SCRIPT,
        f"verdict_{SCRIPT}": Verdict.MUST_CHANGE,
        "verdict_": Verdict.CONCERN,
        f"verdict_{FIRST.lower()}": Verdict.MUST_CHANGE,
    }
    data = review_data(world.round, action=action, **extra)

    response = _client(world.technical).post(world.url("round-review"), data)

    assert response.status_code == 302
    saved = RoundReview.objects.get(round=world.round, reviewer=world.technical)
    assert (saved.submitted_at is not None) == (action == "submit")
    items = set(saved.items.values_list("item__code", "verdict"))
    assert items == {(item.code, Verdict.ACCEPTABLE) for item in items_of(world.round)}


def test_a_review_ignores_smuggled_round_reviewer_and_submission_fields(world):
    resubmitted = ProjectFactory(owner=world.owner, guideline_version=world.project.guideline_version)
    foreign_round = submitted(resubmitted)
    data = review_data(
        world.round,
        round=foreign_round.pk,
        round_id=foreign_round.pk,
        reviewer=world.clinical.pk,
        reviewer_id=world.clinical.pk,
        project=resubmitted.pk,
        submitted_at="2000-01-01T00:00:00Z",
        status="submitted",
        id=1,
    )

    response = _client(world.technical).post(world.url("round-review"), data)

    assert response.status_code == 302
    saved = RoundReview.objects.get()
    assert (saved.round, saved.reviewer, saved.submitted_at) == (world.round, world.technical, None)
    assert saved.items.count() == len(items_of(world.round))


def test_script_in_a_review_is_stored_as_typed_and_shown_escaped_to_the_other_reviewer(world):
    data = review_data(
        world.round, action="submit", overclaim="overclaim", overclaim_note=SCRIPT, **{V: Verdict.CONCERN, C: SCRIPT}
    )
    assert _client(world.technical).post(world.url("round-review"), data).status_code == 302
    saved = RoundReview.objects.get(reviewer=world.technical)
    assert saved.overclaim_note == SCRIPT
    assert saved.items.get(item__code=FIRST).comment == SCRIPT

    # Before the other reviewer has submitted, they do not see it; afterwards, escaped.
    assert escape(SCRIPT) not in body_of(_client(world.clinical).get(world.url("round-review")))
    review(world.round, world.clinical)
    for user in (world.clinical, world.admin, world.technical):
        page = _client(user).get(world.url("round-review"))
        assert page.status_code == 200
        body = body_of(page)
        assert body.count(escape(SCRIPT)) >= 2, user  # the comment and the overclaim note
        assert_escaped(body)
    round_page = body_of(_client(world.admin).get(world.url("round-detail")))
    assert "<script>alert" not in round_page


# ---------------------------------------------------------------------------------------
# audit-waive

WAIVED = "memorization"  # bound to an item; not computable without images


def _waive_url(world: World, audit: str) -> str:
    return reverse("audit-waive", kwargs={"pk": world.project.pk, "number": world.round.number, "audit": audit})


@cases(
    Case("reason-missing", {}, "reason", "A waiver needs a written reason."),
    Case("reason-blank", {"reason": " \n "}, "reason", "A waiver needs a written reason."),
    Case("reason-oversized", {"reason": "w" * LONG}, "reason", f"at most 20000 characters (it has {LONG})"),
    Case("reason-nul", {"reason": "a\x00b"}, "reason", "Null characters are not allowed"),
)
def test_a_waiver_refuses_a_missing_or_bad_reason(world, case):
    before = review_state()
    data = {f"waive-{WAIVED}-{name}": value for name, value in case.changes.items()}

    response = _client(world.technical).post(_waive_url(world, WAIVED), data)

    assert response.status_code == 400
    entry = next(w for w in response.context["waivable"] if w["audit"] == WAIVED)
    form = entry["form"]
    assert any(case.fragment in m for m in form.errors[case.field]), form.errors
    body = body_of(response)
    region = _region(body, f"waive-{WAIVED}-reason", anchor=f'id="waive-{WAIVED}"')
    assert escape(case.fragment) in region
    assert f'id="error_1_id_waive-{WAIVED}-reason"' in region
    assert_kept(response, data)
    assert review_state() == before


@pytest.mark.parametrize("audit", ["nosuch", "MEMORIZATION", "memorization ", "x" * 2000, "%3Cscript%3E"])
def test_a_waiver_of_an_audit_not_in_the_catalogue_is_not_found(world, audit):
    before = review_state()
    url = f"/projects/{world.project.pk}/rounds/{world.round.number}/waive/{audit}/"

    response = _client(world.technical).post(url, {f"waive-{audit}-reason": "Any reason."})

    assert response.status_code == 404
    assert "<script>" not in body_of(response)
    assert review_state() == before


def _passing_round(project: Project) -> Round:
    """A round whose audits all passed (a finished run over its synthetic set)."""
    answer_everything(project)
    ImageSet.objects.create(
        project=project,
        role=SetRole.SYNTHETIC,
        uploaded_by=project.owner,
        digest="2" * 64,
        n_files=3,
        n_accepted=3,
        n_images=3,
    )
    now = timezone.now()
    AuditRun.objects.create(
        project=project,
        status=RunStatus.SUCCEEDED,
        reason="test evidence",
        input_digest=current_input_digest(project),
        results={a: {"audit": a, "status": "pass", "summary": "fine", "metrics": {}} for a in AUDITS},
        started_at=now,
        finished_at=now,
        progress=100,
    )
    return project_submit(actor=project.owner, project=project)


def test_a_passing_audit_cannot_be_waived(project, admin_user):
    round_ = _passing_round(project)
    technical, _ = reviewers_on(project, admin=admin_user)
    before = review_state()

    response = _client(technical).post(
        reverse("audit-waive", kwargs={"pk": project.pk, "number": round_.number, "audit": WAIVED}),
        {f"waive-{WAIVED}-reason": "It passed, but let me waive it anyway."},
    )

    assert response.status_code == 400
    assert any("there is nothing to waive" in m for m in _message_texts(response))
    assert review_state() == before


def test_a_waiver_ignores_smuggled_fields_and_shows_its_reason_escaped(world):
    data = {
        f"waive-{WAIVED}-reason": SCRIPT,
        f"waive-{WAIVED}-audit_status": "pass",
        f"waive-{WAIVED}-waived_by": world.clinical.pk,
        "audit": "fidelity",
        "round": 0,
        "waived_by": world.clinical.pk,
        "audit_status": "pass",
        "waived_at": "2000-01-01",
    }

    response = _client(world.technical).post(_waive_url(world, WAIVED), data)

    assert response.status_code == 302
    waiver = AuditWaiver.objects.get()
    assert (waiver.round, waiver.audit, waiver.audit_status) == (world.round, WAIVED, "not_computable")
    assert (waiver.waived_by, waiver.reason) == (world.technical, SCRIPT)
    assert waiver.waived_at.year != 2000
    for user, url in [
        (world.clinical, world.url("round-review")),
        (world.admin, world.url("round-review")),
        (world.admin, world.url("round-detail")),
    ]:
        body = body_of(_client(user).get(url))
        assert escape(SCRIPT) in body, url
        assert_escaped(body)


# ---------------------------------------------------------------------------------------
# round-sign

SIGN_CHOICES = {"meaning"}


def sign_data(round_: Round, **changes: Any) -> dict[str, Any]:
    return {"meaning": Meaning.APPROVE, "statement": "", "digest": round_.digest, "password": PASSWORD, **changes}


@cases(
    Case("meaning-unknown", {"meaning": "approved"}, "meaning", "Select a valid choice"),
    Case("meaning-final-approve", {"meaning": Meaning.FINAL_APPROVE}, "meaning", "Select a valid choice"),
    Case("meaning-final-reject", {"meaning": Meaning.FINAL_REJECT}, "meaning", "Select a valid choice"),
    Case("meaning-script", {"meaning": SCRIPT}, "meaning", "Select a valid choice"),
    Case("meaning-missing", {"meaning": ""}, "meaning", "This field is required"),
    Case(
        "request-changes-without-statement",
        {"meaning": Meaning.REQUEST_CHANGES, "statement": ""},
        "statement",
        "“Request changes” needs",
    ),
    Case(
        "conditions-with-blank-statement",
        {"meaning": Meaning.APPROVE_WITH_CONDITIONS, "statement": " \n "},
        "statement",
        "“Approve with conditions” needs",
    ),
    Case("reject-without-statement", {"meaning": Meaning.REJECT, "statement": ""}, "statement", "“Reject” needs"),
    Case("statement-oversized", {"statement": "s" * LONG}, "statement", f"at most 20000 characters (it has {LONG})"),
    Case("statement-nul", {"statement": "a\x00b"}, "statement", "Null characters are not allowed"),
    Case("password-missing", {"password": ""}, "password", "This field is required"),
    Case("password-wrong", {"password": "not-my-password"}, "password", "The password is not correct"),
    Case("password-10000", {"password": "p" * 10_000}, "password", "at most 4096 characters (it has 10000)"),
    Case("password-nul", {"password": "pass\x00word"}, "password", "Null characters are not allowed"),
)
def test_signing_refuses_bad_values_and_keeps_the_rest(world, case):
    review(world.round, world.technical)
    before = review_state()
    data = {**sign_data(world.round, statement="Typed statement that must survive."), **case.changes}

    response = _client(world.technical).post(world.url("round-sign"), data, REMOTE_ADDR="192.0.2.7")

    assert response.status_code == 400
    assert_error_under(response, case.field, case.fragment)
    assert f'id="error_1_id_{case.field}"' in body_of(response)
    assert_kept(response, data, choices=SIGN_CHOICES, skip={"digest", *({case.field} & SIGN_CHOICES)})
    if case.field == "password":
        assert data["password"] not in body_of(response) or not data["password"]
    assert review_state() == before


@pytest.mark.parametrize(
    "digest",
    ["", "d" * 5000, "z" * 64, "0" * 63, "0" * 65, SCRIPT, "g" + "0" * 63, "0" * 64 + "\x00"],
    ids=["missing", "too-long", "not-hex", "short", "one-too-many", "script", "one-non-hex", "nul"],
)
def test_a_malformed_digest_is_refused_as_the_pages_digest(world, digest):
    review(world.round, world.technical)
    before = review_state()
    data = sign_data(world.round, meaning=Meaning.APPROVE_WITH_CONDITIONS, statement="Typed conditions.", digest=digest)

    response = _client(world.technical).post(world.url("round-sign"), data)

    assert response.status_code == 400
    assert response.context["form"].errors.get("digest"), "the digest is not refused by the form"
    body = body_of(response)
    assert "The page's digest is missing or malformed" in body.replace("&#x27;", "'")
    assert "<script>alert" not in body
    assert_kept(response, data, choices=SIGN_CHOICES, skip={"digest"})
    assert review_state() == before


def test_a_well_formed_digest_of_other_content_is_a_conflict_that_signs_nothing(world):
    review(world.round, world.technical)
    before = review_state()
    data = sign_data(world.round, digest="0" * 64, statement="Typed statement that must survive.")

    response = _client(world.technical).post(world.url("round-sign"), data)

    assert response.status_code == 409
    body = body_of(response)
    assert "showed a different digest" in body and "Typed statement that must survive." in body
    assert review_state() == before


def test_the_admin_cannot_sign_a_reviewers_meaning_when_the_final_decision_is_theirs(world):
    ReviewPolicy.objects.create(version_id=world.round.guideline_version_id, final_decision="admin")
    before = review_state()
    data = sign_data(world.round, meaning=Meaning.APPROVE, statement="Typed.")

    response = _client(world.admin).post(world.url("round-sign"), data)

    assert response.status_code == 400
    assert_error_under(response, "meaning", "Select a valid choice")
    assert review_state() == before


def test_signing_ignores_smuggled_signer_name_time_digest_and_status(world, other_researcher):
    review(world.round, world.technical)
    data = sign_data(
        world.round,
        meaning=Meaning.APPROVE_WITH_CONDITIONS,
        statement=SCRIPT,
        signer=world.clinical.pk,
        signer_id=world.clinical.pk,
        printed_name="Dr. Somebody Else",
        signed_at="2000-01-01T00:00:00Z",
        round_digest="0" * 64,
        round=0,
        project=0,
        status=ProjectStatus.APPROVED,
        signer_role="admin",
        hash="0" * 64,
        seq=1,
    )

    response = _client(world.technical).post(world.url("round-sign"), data)

    assert response.status_code == 302
    signature = Signature.objects.get()
    assert (signature.signer, signature.printed_name, signature.round) == (
        world.technical,
        world.technical.display_name,
        world.round,
    )
    assert signature.round_digest == world.round.digest
    assert abs((timezone.now() - signature.signed_at).total_seconds()) < 60
    assert signature.statement == SCRIPT
    world.project.refresh_from_db()
    assert world.project.status == ProjectStatus.IN_REVIEW
    for user, url in [
        (world.admin, world.url("round-detail")),
        (world.admin, reverse("notification-list")),
        (world.technical, world.url("round-sign")),
        (world.technical, world.url("round-detail")),
    ]:
        body = body_of(_client(user).get(url))
        assert escape(SCRIPT) in body, url
        assert_escaped(body)


# ---------------------------------------------------------------------------------------
# project-withdraw and project-amend


@cases(
    Case("reason-missing", {}, "reason", "Say why the project is withdrawn."),
    Case("reason-blank", {"reason": "   "}, "reason", "Say why the project is withdrawn."),
    Case("reason-oversized", {"reason": "w" * LONG}, "reason", f"at most 20000 characters (it has {LONG})"),
    Case("reason-nul", {"reason": "a\x00b"}, "reason", "Null characters are not allowed"),
)
def test_withdrawing_refuses_a_missing_or_bad_reason(world, case):
    before = review_state()

    response = _client(world.owner).post(world.url("project-withdraw"), case.changes)

    assert response.status_code == 400
    assert_error_under(response, case.field, case.fragment, form="withdraw_form")
    assert f'id="error_1_id_{case.field}"' in body_of(response)
    assert_kept(response, case.changes)
    assert review_state() == before


def test_withdrawing_stores_the_reason_as_typed_ignores_smuggled_fields_and_shows_it_escaped(world, other_researcher):
    data = {"reason": SCRIPT, "status": ProjectStatus.APPROVED, "owner": other_researcher.pk, "round": 0}

    response = _client(world.owner).post(world.url("project-withdraw"), data)

    assert response.status_code == 302
    world.project.refresh_from_db()
    assert (world.project.status, world.project.owner) == (ProjectStatus.WITHDRAWN, world.owner)
    outcome = RoundOutcome.objects.get(round=world.round)
    assert outcome.reasons == SCRIPT
    for user, url in [
        (world.owner, world.url("project-history")),
        (world.technical, reverse("notification-list")),
        (world.admin, world.url("round-detail")),
    ]:
        page = _client(user).get(url)
        assert page.status_code == 200, url
        assert escape(SCRIPT) in body_of(page), url
        assert_escaped(body_of(page))
    assert "<script>alert" not in body_of(_client(world.owner).get(world.url("project-detail")))


@pytest.fixture
def approved(project, admin_user) -> Project:
    round_ = submitted(project)
    reviewers_on(project, admin=admin_user)
    RoundOutcome.objects.create(round=round_, outcome="approved", decided_at=timezone.now(), decided_by=admin_user)
    Project.objects.filter(pk=project.pk).update(status=ProjectStatus.APPROVED)
    project.refresh_from_db()
    return project


def test_amending_ignores_every_posted_field_but_the_reason(approved, other_researcher, catalogue):
    data = {
        "status": ProjectStatus.APPROVED,
        "owner": other_researcher.pk,
        "guideline_version": 0,
        "title": SCRIPT,
        "round": 0,
        "reason": SCRIPT,
    }
    too_long = _client(approved.owner).post(
        reverse("project-amend", kwargs={"pk": approved.pk}), {"reason": "x" * LONG}
    )
    assert too_long.status_code == 400 and "at most 20000 characters" in body_of(too_long)

    response = _client(approved.owner).post(reverse("project-amend", kwargs={"pk": approved.pk}), data)

    assert response.status_code == 302
    approved.refresh_from_db()
    assert (approved.status, approved.owner, approved.guideline_version) == (
        ProjectStatus.AMENDMENT,
        approved.owner,
        catalogue,
    )
    assert approved.title == "Secret brain MRI project"


def test_amending_an_amendment_again_is_refused_with_a_message(approved):
    client = _client(approved.owner)
    client.post(reverse("project-amend", kwargs={"pk": approved.pk}), {"reason": "A second site joins."})
    before = review_state()

    response = client.post(reverse("project-amend", kwargs={"pk": approved.pk}), {"status": "approved"})

    assert response.status_code == 403
    assert review_state() == before


# ---------------------------------------------------------------------------------------
# Ids in the address


BIG = 10**30  # over any database integer


@pytest.mark.parametrize(
    ("name", "role", "kwargs"),
    [
        ("assignment-list", "admin", {"pk": BIG}),
        ("assignment-remove", "admin", {"assignment_pk": BIG}),
        ("assignment-remove", "admin", {"pk": BIG, "assignment_pk": 1}),
        ("assignment-respond", "invited", {"pk": BIG}),
        ("conflict-declare", "technical", {"pk": BIG}),
        ("round-review", "technical", {"number": BIG}),
        ("round-review", "technical", {"pk": BIG}),
        ("audit-waive", "technical", {"number": BIG, "audit": WAIVED}),
        ("round-sign", "technical", {"number": BIG}),
        ("project-withdraw", "owner", {"pk": BIG}),
        ("project-amend", "owner", {"pk": BIG}),
    ],
)
def test_an_id_too_large_for_the_database_is_not_found(world, name, role, kwargs):
    before = review_state()
    defaults: dict[str, Any] = {"pk": world.project.pk}
    if name in {"round-review", "round-sign", "audit-waive"}:
        defaults["number"] = world.round.number
    url = reverse(name, kwargs={**defaults, **kwargs})

    response = _client(getattr(world, role)).post(url, {"reason": "Typed.", "statement": "Typed."})

    assert response.status_code == 404, url
    assert review_state() == before


# ---------------------------------------------------------------------------------------
# notification-read


@pytest.fixture
def inbox(world, other_researcher) -> dict[str, Notification]:
    """One unread notification of the owner and one of another researcher."""
    made = {
        key: notify(
            key=f"hostile:{key}",
            recipients=[user],
            kind=NotificationKind.ASSIGNED,
            project=world.project,
            subject=f"Subject {key}",
            body="Body.",
            url=reverse("my-reviews"),
        )
        for user, key in [(world.owner, "mine"), (other_researcher, "theirs")]
    }
    return {key: notifications[0] for key, notifications in made.items()}


@cases(
    Case("non-numeric", {"notification": "abc"}, "notification", "Notification: not a notification number."),
    Case("script", {"notification": SCRIPT}, "notification", "Notification: not a notification number."),
    Case("decimal", {"notification": "1.5"}, "notification", "Notification: not a notification number."),
    Case("zero", {"notification": "0"}, "notification", "Notification: Ensure this value is greater than"),
    Case("negative", {"notification": "-5"}, "notification", "Notification: Ensure this value is greater than"),
    Case("huge", {"notification": "9" * 40}, "notification", "Notification: Ensure this value is less than"),
    Case("bigint", {"notification": str(2**63)}, "notification", "Notification: Ensure this value is less than"),
    Case("nul", {"notification": "1\x00"}, "notification", "Notification: not a notification number."),
    Case("next-oversized", {"next": "/" + "n" * 3000}, "next", "Page to return to: Ensure this value has at most"),
)
def test_marking_read_refuses_bad_values_naming_the_field(world, inbox, case):
    before = review_state()

    response = _client(world.owner).post(reverse("notification-read"), case.changes, follow=True)

    assert response.redirect_chain[-1][0] == reverse("notification-list")
    said = " ".join(_message_texts(response))
    assert "Nothing was marked as read." in said and escape(case.fragment) in escape(said), said
    assert "<script>alert" not in body_of(response)
    assert review_state() == before


@pytest.mark.parametrize("how", ["one", "all"])
def test_marking_read_never_touches_another_users_notifications(world, inbox, how):
    data = {"notification": str(inbox["theirs"].pk)} if how == "one" else {"user": inbox["theirs"].recipient_id}

    response = _client(world.owner).post(reverse("notification-read"), data)

    assert response.status_code == 302
    inbox["theirs"].refresh_from_db()
    inbox["mine"].refresh_from_db()
    assert inbox["theirs"].read_at is None
    assert (inbox["mine"].read_at is None) == (how == "one")


OFF_SITE = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "\\/evil.example",
    " //evil.example",
    "https:evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://testserver@evil.example/",
    "https://evil.example\\@testserver/",
    "//evil.example%2F..",
    "\t//evil.example",
    "/%09/evil.example",
    "https://testserver.evil.example/",
]


def _stays_on_site(location: str) -> bool:
    return location.startswith("/") and not location.startswith(("//", "/\\")) and "\\" not in location[:2]


@pytest.mark.parametrize("target", OFF_SITE)
@pytest.mark.parametrize("via", ["next", "referer", "both"])
def test_marking_read_never_redirects_off_the_site(world, inbox, target, via):
    data = {"notification": str(inbox["mine"].pk)}
    extra = {}
    if via in ("next", "both"):
        data["next"] = target
    if via in ("referer", "both"):
        extra["HTTP_REFERER"] = target

    response = _client(world.owner).post(reverse("notification-read"), data, **extra)

    assert response.status_code == 302
    location = response["Location"]
    assert _stays_on_site(location), location
    assert location == reverse("notification-list") or location == target, location
    inbox["mine"].refresh_from_db()
    assert inbox["mine"].read_at is not None


def test_marking_read_follows_an_on_site_next(world, inbox):
    target = reverse("my-reviews") + "?q=%22%3E%3Cscript%3E"

    response = _client(world.owner).post(
        reverse("notification-read"), {"next": target}, HTTP_REFERER="https://evil.example/"
    )

    assert response.status_code == 302 and response["Location"] == target


# ---------------------------------------------------------------------------------------
# Hostile text in what the review pages list


def test_a_hostile_title_and_name_are_shown_escaped_on_every_review_page(catalogue, admin_user):
    owner = ResearcherFactory(full_name=SCRIPT, affiliation=SCRIPT)
    project = ProjectFactory(owner=owner, guideline_version=catalogue, title=SCRIPT, summary=SCRIPT)
    round_ = submitted(project)
    technical, clinical = reviewers_on(project, admin=admin_user)
    invited = ReviewerFactory(full_name=SCRIPT, affiliation=SCRIPT, expertise=ExpertiseKind.ETHICS)
    assignment_create(actor=admin_user, project=project, reviewer=invited)
    assignment_respond(actor=invited, project=project, accept=False, decline_reason=SCRIPT)
    review(round_, technical)
    sign(round_, technical, Meaning.APPROVE_WITH_CONDITIONS, statement=SCRIPT)
    pages = [
        (admin_user, reverse("assignment-list", kwargs={"pk": project.pk})),
        (admin_user, reverse("notification-list")),
        (technical, reverse("my-reviews")),
        (technical, reverse("notification-list")),
        (technical, reverse("round-review", kwargs={"pk": project.pk, "number": 1})),
        (technical, reverse("round-sign", kwargs={"pk": project.pk, "number": 1})),
        (invited, reverse("my-reviews")),
        (invited, reverse("assignment-respond", kwargs={"pk": project.pk})),
        (clinical, reverse("assignment-respond", kwargs={"pk": project.pk})),
        (owner, reverse("notification-list")),
    ]
    for user, url in pages:
        page = _client(user).get(url)
        assert page.status_code == 200, url
        assert_escaped(body_of(page))
    project_withdraw(actor=owner, project=project, reason=SCRIPT)
    for user, url in pages:
        assert "<script>alert" not in body_of(_client(user).get(url)), url
