"""The board dashboard (admins only) and its CSV export. Thin: the figures are the selectors'."""

from __future__ import annotations

import csv
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from oversight.charts import board_charts
from oversight.export import board_rows
from oversight.forms import BoardFilterForm
from oversight.selectors import Board, BoardFilters, board, board_projects
from oversight.snapshot import board_snapshot, snapshot_interval, snapshot_max_age
from reviews.views.access import AuthedRequest


def _figures(request: AuthedRequest) -> tuple[BoardFilterForm, BoardFilters, Board]:
    if not request.user.has_perm("oversight.view_board"):
        raise PermissionDenied("only administrators see the board dashboard")
    form = BoardFilterForm(request.GET or None)
    filters = form.filters()
    if not filters.active:
        # The whole portfolio: the snapshot beat keeps (oversight.snapshot), not a 10 s count.
        return form, filters, board_snapshot()
    return form, filters, board(board_projects(filters), today=timezone.localdate(), filters=filters)


@login_required
@require_GET
def board_dashboard(request: AuthedRequest) -> HttpResponse:
    form, filters, figures = _figures(request)
    context = {
        "form": form,
        "filters": filters,
        "board": figures,
        "charts": {chart.key: chart for chart in board_charts(figures, filters.params)},
        "export_query": urlencode(filters.params),
        "snapshot_minutes": max(1, int(snapshot_interval().total_seconds() // 60)),
        "snapshot_max_minutes": max(1, int(snapshot_max_age().total_seconds() // 60)),
    }
    return render(request, "oversight/dashboard.html", context)


@login_required
@require_GET
def board_export(request: AuthedRequest) -> HttpResponse:
    _form, filters, figures = _figures(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="board-{timezone.localdate().isoformat()}.csv"'
    csv.writer(response).writerows(board_rows(figures, filters))
    return response
