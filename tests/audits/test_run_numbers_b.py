"""Run numbers count each project's runs from 1, in order of creation, whatever other projects do."""

from __future__ import annotations

import importlib
import threading
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import IntegrityError, connections, transaction
from django.urls import reverse
from django.utils import timezone

from audits.enums import RunStatus, SetRole
from audits.models import AuditRun, ImageSet
from audits.services import runs
from tests.factories import ProjectFactory, ResearcherFactory

RESULTS = {"disclosure": {"status": "pass", "summary": "All 3 files are marked synthetic."}}


def _set(project, user, digest: str = "a" * 64) -> ImageSet:
    return ImageSet.objects.create(
        project=project, role=SetRole.SYNTHETIC, uploaded_by=user, digest=digest, n_files=3, n_accepted=3
    )


def _finish(run: AuditRun) -> None:
    AuditRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, results=RESULTS, finished_at=timezone.now())


@pytest.mark.django_db
def test_a_projects_first_run_is_number_one_and_the_pages_say_so(client, project, researcher) -> None:
    other = ProjectFactory(owner=ResearcherFactory())
    for digest in ("c" * 64, "d" * 64, "e" * 64):  # other projects' runs come first
        ImageSet.objects.filter(project=other).update(is_current=False)
        _set(other, other.owner, digest)
        _finish(runs.audit_run_request(project=other, actor=other.owner, reason="upload"))
    image_set = _set(project, researcher)
    first = runs.audit_run_request(project=project, actor=researcher, reason="upload")
    _finish(first)
    reused = runs.audit_run_request(project=project, actor=researcher, reason="again")  # results reused
    ImageSet.objects.filter(pk=image_set.pk).update(digest="b" * 64)
    third = runs.audit_run_request(project=project, actor=researcher, reason="new images")
    assert (first.number, reused.number, third.number) == (1, 2, 3)
    assert first.pk > 3 and str(first).startswith("Audit run #1 (")
    assert sorted(AuditRun.objects.filter(project=other).values_list("number", flat=True)) == [1, 2, 3]

    client.force_login(researcher)
    overview = client.get(reverse("audits-overview", kwargs={"pk": project.pk})).content.decode()
    assert f'{reused.get_absolute_url()}">#2</a>' in overview and f'{first.get_absolute_url()}">#1</a>' in overview
    assert f">#{first.pk}<" not in overview
    page = client.get(reused.get_absolute_url()).content.decode()
    assert "Audit run #2" in page and "run #1</a>: its results are reused" in page


@pytest.mark.django_db
def test_the_database_refuses_two_runs_with_one_number_in_a_project(project) -> None:
    AuditRun.objects.create(project=project, reason="x", input_digest="0" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditRun.objects.create(project=project, number=1, reason="y", input_digest="0" * 64)


@pytest.mark.django_db
def test_the_backfill_numbers_existing_runs_in_order_of_creation(project) -> None:
    other = ProjectFactory(owner=ResearcherFactory())
    now = timezone.now()
    created = []
    for minutes, owner in ((5, project), (1, other), (3, project), (4, other), (9, project)):
        run = AuditRun.objects.create(project=owner, reason="x", input_digest="0" * 64)
        AuditRun.objects.filter(pk=run.pk).update(created_at=now - timedelta(minutes=minutes), number=100 + run.pk)
        created.append(run.pk)
    migration = importlib.import_module("audits.migrations.0004_run_number")
    migration.number_runs(apps, None)
    numbers = dict(AuditRun.objects.values_list("pk", "number"))
    # project: created 9, 5, 3 minutes ago; other: 4, 1 minutes ago
    assert [numbers[pk] for pk in created] == [2, 2, 3, 1, 1]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_runs_created_at_once_get_distinct_numbers() -> None:
    project = ProjectFactory(owner=ResearcherFactory())
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def create(index: int) -> None:
        try:
            barrier.wait(timeout=20)
            AuditRun.objects.create(project_id=project.pk, reason=f"thread {index}", input_digest="0" * 64)
        except BaseException as exc:  # noqa: BLE001 (asserted below)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create, args=(i,), daemon=True) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == []
    assert sorted(AuditRun.objects.filter(project=project).values_list("number", flat=True)) == [1, 2, 3, 4]
