"""The public app's permissions, for every kind of user, anonymous included."""

from __future__ import annotations

import pytest
import rules
from django.contrib.auth.models import AnonymousUser

from public.models import Objection

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(researcher, other_researcher, reviewer, admin_user):  # type: ignore[no-untyped-def]
    return {
        "anonymous": AnonymousUser(),
        "owner": researcher,
        "other": other_researcher,
        "reviewer": reviewer,
        "admin": admin_user,
    }


def _who(people, perm: str, obj: object = None) -> set[str]:  # type: ignore[no-untyped-def]
    return {name for name, user in people.items() if rules.has_perm(perm, user, obj)}


@pytest.mark.parametrize("perm", ["public.manage_register", "public.triage_objection"])
def test_the_register_and_the_triage_are_the_administrators(people, perm):
    assert _who(people, perm) == {"admin"}


def test_only_the_owner_of_the_objections_project_responds(people, project):
    objection = Objection.objects.create(project=project, kind="objection", text="Why?", token_sha256="c" * 64)
    assert _who(people, "public.respond_objection", objection) == {"owner"}
    assert _who(people, "public.respond_objection", None) == set()
    people["owner"].is_active = False
    assert _who(people, "public.respond_objection", objection) == set()
