"""The 403 page says why a project could not be created (issue 10, "precise refusals")."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import ResearcherFactory, ReviewerFactory

pytestmark = pytest.mark.django_db


def test_a_reviewer_is_told_that_projects_are_created_by_researchers(client):
    client.force_login(ReviewerFactory())
    response = client.get(reverse("project-new"))
    assert response.status_code == 403
    assert "projects are created by researchers" in response.content.decode()


def test_an_unconfirmed_researcher_is_told_to_confirm_the_account(client):
    client.force_login(ResearcherFactory(email_verified_at=None))
    response = client.get(reverse("project-new"))
    assert response.status_code == 403
    assert "your account is not confirmed yet" in response.content.decode()
