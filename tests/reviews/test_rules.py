"""Every predicate of reviews.rules and every registered permission, over every role and status.

The expected answers are written out here rather than derived from reviews.enums, so a
change to the rules or to the set of editable states shows up as a failing test. Statuses
are parametrized from ProjectStatus, so a new status is covered (and must be placed in
EDITABLE below) automatically.
"""

from __future__ import annotations

import pytest
import rules
from django.contrib.auth.models import AnonymousUser

from reviews import rules as review_rules
from reviews.enums import ExpertiseKind, ProjectStatus, Role
from reviews.models import Project
from tests.factories import AdminFactory, ProjectFactory, ResearcherFactory, ReviewerFactory

# The only states in which the owner may change or submit a project.
EDITABLE = {"draft", "changes_requested"}

ROLES = ["anonymous", "owner", "other_researcher", "reviewer", "admin", "superuser", "inactive_owner"]
STATUSES = list(ProjectStatus)


@pytest.fixture
def people(catalogue):
    """One user per role. `owner` owns the project; `inactive_owner` owns a project too."""
    inactive = ResearcherFactory(full_name="Ivo Inactive", is_active=False)
    return {
        "anonymous": AnonymousUser(),
        "owner": ResearcherFactory(full_name="Olga Owner"),
        "other_researcher": ResearcherFactory(full_name="Otto Other"),
        "reviewer": ReviewerFactory(full_name="Rita Reviewer", expertise=ExpertiseKind.ETHICS),
        "admin": AdminFactory(full_name="Ada Admin"),
        # As setup_demo makes it: an admin who is also a Django superuser.
        "superuser": AdminFactory(full_name="Sam Super", is_superuser=True),
        "inactive_owner": inactive,
    }


def _projects(people, status: str) -> dict[str, Project]:
    """For each role, the saved project (in `status`) it is asked about: the owner's, or the
    inactive owner's own one for that role."""
    mine = ProjectFactory(owner=people["owner"], status=status, title="Olga's project")
    theirs = ProjectFactory(owner=people["inactive_owner"], status=status, title="Ivo's project")
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
        "reviews.view_catalogue",
        "reviews.manage_users",
    }
    registered = {name for name in rules.permissions.permissions if name.startswith("reviews.")}
    assert registered == tested


@pytest.mark.parametrize("status", STATUSES)
def test_view_project_owner_and_admins_in_every_state(people, status):
    answers = _answers(people, status, lambda user, project: user.has_perm("reviews.view_project", project))
    assert answers == {
        "anonymous": False,
        "owner": True,
        "other_researcher": False,
        "reviewer": False,  # reviewers see projects once assignments exist
        "admin": True,
        "superuser": True,
        "inactive_owner": False,
    }


@pytest.mark.parametrize("perm", ["reviews.change_project", "reviews.submit_project"])
@pytest.mark.parametrize("status", STATUSES)
def test_change_and_submit_only_owner_in_editable_states(people, perm, status):
    answers = _answers(people, status, lambda user, project: user.has_perm(perm, project))
    owner_may = status in EDITABLE
    assert answers == {
        "anonymous": False,
        "owner": owner_may,
        "other_researcher": False,
        "reviewer": False,
        # Admins read every project but never answer or submit for the researcher.
        "admin": False,
        "superuser": False,
        "inactive_owner": False,
    }


def test_add_project_only_researchers(people):
    answers = {role: people[role].has_perm("reviews.add_project") for role in ROLES}
    assert answers == {
        "anonymous": False,
        "owner": True,
        "other_researcher": True,
        "reviewer": False,
        "admin": False,
        "superuser": False,
        "inactive_owner": False,
    }


def test_view_catalogue_every_active_account(people):
    answers = {role: people[role].has_perm("reviews.view_catalogue") for role in ROLES}
    assert answers == {
        "anonymous": False,
        "owner": True,
        "other_researcher": True,
        "reviewer": True,
        "admin": True,
        "superuser": True,
        "inactive_owner": False,
    }


def test_manage_users_only_admins(people):
    answers = {role: people[role].has_perm("reviews.manage_users") for role in ROLES}
    assert answers == {
        "anonymous": False,
        "owner": False,
        "other_researcher": False,
        "reviewer": False,
        "admin": True,
        "superuser": True,
        "inactive_owner": False,
    }


def test_deactivating_an_admin_removes_admin_rights(people):
    admin = people["admin"]
    admin.is_active = False
    admin.save()
    project = ProjectFactory(owner=people["owner"])
    assert not admin.has_perm("reviews.manage_users")
    assert not admin.has_perm("reviews.view_project", project)


# --- predicates ---------------------------------------------------------------------------


def test_every_predicate_of_the_module_is_covered_here():
    predicates = {name for name, value in vars(review_rules).items() if isinstance(value, rules.Predicate)}
    assert predicates == {
        "is_admin",
        "is_researcher",
        "is_reviewer",
        "is_project_owner",
        "is_project_editable",
        "can_view_project",
        "can_edit_project",
        "can_submit_project",
        "can_create_project",
        "can_view_catalogue",
        "can_manage_users",
    }


def test_role_predicates(people):
    def row(predicate):
        return {role: predicate.test(people[role]) for role in ROLES}

    assert row(review_rules.is_admin) == {
        "anonymous": False,
        "owner": False,
        "other_researcher": False,
        "reviewer": False,
        "admin": True,
        "superuser": True,
        "inactive_owner": False,
    }
    assert row(review_rules.is_researcher) == {
        "anonymous": False,
        "owner": True,
        "other_researcher": True,
        "reviewer": False,
        "admin": False,
        "superuser": False,
        "inactive_owner": False,
    }
    assert row(review_rules.is_reviewer) == {
        "anonymous": False,
        "owner": False,
        "other_researcher": False,
        "reviewer": True,
        "admin": False,
        "superuser": False,
        "inactive_owner": False,
    }
    assert row(review_rules.can_create_project) == row(review_rules.is_researcher)
    assert row(review_rules.can_manage_users) == row(review_rules.is_admin)
    assert row(review_rules.can_view_catalogue) == {
        "anonymous": False,
        "owner": True,
        "other_researcher": True,
        "reviewer": True,
        "admin": True,
        "superuser": True,
        "inactive_owner": False,
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

    editable = status in EDITABLE
    owner_only = {role: role == "owner" for role in ROLES}
    assert row(review_rules.is_project_owner) == owner_only
    # The state alone, whoever asks.
    assert row(review_rules.is_project_editable) == {role: editable for role in ROLES}
    assert row(review_rules.can_view_project) == {
        **owner_only,
        "admin": True,
        "superuser": True,
    }
    assert row(review_rules.can_edit_project) == {role: role == "owner" and editable for role in ROLES}
    assert row(review_rules.can_submit_project) == {role: role == "owner" and editable for role in ROLES}


@pytest.mark.parametrize(
    "predicate",
    [
        review_rules.is_project_owner,
        review_rules.is_project_editable,
        review_rules.can_view_project,
        review_rules.can_edit_project,
        review_rules.can_submit_project,
    ],
    ids=lambda predicate: predicate.name,
)
def test_project_predicates_without_a_project(people, predicate):
    answers = {role: predicate.test(people[role], None) for role in ROLES}
    expected = {role: False for role in ROLES}
    if predicate is review_rules.can_view_project:
        # Admins pass `is_admin` whatever the object.
        expected.update(admin=True, superuser=True)
    assert answers == expected
