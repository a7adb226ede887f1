"""The unfiltered board, computed in the background and kept in the cache.

Every figure of the whole portfolio is an aggregate over every project: its SQL grows with the
portfolio (9 s at 100,000 projects before issue 13), and no index makes a count of 100,000 rows
free. The unfiltered board, the one a board member opens first, is therefore a snapshot: the
Celery beat task `oversight.refresh_board_snapshot` recomputes it every
BOARD_SNAPSHOT_SECONDS (5 minutes by default) and the page shows it with the time it was
computed. A filtered board is narrower and is computed live, as before.

The staleness is bounded whether or not beat runs: a snapshot older than twice the interval,
or counted against another day (what is overdue changes at midnight), is not shown but
computed again on the spot (`board_snapshot`), so the page is never more than
2 x BOARD_SNAPSHOT_SECONDS behind the database. A snapshot is a whole `Board` computed in one
pass, so its figures agree with each other (the tiles, the charts, the CSV) as of one moment.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from oversight.selectors import Board, BoardFilters, board, board_projects

# Bump when Board's fields change: a snapshot pickled by older code is then never read.
SNAPSHOT_KEY = "oversight:board-snapshot:v2"
# One reader recounts; the others wait for its snapshot this long (a recount of 100,000
# projects takes about 7 s), then count themselves rather than fail.
RECOUNT_LOCK_KEY = "oversight:board-snapshot:recount"
RECOUNT_WAIT_SECONDS = 30
POLL_SECONDS = 0.25


def snapshot_interval() -> timedelta:
    """How often beat recomputes the snapshot (settings.BOARD_SNAPSHOT_SECONDS)."""
    return timedelta(seconds=settings.BOARD_SNAPSHOT_SECONDS)


def snapshot_max_age() -> timedelta:
    """The oldest snapshot the page shows: one missed beat is tolerated, two are not."""
    return 2 * snapshot_interval()


def board_snapshot_refresh() -> Board:
    """Compute the unfiltered board now and keep it for the next readers."""
    figures = board(board_projects(BoardFilters()), today=timezone.localdate())
    # Kept a little past its age limit only so that an expired one is replaced, never served.
    cache.set(SNAPSHOT_KEY, figures, timeout=int(snapshot_max_age().total_seconds()) + 60)
    return figures


def is_fresh(figures: Board, *, now: datetime) -> bool:
    return (
        figures.as_of is not None
        and now - figures.as_of <= snapshot_max_age()
        and figures.today == timezone.localdate(now)
    )


def _fresh_snapshot() -> Board | None:
    figures = cache.get(SNAPSHOT_KEY)
    if isinstance(figures, Board) and is_fresh(figures, now=timezone.now()):
        return figures
    return None


def board_snapshot() -> Board:
    """The unfiltered board as last computed, or computed now when there is none fresh enough.

    Readers who find none while another reader recounts wait for that recount instead of
    running the same whole-portfolio queries side by side (the lock is the cache's atomic add)."""
    figures = _fresh_snapshot()
    if figures is not None:
        return figures
    if cache.add(RECOUNT_LOCK_KEY, "1", timeout=RECOUNT_WAIT_SECONDS):
        try:
            return board_snapshot_refresh()
        finally:
            cache.delete(RECOUNT_LOCK_KEY)
    deadline = time.monotonic() + RECOUNT_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        figures = _fresh_snapshot()
        if figures is not None:
            return figures
    return board_snapshot_refresh()
