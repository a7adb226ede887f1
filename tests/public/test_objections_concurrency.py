"""Two administrators decide the same objection at the same instant (real PostgreSQL, each on
its own connection as the application's role): exactly one decision takes effect, the other
is told the objection was decided, and the chained log holds one decision."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from public.models import Objection, ObjectionStatus, Remedy
from public.services.objections import ObjectionClosed, objection_dismiss, objection_send, objection_uphold
from reviews.enums import Action, ProjectStatus
from reviews.models import ActivityEntry, Project, User
from reviews.services.chain import chain_verify
from tests.factories import AdminFactory, ResearcherFactory
from tests.public.test_objections import listed_approved
from tests.reviews.test_concurrency import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _decider(objection_pk: int, admin_pk: int, decide: str) -> Callable[[], Objection]:
    """What one admin's POST does: load the objection its page showed, and decide."""

    def call() -> Objection:
        objection = Objection.objects.get(pk=objection_pk)
        admin = User.objects.get(pk=admin_pk)
        if decide == "uphold":
            return objection_uphold(actor=admin, objection=objection, remedy=Remedy.SUSPENSION, reason="Upheld.")
        return objection_dismiss(actor=admin, objection=objection, reason="Dismissed.")

    return call


@pytest.mark.parametrize(
    "moves",
    [("uphold", "dismiss"), ("dismiss", "dismiss"), ("uphold", "uphold")],
    ids=["uphold-dismiss", "dismiss-dismiss", "uphold-uphold"],
)
def test_two_administrators_decide_at_once_and_one_wins(catalogue, moves):
    first, second = AdminFactory(full_name="Ada First"), AdminFactory(full_name="Abe Second")
    project = listed_approved(ResearcherFactory(), catalogue, title="Contested synthetic CT", admin=first)
    objection = objection_send(project=project, title=project.title, kind="objection", text="No consent.").objection

    results = run_together(
        *(_decider(objection.pk, admin.pk, move) for admin, move in zip((first, second), moves, strict=True))
    )

    winners = [r for r in results if r.ok]
    assert len(winners) == 1, [r.error for r in results]
    [loser] = [r for r in results if not r.ok]
    assert isinstance(loser.error, ObjectionClosed) and "a decided objection does not change" in str(loser.error)
    objection.refresh_from_db()
    assert objection.status in (ObjectionStatus.UPHELD, ObjectionStatus.DISMISSED)
    assert objection.decided_by_id in (first.pk, second.pk)
    decisions = ActivityEntry.objects.filter(action=Action.TRIAGE, new__step__in=["uphold", "dismiss"])
    assert decisions.count() == 1
    upheld = objection.status == ObjectionStatus.UPHELD
    assert Project.objects.get(pk=project.pk).status == (ProjectStatus.SUSPENDED if upheld else ProjectStatus.APPROVED)
    assert ActivityEntry.objects.filter(action=Action.SUSPEND).count() == (1 if upheld else 0)
    assert list(chain_verify(ActivityEntry)) == []
