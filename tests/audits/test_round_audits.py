"""The audits a round is judged on (audits.selectors.round_audits): a succeeded run's statuses and
sentences are read once per process and kept (its results never change), each run its own."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audits.enums import AuditName, RunStatus
from audits.selectors import round_audits
from tests.audits.test_pages import add_run, all_results, make_result

pytestmark = pytest.mark.django_db


def _round_of(run) -> SimpleNamespace:  # type: ignore[no-untyped-def]
    """What round_audits reads of a round: its project and the run its snapshot froze."""
    return SimpleNamespace(
        project_id=run.project_id, snapshot={"image_sets": [{"role": "synthetic"}], "audit_results": {"run": run.pk}}
    )


def test_each_run_shows_its_own_results_and_a_second_reading_is_one_query(project):
    passing = add_run(project, results=all_results("pass"))
    failing = add_run(project, results={**all_results("pass"), "memorization": make_result("memorization", "fail")})
    pending = add_run(project, status=RunStatus.RUNNING, results={})

    with CaptureQueriesContext(connection) as cold:
        first = round_audits(_round_of(failing))
    with CaptureQueriesContext(connection) as warm:
        again = round_audits(_round_of(failing))
    assert len(cold) == 2 and len(warm) == 1  # the run; its statuses and sentences only the first time
    assert first == again and first.state == "ready" and first.run.pk == failing.pk
    assert first.status_of(AuditName.MEMORIZATION) == "fail" and first.status_of(AuditName.FIDELITY) == "pass"
    assert {a.summary for a in first.audits} >= {make_result("memorization", "fail")["summary"]}
    assert first.audits[0].url.endswith(f"/audits/runs/{failing.pk}/{first.audits[0].audit}/")

    other = round_audits(_round_of(passing))
    assert other.run.pk == passing.pk and {a.status for a in other.audits} == {"pass"}
    assert round_audits(_round_of(failing)).status_of(AuditName.MEMORIZATION) == "fail"
    assert round_audits(_round_of(pending)).state == "missing"  # its run has not succeeded: nothing kept
