"""The audits pages of a project: image sets, runs, one audit's evidence and charts, thresholds.

Every view authorises on the project first (reviews.views.access.get_project: 404 for what
the user may not see, 403 for what they may see but not change); sets, runs and files are
then looked up inside that project, so an id from another project is simply not found.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audits import charts
from audits.enums import FINAL_RUN_STATUSES, RunStatus, SetRole, SetStatus
from audits.forms_thresholds import ThresholdsForm
from audits.models import AuditConfig, AuditRun, ImageSet
from audits.selectors import (
    AUDIT_LABELS,
    AUDITS,
    FILES_PER_PAGE,
    ROLE_ORDER,
    current_and_ingesting_sets,
    current_thresholds,
    has_synthetic_set,
    image_set_files,
    image_thumbnail_png,
    latest_run,
    project_image_file,
    project_run,
    run_audit_result,
    run_files_by_name,
    run_history,
    run_history_rows,
    run_summary,
    shown_results,
)
from audits.services.config import ThresholdsFrozen, audit_config_update
from audits.services.ingest import WORKERS_UNREACHABLE
from audits.services.runs import audit_run_request, run_waiting_for_workers
from reviews.models import Project
from reviews.throttling import Limit, by_user, throttle
from reviews.views.access import AuthedRequest, get_project

RUNS_PER_PAGE = 20


@login_required
@require_GET
def audits_overview(request: AuthedRequest, pk: int) -> HttpResponse:
    project = get_project(request, pk)
    sets, ingesting = current_and_ingesting_sets(project)
    page = Paginator(run_history(project), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    roles = {image_set.role for image_set in sets}
    latest, shown = latest_run(project), shown_results(project)
    context = {
        "project": project,
        "sets": sets,
        "ingesting": ingesting,
        "missing_roles": [(role, label) for role, label in SetRole.choices if role not in roles],
        "latest": latest,
        "shown": shown,
        "results": shown.summary if shown is not None else None,
        "running": latest is not None
        and latest.status in (RunStatus.QUEUED, RunStatus.RUNNING)
        and (shown is None or latest.pk != shown.summary.run.pk),
        "page": page,
        "history": run_history_rows(list(page.object_list)),
        "audit_labels": AUDIT_LABELS,
        "can_upload": request.user.has_perm("reviews.change_project", project),
        "can_run": request.user.has_perm("audits.run_audits", project),
        "has_synthetic": SetRole.SYNTHETIC in roles,
    }
    return render(request, "audits/overview.html", context)


@login_required
@require_GET
def image_set_detail(request: AuthedRequest, pk: int, set_pk: int) -> HttpResponse:
    """The set's files once read; while a worker reads them, its progress (static/js/audits.js polls)."""
    project = get_project(request, pk)
    image_set = get_object_or_404(ImageSet.objects.select_related("uploaded_by"), pk=set_pk, project=project)
    page = Paginator(image_set_files(image_set), FILES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "project": project,
        "image_set": image_set,
        "page": page,
        "files": page.object_list,
        "waiting_for_workers": image_set.is_ingesting and image_set.message == WORKERS_UNREACHABLE,
        "has_synthetic": image_set.role == SetRole.SYNTHETIC or has_synthetic_set(project),
        "can_upload": request.user.has_perm("reviews.change_project", project),
    }
    return render(request, "audits/image_set_detail.html", context)


@login_required
@require_GET
def image_set_status(request: AuthedRequest, pk: int, set_pk: int) -> JsonResponse:
    """What the set page polls while the files are read: counts, and whether it has ended."""
    project = get_project(request, pk)
    image_set = get_object_or_404(ImageSet, pk=set_pk, project=project)
    response = JsonResponse(
        {
            "status": image_set.status,
            "status_label": image_set.get_status_display(),
            "finished": not image_set.is_ingesting,
            "started": bool(image_set.worker),
            "files": image_set.n_files,
            "read": image_set.n_read,
            "accepted": image_set.n_accepted,
            "rejected": image_set.n_rejected,
            "message": image_set.message,
        }
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@throttle(Limit("audit-run-user", by_user))
@require_POST
def audit_run_start(request: AuthedRequest, pk: int) -> HttpResponse:
    project = get_project(request, pk, perm="audits.run_audits")
    if not ImageSet.objects.filter(project=project, role=SetRole.SYNTHETIC, is_current=True).exists():
        if ImageSet.objects.filter(project=project, role=SetRole.SYNTHETIC, status=SetStatus.INGESTING).exists():
            messages.info(
                request, "The synthetic set is still being read; the audits start by themselves once it is done."
            )
        else:
            messages.warning(request, "Upload a synthetic image set first: every audit needs one.")
        return redirect("audits-overview", pk=project.pk)
    newest_before = AuditRun.objects.filter(project=project).order_by("-pk").values_list("pk", flat=True).first()
    run = audit_run_request(project=project, actor=request.user, reason=f"requested by {request.user.display_name}")
    if newest_before is not None and run.pk <= newest_before:
        messages.info(request, f"Run #{run.number} on the same images and thresholds is already under way.")
    elif run.reused_from is not None:
        messages.success(
            request,
            f"Nothing changed since run #{run.reused_from.number}: its results are reused in run #{run.number}.",
        )
    elif run_waiting_for_workers(run):
        messages.warning(
            request,
            f"Audit run #{run.number} is queued; the workers are unreachable right now, it will start when they are back.",
        )
    else:
        messages.success(request, f"Audit run #{run.number} is queued. This page follows its progress.")
    return redirect(run)


@login_required
@require_http_methods(["GET", "POST"])
def audit_thresholds(request: AuthedRequest, pk: int) -> HttpResponse:
    """The thresholds in force, editable while the project is (audits.rules), else read-only.

    A POST that may not change them (a submitted project, a reviewer) shows the page again
    with why, status 403, and saves nothing.
    """
    project = get_project(request, pk)
    can_change = request.user.has_perm("audits.change_thresholds", project)
    config = AuditConfig.objects.filter(project=project).select_related("updated_by").first()
    values, set_aside = current_thresholds(project)
    frozen_round = None if project.is_editable else project.rounds.order_by("-number").first()
    refused = ""
    form = ThresholdsForm(request.POST if request.method == "POST" and can_change else None, current=values)
    if request.method == "POST" and not can_change:
        refused = (
            str(ThresholdsFrozen(project))
            if not project.is_editable
            else "Only the project's researcher or an admin can change its thresholds. Nothing was saved."
        )
    if not can_change:
        form.disable()
    if request.method == "POST" and can_change and form.is_valid():
        try:
            saved = audit_config_update(project=project, actor=request.user, values=form.values())
        except ThresholdsFrozen as error:  # submitted since the page was loaded
            refused, can_change = str(error), False
            project.refresh_from_db(fields=["status"])
            frozen_round = project.rounds.order_by("-number").first()
            form = ThresholdsForm(current=values)
            form.disable()
        else:
            chosen = sum(len(values) for values in saved.params.values())
            messages.success(
                request,
                f"Thresholds saved: {chosen} value(s) differ from the defaults. Run the audits again to apply them.",
            )
            return redirect("audits-overview", pk=project.pk)
    context = {
        "project": project,
        "form": form,
        "config": config,
        "can_change": can_change,
        "frozen_round": frozen_round,
        "set_aside": set_aside,
        "refused": refused,
    }
    status = 403 if refused else 400 if form.errors else 200
    return render(request, "audits/thresholds.html", context, status=status)


def _project_run(request: AuthedRequest, pk: int, run_pk: int) -> tuple[Project, AuditRun]:
    project = get_project(request, pk)
    run = project_run(project, run_pk)
    if run is None:
        raise Http404("No such audit run")
    return project, run


@login_required
@require_GET
def audit_run_detail(request: AuthedRequest, pk: int, run_pk: int) -> HttpResponse:
    project, run = _project_run(request, pk, run_pk)
    context = {
        "project": project,
        "run": run,
        "summary": run_summary(run),
        "sets": sorted(run.sets.all(), key=lambda s: ROLE_ORDER.get(s.role, len(ROLE_ORDER))),
        "finished": run.status in FINAL_RUN_STATUSES,
        "can_run": request.user.has_perm("audits.run_audits", project),
    }
    return render(request, "audits/run_detail.html", context)


@login_required
@require_GET
def audit_run_status(request: AuthedRequest, pk: int, run_pk: int) -> JsonResponse:
    """What the run page polls: progress while it runs, each audit's status once it is done."""
    _project, run = _project_run(request, pk, run_pk)
    summary = run_summary(run)
    response = JsonResponse(
        {
            "status": run.status,
            "status_label": run.get_status_display(),
            "progress": run.progress,
            "message": run.progress_message,
            "finished": run.status in FINAL_RUN_STATUSES,
            "audits": {entry.audit: entry.status for entry in summary.audits},
        }
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def audit_result_detail(request: AuthedRequest, pk: int, run_pk: int, audit: str) -> HttpResponse:
    project = get_project(request, pk)
    if audit not in AUDITS:
        raise Http404("No such audit")
    found = run_audit_result(project, run_pk, audit)
    if found is None:
        raise Http404("No such audit run")
    run, result = found
    if result is None:
        if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            messages.info(request, "This run has not finished yet.")
            return redirect(run)
        raise Http404("This run has no result for this audit")
    rows, nested = charts.metric_rows(result)
    flagged_columns, flagged_rows = charts.flagged_table(result)
    subgroup_columns, subgroup_rows = charts.subgroup_metrics(result)
    unmarked, unmarked_total = charts.file_list(result, "unmarked_files")
    context = {
        "project": project,
        "run": run,
        "audit": audit,
        "audit_label": AUDIT_LABELS[audit],
        "result": result,
        "status": result.get("status") if result.get("status") in charts.STATUS_COLOURS else "",
        "charts": charts.figures(audit, result),
        "metric_rows": rows,
        "nested_metrics": nested,
        "flagged_columns": flagged_columns,
        "flagged_rows": flagged_rows,
        "subgroup_columns": subgroup_columns,
        "subgroup_rows": subgroup_rows,
        "unmarked": unmarked,
        "unmarked_total": unmarked_total,
        "pairs": _pairs_with_thumbnails(run, result) if audit == "memorization" else [],
        "value_mappings": charts.value_mappings(result) if audit == "representation" else [],
        "caveats": [str(c) for c in result.get("caveats") or [] if c],
        "inputs": charts.key_values(result.get("inputs")),
        "params": charts.key_values(result.get("params")),
        "timings": charts.timings(result),
        "other_audits": run_summary(run).audits,
    }
    return render(request, "audits/result_detail.html", context)


def _pairs_with_thumbnails(run: AuditRun, result: dict[str, Any]) -> list[charts.Pair]:
    pairs = charts.closest_pairs(result)
    names = {p.synthetic_file for p in pairs} | {p.reference_file for p in pairs}
    files = run_files_by_name(run, names) if names else {}

    def url(role: str, name: str, index: int) -> str:
        file_pk = files.get((role, name))
        if file_pk is None:
            return ""
        return reverse("image-thumbnail", kwargs={"pk": run.project_id, "file_pk": file_pk, "index": index})

    for pair in pairs:
        pair.synthetic_url = url(SetRole.SYNTHETIC, pair.synthetic_file, pair.synthetic_index)
        pair.reference_url = url(SetRole.REFERENCE, pair.reference_file, pair.reference_index)
        if pair.aligned and pair.synthetic_url and pair.reference_url:
            pair.aligned_url = f"{pair.synthetic_url}?{urlencode({'align': pair.align})}"
            pair.region_url = f"{pair.reference_url}?{urlencode({'crop': pair.crop})}"
    return pairs


def _thumbnail_alignment(request: AuthedRequest) -> tuple[str, tuple[float, float, float] | None]:
    """`?align=<symmetry>&crop=<top>,<left>,<side>` of a memorization pair; anything malformed is a 400."""
    from audits.engine.memorization.geometry import D8

    align = request.GET.get("align", "identity")
    if align not in D8:
        raise BadRequest(f"align must be one of {', '.join(D8)}")
    text = request.GET.get("crop")
    if not text:
        return align, None
    try:
        top, left, side = (float(part) for part in text.split(","))
    except ValueError:
        raise BadRequest("crop must be three numbers: top,left,side as fractions of the side") from None
    if not (0.3 <= side <= 1.0 and -0.2 <= top <= 1.0 - side + 0.2 and -0.2 <= left <= 1.0 - side + 0.2):
        raise BadRequest("crop must lie inside the image: 0.3 <= side <= 1, top and left within it")
    return align, (top, left, side)


@login_required
@require_GET
def image_thumbnail(request: AuthedRequest, pk: int, file_pk: int, index: int) -> HttpResponse:
    project = get_project(request, pk)
    image_file = project_image_file(project, file_pk)
    if image_file is None:
        raise Http404("No such image")
    align, crop = _thumbnail_alignment(request)
    png = image_thumbnail_png(image_file, index, align=align, crop=crop)
    if png is None:
        raise Http404("No such slice")
    response = HttpResponse(png, content_type="image/png")
    # Files never change once stored (new uploads make new rows), so the browser may keep it.
    response["Cache-Control"] = "private, max-age=86400"
    response["Content-Disposition"] = f'inline; filename="thumbnail-{file_pk}-{index}.png"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
