"""The unfiltered board is a snapshot (oversight.snapshot): the same figures as counting live,
shown with the time they were counted, recomputed by the beat task, and never older than twice
its interval or counted against another day. Filtered boards are counted live."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from oversight.selectors import BoardFilters, board, board_projects
from oversight.snapshot import SNAPSHOT_KEY, board_snapshot
from oversight.tasks import refresh_board_snapshot
from reviews.enums import ProjectStatus
from reviews.models import Project
from tests.factories import AdminFactory, ProjectFactory
from tests.oversight.test_board_queries import DASHBOARD, EXPORT, FIGURES
from tests.oversight.worlds import bulk_world, small_world

URL = reverse("board-dashboard")


@pytest.fixture
def world(catalogue):
    return small_world(catalogue)


def total_on_page(client, query: dict[str, object] | None = None) -> int:
    html = client.get(URL, query or {}).content.decode()
    tile = html.split('id="tile-projects"', 1)[1]
    return int(tile.split('<div class="fs-3 fw-semibold">', 1)[1].split("<", 1)[0])


def add_draft(world) -> Project:
    return ProjectFactory(owner=world.projects["draft"].owner, status=ProjectStatus.DRAFT)


def age_snapshot(by: timedelta, *, days: int = 0) -> None:
    """Make the kept snapshot look computed `by` ago (and `days` days before today)."""
    kept = cache.get(SNAPSHOT_KEY)
    assert kept is not None, "no snapshot kept"
    today = timezone.localdate() - timedelta(days=days)
    cache.set(SNAPSHOT_KEY, dataclasses.replace(kept, as_of=timezone.now() - by, today=today))


def test_the_snapshot_has_the_live_figures(world):
    live = board(board_projects(BoardFilters()), today=timezone.localdate())
    kept = board_snapshot()
    assert dataclasses.replace(kept, as_of=None) == dataclasses.replace(live, as_of=None)
    assert kept.total == world.expected["total"]


def test_the_page_says_when_the_figures_were_counted(client, world, settings):
    settings.BOARD_SNAPSHOT_SECONDS = 300
    client.force_login(world.admin)
    html = client.get(URL).content.decode()
    as_of = html.split('id="board-as-of"', 1)[1].split("</p>", 1)[0]
    assert f"Figures as of {timezone.localtime().strftime('%H:%M')}" in as_of
    assert "counted every 5 minutes" in as_of and "within 10 minutes" in as_of
    filtered = client.get(URL, {"modality": "CT"}).content.decode()
    assert "Filtered figures are counted as the page loads" in filtered
    assert "Figures as of" not in filtered


def test_a_change_shows_after_the_next_refresh_and_filtered_boards_at_once(client, world):
    client.force_login(world.admin)
    before = total_on_page(client)
    draft = add_draft(world)
    assert total_on_page(client) == before  # the snapshot, not yet recounted
    version = {"version": draft.guideline_version_id}
    assert total_on_page(client, version) == Project.objects.filter(guideline_version=draft.guideline_version).count()
    refresh_board_snapshot.apply()  # what beat runs every BOARD_SNAPSHOT_SECONDS
    assert total_on_page(client) == before + 1


def test_a_snapshot_past_twice_the_interval_is_recounted_on_the_spot(client, world, settings):
    settings.BOARD_SNAPSHOT_SECONDS = 300
    client.force_login(world.admin)
    before = total_on_page(client)
    add_draft(world)
    age_snapshot(timedelta(seconds=599))
    assert total_on_page(client) == before  # one missed beat: still shown
    age_snapshot(timedelta(seconds=601))
    assert total_on_page(client) == before + 1  # two missed beats: counted again


def test_a_snapshot_of_yesterday_is_recounted(client, world):
    client.force_login(world.admin)
    before = total_on_page(client)
    add_draft(world)
    age_snapshot(timedelta(seconds=1), days=1)  # overdue means something else today
    assert total_on_page(client) == before + 1


def test_a_snapshot_left_by_other_code_is_never_shown(client, world):
    client.force_login(world.admin)
    cache.set(SNAPSHOT_KEY, {"total": 999})
    assert total_on_page(client) == world.expected["total"]


def test_the_export_says_when_its_figures_were_counted(client, world):
    client.force_login(world.admin)
    client.get(URL)
    kept = cache.get(SNAPSHOT_KEY)
    rows = list(csv.reader(io.StringIO(client.get(reverse("board-export")).content.decode())))
    assert ["Figures as of", "", "", kept.as_of.isoformat(timespec="seconds"), ""] in rows


@pytest.fixture(params=[10, 1000], ids=["10-projects", "1000-projects"])
def portfolio(request, catalogue):
    bulk_world(catalogue, request.param)
    return request.param


def test_a_kept_snapshot_costs_no_figure_query_at_any_size(client, django_assert_num_queries, portfolio):
    client.force_login(AdminFactory())
    with django_assert_num_queries(DASHBOARD):  # the first reader after a start counts
        client.get(URL)
    with django_assert_num_queries(DASHBOARD - FIGURES):
        response = client.get(URL)
    assert f">{portfolio}</div>" in response.content.decode()
    with django_assert_num_queries(EXPORT - FIGURES):
        client.get(reverse("board-export"))


def test_a_reader_waits_for_a_recount_under_way_instead_of_counting_again(world, django_assert_num_queries):
    import threading

    from oversight.snapshot import RECOUNT_LOCK_KEY

    counted = board(board_projects(BoardFilters()), today=timezone.localdate())
    marked = dataclasses.replace(counted, total=12345)  # only the other reader's snapshot says so
    assert cache.add(RECOUNT_LOCK_KEY, "1")  # another reader is counting
    other = threading.Timer(0.5, lambda: cache.set(SNAPSHOT_KEY, marked))
    other.start()
    try:
        with django_assert_num_queries(0):
            assert board_snapshot().total == 12345
    finally:
        other.join()


def test_a_reader_counts_itself_when_a_recount_never_ends(world, monkeypatch):
    from oversight import snapshot

    monkeypatch.setattr(snapshot, "RECOUNT_WAIT_SECONDS", 0.3)
    assert cache.add(snapshot.RECOUNT_LOCK_KEY, "1")  # a reader that died while counting
    assert board_snapshot().total == world.expected["total"]
