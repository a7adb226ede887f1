"""Every predicate of reviews.rules and every registered permission, over every role and status.

The expected answers are written out here rather than derived from reviews.enums, so a
change to the rules or to the set of editable states shows up as a failing test. Statuses
are parametrized from ProjectStatus, so a new status is covered (and must be placed in
the sets below) automatically.

Reviewers appear once per state of their assignment on the project asked about (none,
invited, accepted, accepted with a declared conflict, declined, removed, and accepted but
with the account deactivated).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import rules
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reviews import rules as review_rules
from reviews.enums import AssignmentStatus, ExpertiseKind, ProjectStatus, Role
from reviews.models import Assignment, Project
from reviews.services.assignments import (
    assignment_create,
    assignment_declare_conflict,
    assignment_remove,
    assignment_respond,
)
from tests.factories import AdminFactory, ProjectFactory, ResearcherFactory, ReviewerFactory
from tests.workflow import submitted

# The only states in which the owner may change or submit a project.
EDITABLE = {"draft", "changes_requested", "amendment"}
# The states a project can be withdrawn from.
OPEN = {"draft", "submitted", "in_review", "changes_requested", "amendment"}
# Reviewers can be assigned once a round exists and until the project is withdrawn.
ASSIGNABLE = {"submitted", "in_review", "changes_requested", "approved", "rejected", "amendment", "suspended"}
# An owner amends an approved project, or a suspended one to answer the suspension (issue 11).
AMENDABLE = {"approved", "suspended"}

# The assignment each reviewer role holds on the project asked about.
ASSIGNED = {
    "invited": (AssignmentStatus.INVITED, False),
    "accepted": (AssignmentStatus.ACCEPTED, False),
    "conflicted": (AssignmentStatus.ACCEPTED, True),
    "declined": (AssignmentStatus.DECLINED, False),
    "removed": (AssignmentStatus.REMOVED, False),
    "inactive_reviewer": (AssignmentStatus.ACCEPTED, False),
}
ROLES = [
    "anonymous",
    "owner",
    "other_researcher",
    "reviewer",  # a reviewer without any assignment on the project
    *ASSIGNED,
    "admin",
    "superuser",
    "inactive_owner",
]
STATUSES = list(ProjectStatus)


def only(*roles: str) -> dict[str, bool]:
    """The expected row: True for exactly these roles."""
    unknown = set(roles) - set(ROLES)
    assert not unknown, unknown
    return {role: role in roles for role in ROLES}


@pytest.fixture
def people(catalogue):
    """One user per role. `owner` owns the project; `inactive_owner` owns a project too."""
    reviewers = {
        role: ReviewerFactory(
            full_name=f"Rev {role}", expertise=ExpertiseKind.ETHICS, is_active=role != "inactive_reviewer"
        )
        for role in ["reviewer", *ASSIGNED]
    }
    return {
        "anonymous": AnonymousUser(),
        "owner": ResearcherFactory(full_name="Olga Owner"),
        "other_researcher": ResearcherFactory(full_name="Otto Other"),
        **reviewers,
        "admin": AdminFactory(full_name="Ada Admin", is_superuser=False),
        # As setup_demo makes it: an admin who is also a Django superuser.
        "superuser": AdminFactory(full_name="Sam Super", is_superuser=True),
        "inactive_owner": ResearcherFactory(full_name="Ivo Inactive", is_active=False),
    }


def _projects(people, status: str) -> dict[str, Project]:
    """For each role, the saved project (in `status`) it is asked about: the owner's, or the
    inactive owner's own one for that role. The reviewer roles hold their assignment on it,
    written as rows (the predicates are defined for every state, reachable or not)."""
    mine = ProjectFactory(owner=people["owner"], status=status, title="Olga's project")
    theirs = ProjectFactory(owner=people["inactive_owner"], status=status, title="Ivo's project")
    for role, (assignment_status, conflict) in ASSIGNED.items():
        Assignment.objects.create(
            project=mine,
            reviewer=people[role],
            assigned_by=people["superuser"],
            due_date=timezone.localdate() + timedelta(days=21),
            status=assignment_status,
            has_conflict=conflict,
            conflict_statement="I co-authored the generator." if conflict else "",
        )
    return {role: theirs if role == "inactive_owner" else mine for role in ROLES}


def _answers(people, status: str, check) -> dict[str, bool]:
    projects = _projects(people, status)
    return {role: check(people[role], projects[role]) for role in ROLES}


# --- registered permissions ---------------------------------------------------------------


def test_every_registered_reviews_permission_is_in_this_table():
    tested = {
        "reviews.view_project",
        "reviews.change_project",
        "reviews.submit_project",
        "reviews.add_project",
        "reviews.withdraw_project",
        "reviews.amend_project",
        "reviews.reinstate_project",
        "reviews.manage_catalogue",
        "reviews.respond_assignment",
        "reviews.assign_reviewers",
        "reviews.review_project",
        "reviews.decide_project",
        "reviews.view_catalogue",
        "reviews.manage_users",
    }
    registered = {name for name in rules.permissions.permissions if name.startswith("reviews.")}
    assert registered == tested


@pytest.mark.parametrize("status", STATUSES)
def test_view_project_owner_admins_and_accepted_reviewers_in_every_state(people, status):
    answers = _answers(people, status, lambda user, project: user.has_perm("reviews.view_project", project))
    # An invited reviewer sees the invitation, not the material; a declined or removed one
    # nothing; a declared conflict blocks signing, not reading (the admin reassigns).
    assert answers == only("owner", "accepted", "conflicted", "admin", "superuser")


@pytest.mark.parametrize("perm", ["reviews.change_project", "reviews.submit_project"])
@pytest.mark.parametrize("status", STATUSES)
def test_change_and_submit_only_owner_in_editable_states(people, perm, status):
    answers = _answers(people, status, lambda user, project: user.has_perm(perm, project))
    # Admins read every project but never answer or submit for the researcher.
    assert answers == (only("owner") if status in EDITABLE else only())


@pytest.mark.parametrize("status", STATUSES)
def test_withdraw_project_only_owner_while_open(people, status):
    answers = _answers(people, status, lambda user, project: user.has_perm("reviews.withdraw_project", project))
    assert answers == (only("owner") if status in OPEN else only())


@pytest.mark.parametrize("status", STATUSES)
def test_amend_project_only_owner_once_approved(people, status):
    answers = _answers(people, status, lambda user, project: user.has_perm("reviews.amend_project", project))
    assert answers == (only("owner") if status in AMENDABLE else only())


@pytest.mark.parametrize("status", STATUSES)
def test_reinstate_project_only_admins_once_suspended(people, status):
    answers = _answers(people, status, lambda user, project: user.has_perm("reviews.reinstate_project", project))
    assert answers == (only("admin", "superuser") if status == ProjectStatus.SUSPENDED else only())


@pytest.mark.parametrize("status", STATUSES)
def test_respond_assignment_only_reviewers_holding_an_invitation_or_acceptance(people, status):
    answers = _answers(people, status, lambda user, project: user.has_perm("reviews.respond_assignment", project))
    # An accepted reviewer still reaches the response page to declare a conflict later.
    assert answers == only("invited", "accepted", "conflicted")


@pytest.mark.parametrize("status", STATUSES)
def test_assign_reviewers_only_admins_once_submitted_and_not_withdrawn(people, status):
    answers = _answers(people, status, lambda user, project: user.has_perm("reviews.assign_reviewers", project))
    assert answers == (only("admin", "superuser") if status in ASSIGNABLE else only())


@pytest.mark.parametrize("status", STATUSES)
def test_review_project_only_accepted_conflict_free_reviewers(people, status):
    answers = _answers(people, status, lambda user, project: user.has_perm("reviews.review_project", project))
    # Whether the round is open is the services' check (lock_round_under_review).
    assert answers == only("accepted")


@pytest.mark.parametrize("status", STATUSES)
def test_decide_project_only_admins(people, status):
    answers = _answers(people, status, lambda user, project: user.has_perm("reviews.decide_project", project))
    assert answers == only("admin", "superuser")


def test_add_project_only_researchers(people):
    answers = {role: people[role].has_perm("reviews.add_project") for role in ROLES}
    assert answers == only("owner", "other_researcher")


def test_view_catalogue_every_active_account(people):
    answers = {role: people[role].has_perm("reviews.view_catalogue") for role in ROLES}
    assert answers == {role: role not in {"anonymous", "inactive_owner", "inactive_reviewer"} for role in ROLES}


def test_manage_users_only_admins(people):
    answers = {role: people[role].has_perm("reviews.manage_users") for role in ROLES}
    assert answers == only("admin", "superuser")


def test_deactivating_an_admin_removes_admin_rights(people):
    admin = people["admin"]
    admin.is_active = False
    admin.save()
    project = ProjectFactory(owner=people["owner"], status=ProjectStatus.SUBMITTED)
    assert not admin.has_perm("reviews.manage_users")
    assert not admin.has_perm("reviews.view_project", project)
    assert not admin.has_perm("reviews.assign_reviewers", project)
    assert not admin.has_perm("reviews.decide_project", project)


def test_an_admin_never_decides_their_own_project(catalogue):
    admin = AdminFactory()
    own = ProjectFactory(owner=admin, guideline_version=catalogue, status=ProjectStatus.IN_REVIEW)
    other = ProjectFactory(guideline_version=catalogue, status=ProjectStatus.IN_REVIEW)
    assert not admin.has_perm("reviews.decide_project", own)
    assert admin.has_perm("reviews.decide_project", other)


def test_a_reviewer_who_owns_the_project_neither_responds_nor_reviews(catalogue):
    # Only researchers create projects, but an account's role can change afterwards.
    reviewer = ReviewerFactory()
    project = ProjectFactory(owner=reviewer, guideline_version=catalogue, status=ProjectStatus.IN_REVIEW)
    Assignment.objects.create(
        project=project,
        reviewer=reviewer,
        assigned_by=AdminFactory(),
        due_date=timezone.localdate(),
        status=AssignmentStatus.ACCEPTED,
    )
    assert reviewer.has_perm("reviews.view_project", project)  # as its owner
    assert not reviewer.has_perm("reviews.respond_assignment", project)
    assert not reviewer.has_perm("reviews.review_project", project)


def test_permissions_follow_an_assignment_through_its_life_on_the_same_instance(catalogue, researcher):
    """The assignment read for a permission is cached on the project instance; every change
    to an assignment makes the next check read it again, so a page that checks, acts and
    checks again never answers from a stale row."""
    admin = AdminFactory()
    reviewer = ReviewerFactory()
    project = ProjectFactory(owner=researcher, guideline_version=catalogue)
    submitted(project)
    project.refresh_from_db()

    def perms() -> set[str]:
        names = ["view_project", "respond_assignment", "review_project"]
        return {name for name in names if reviewer.has_perm(f"reviews.{name}", project)}

    assert perms() == set()
    assignment_create(actor=admin, project=project, reviewer=reviewer)
    assert perms() == {"respond_assignment"}
    assignment_respond(actor=reviewer, project=project, accept=True)
    assert perms() == {"view_project", "respond_assignment", "review_project"}
    assignment_declare_conflict(actor=reviewer, project=project, statement="My former student.")
    assert perms() == {"view_project", "respond_assignment"}
    assignment_remove(actor=admin, assignment=Assignment.objects.get(reviewer=reviewer), reason="Conflict.")
    assert perms() == set()
    # Reads are cached between changes: asking again costs no query.
    with CaptureQueriesContext(connection) as queries:
        perms()
    assert len(queries) == 0


# --- predicates ---------------------------------------------------------------------------


def test_every_predicate_of_the_module_is_covered_here():
    predicates = {name for name, value in vars(review_rules).items() if isinstance(value, rules.Predicate)}
    assert predicates == {
        "is_admin",
        "is_researcher",
        "is_reviewer",
        "is_verified",
        "is_project_owner",
        "is_project_editable",
        "is_project_open",
        "is_project_approved",
        "is_project_suspended",
        "is_project_submitted",
        "is_invited_reviewer",
        "is_accepted_reviewer",
        "is_conflict_free_reviewer",
        "can_view_project",
        "can_edit_project",
        "can_submit_project",
        "can_create_project",
        "can_withdraw_project",
        "can_amend_project",
        "can_reinstate_project",
        "can_respond_assignment",
        "can_assign_reviewers",
        "can_review_project",
        "can_decide_project",
        "can_view_catalogue",
        "can_manage_users",
    }


def test_role_predicates(people):
    def row(predicate):
        return {role: predicate.test(people[role]) for role in ROLES}

    assert row(review_rules.is_admin) == only("admin", "superuser")
    assert row(review_rules.is_researcher) == only("owner", "other_researcher")
    assert row(review_rules.is_reviewer) == only("reviewer", "invited", "accepted", "conflicted", "declined", "removed")
    assert row(review_rules.can_create_project) == row(review_rules.is_researcher)
    assert row(review_rules.can_manage_users) == row(review_rules.is_admin)
    assert row(review_rules.can_view_catalogue) == {
        role: role not in {"anonymous", "inactive_owner", "inactive_reviewer"} for role in ROLES
    }


def test_a_superuser_with_the_default_researcher_role_is_still_an_admin(db):
    # createsuperuser leaves `role` at its default (researcher).
    superuser = ResearcherFactory(is_superuser=True, is_staff=True)
    assert review_rules.is_admin.test(superuser)


def test_a_reviewer_is_not_a_researcher(people):
    reviewer = people["reviewer"]
    assert reviewer.role == Role.REVIEWER
    assert not review_rules.is_researcher.test(reviewer)


@pytest.mark.parametrize("status", STATUSES)
def test_project_predicates(people, status):
    projects = _projects(people, status)

    def row(predicate):
        return {role: predicate.test(people[role], projects[role]) for role in ROLES}

    everyone = set(ROLES)
    editable, open_, approved, assignable = (
        status in EDITABLE,
        status in OPEN,
        status == ProjectStatus.APPROVED,
        status in ASSIGNABLE,
    )
    assert row(review_rules.is_project_owner) == only("owner")
    # The state alone, whoever asks.
    assert row(review_rules.is_project_editable) == (only(*everyone) if editable else only())
    assert row(review_rules.is_project_open) == (only(*everyone) if open_ else only())
    assert row(review_rules.is_project_approved) == (only(*everyone) if approved else only())
    assert row(review_rules.is_project_submitted) == (only(*everyone) if assignable else only())
    # The assignment alone, whatever the state.
    assert row(review_rules.is_invited_reviewer) == only("invited", "accepted", "conflicted")
    assert row(review_rules.is_accepted_reviewer) == only("accepted", "conflicted")
    assert row(review_rules.is_conflict_free_reviewer) == only("accepted")

    assert row(review_rules.can_view_project) == only("owner", "accepted", "conflicted", "admin", "superuser")
    assert row(review_rules.can_edit_project) == (only("owner") if editable else only())
    assert row(review_rules.can_submit_project) == (only("owner") if editable else only())
    assert row(review_rules.can_withdraw_project) == (only("owner") if open_ else only())
    assert row(review_rules.is_project_suspended) == (only(*everyone) if status == "suspended" else only())
    assert row(review_rules.can_amend_project) == (only("owner") if status in AMENDABLE else only())
    assert row(review_rules.can_reinstate_project) == (only("admin", "superuser") if status == "suspended" else only())
    assert row(review_rules.can_respond_assignment) == only("invited", "accepted", "conflicted")
    assert row(review_rules.can_assign_reviewers) == (only("admin", "superuser") if assignable else only())
    assert row(review_rules.can_review_project) == only("accepted")
    assert row(review_rules.can_decide_project) == only("admin", "superuser")


OBJECT_PREDICATES = [
    review_rules.is_project_owner,
    review_rules.is_project_editable,
    review_rules.is_project_open,
    review_rules.is_project_approved,
    review_rules.is_project_suspended,
    review_rules.is_project_submitted,
    review_rules.is_invited_reviewer,
    review_rules.is_accepted_reviewer,
    review_rules.is_conflict_free_reviewer,
    review_rules.can_view_project,
    review_rules.can_edit_project,
    review_rules.can_submit_project,
    review_rules.can_withdraw_project,
    review_rules.can_amend_project,
    review_rules.can_reinstate_project,
    review_rules.can_respond_assignment,
    review_rules.can_assign_reviewers,
    review_rules.can_review_project,
    review_rules.can_decide_project,
]


@pytest.mark.parametrize("predicate", OBJECT_PREDICATES, ids=lambda predicate: predicate.name)
def test_project_predicates_without_a_project(people, predicate):
    answers = {role: predicate.test(people[role], None) for role in ROLES}
    # Admins pass `is_admin` whatever the object (and own no missing project).
    admin_only = {review_rules.can_view_project, review_rules.can_decide_project}
    assert answers == (only("admin", "superuser") if predicate in admin_only else only())
