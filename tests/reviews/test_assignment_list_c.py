"""The admin's reviewer suggestions name each reviewer by full name and username: two people
with the same name are told apart before one is assigned."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from reviews.enums import ExpertiseKind
from reviews.services.assignments import assignment_create
from tests.factories import ReviewerFactory
from tests.workflow import submitted


def test_suggestions_and_assignments_show_the_username_beside_the_name(project, admin_user):
    submitted(project)
    first = ReviewerFactory(username="jsmith", full_name="Jo Smith", expertise=ExpertiseKind.CLINICAL)
    second = ReviewerFactory(username="jsmith2", full_name="Jo Smith", expertise=ExpertiseKind.TECHNICAL)
    assignment_create(actor=admin_user, project=project, reviewer=first)
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("assignment-list", kwargs={"pk": project.pk})).content.decode()
    suggestion = page[page.index(f'id="suggestion-{second.pk}"') :]
    assert 'Jo Smith <span class="small text-muted reviewer-username">(jsmith2)</span>' in suggestion[:400]
    assigned = page[page.index('id="assignment-') :]
    assert 'Jo Smith <span class="small text-muted reviewer-username">(jsmith)</span>' in assigned[:400]
