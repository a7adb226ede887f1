from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from audits.selectors import AuditSummary, latest_results
from reviews.enums import Modality
from reviews.forms import AnswerForm, ProjectForm
from reviews.models import Answer, EvidenceFile, GuidelineItem, Project, Round
from reviews.selectors import (
    project_activity,
    project_checklist,
    projects_visible_to,
    submission_problems,
)
from reviews.services.projects import (
    ProjectNotEditable,
    SubmissionIncomplete,
    answer_save,
    evidence_delete,
    project_create,
    project_submit,
    project_update,
)
from reviews.views.access import AuthedRequest, get_project

MODALITY_LABELS = dict(Modality.choices)


@login_required
def project_list(request: AuthedRequest) -> HttpResponse:
    page = Paginator(projects_visible_to(request.user), 50).get_page(request.GET.get("page"))
    return render(request, "reviews/project_list.html", {"page": page, "projects": page.object_list})


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: AuthedRequest) -> HttpResponse:
    if not request.user.has_perm("reviews.add_project"):
        raise PermissionDenied
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = project_create(actor=request.user, data=form.cleaned_data)
        messages.success(request, "Project created. Work through the checklist, then submit it for review.")
        return redirect("project-checklist", pk=project.pk)
    return render(request, "reviews/project_form.html", {"form": form, "project": None})


@login_required
def project_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    project = get_project(request, pk)
    checklist = project_checklist(project=project)
    rounds = Round.objects.filter(project=project).select_related("submitted_by").order_by("-number")
    context = {
        "project": project,
        "checklist": checklist,
        "answered": sum(stage.answered for stage in checklist),
        "total": sum(len(stage.rows) for stage in checklist),
        "rounds": rounds,
        "modalities": [MODALITY_LABELS.get(code, code) for code in project.modalities],
    }
    return render(request, "reviews/project_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def project_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    project = get_project(request, pk, perm="reviews.change_project")
    form = ProjectForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        try:
            project_update(actor=request.user, project=project, data=form.cleaned_data)
        except ProjectNotEditable as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Project details saved.")
            return redirect(project)
    return render(request, "reviews/project_form.html", {"form": form, "project": project})


@login_required
def project_checklist_view(request: AuthedRequest, pk: int) -> HttpResponse:
    project = get_project(request, pk)
    checklist = project_checklist(project=project)
    context = {
        "project": project,
        "checklist": checklist,
        "can_edit": request.user.has_perm("reviews.change_project", project),
        "answered": sum(stage.answered for stage in checklist),
        "total": sum(len(stage.rows) for stage in checklist),
        # One query for the whole page: the latest finished run's status of every audit.
        "audit_evidence": latest_results(project=project),
    }
    return render(request, "reviews/checklist.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def answer_edit(request: AuthedRequest, pk: int, code: str) -> HttpResponse:
    project = get_project(request, pk)
    item = get_object_or_404(
        GuidelineItem.objects.select_related("stage"), version=project.guideline_version_id, code=code
    )
    answer = (
        Answer.objects.filter(project=project, item=item)
        .prefetch_related(Prefetch("files", queryset=EvidenceFile.objects.order_by("uploaded_at", "pk")))
        .first()
    )
    can_edit = request.user.has_perm("reviews.change_project", project)
    if request.method == "POST" and not can_edit:
        raise PermissionDenied
    initial = (
        {"status": answer.status, "justification": answer.justification, "evidence_text": answer.evidence_text}
        if answer
        else {}
    )
    form = AnswerForm(
        request.POST or None,
        request.FILES or None,
        initial=initial,
        rejected_uploads=getattr(request, "rejected_uploads", None),
    )
    if request.method == "POST" and form.is_valid():
        try:
            answer_save(
                actor=request.user,
                project=project,
                item=item,
                status=form.cleaned_data["status"],
                justification=form.cleaned_data["justification"],
                evidence_text=form.cleaned_data["evidence_text"],
                files=form.cleaned_data["evidence_files"],
            )
        except ProjectNotEditable as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{item.code} saved.")
            if "save_next" in request.POST:
                following = _neighbour(project, item, +1)
                if following is not None:
                    return redirect("answer-edit", pk=project.pk, code=following.code)
            return redirect("answer-edit", pk=project.pk, code=item.code)
    context = {
        "project": project,
        "item": item,
        "answer": answer,
        "form": form,
        "can_edit": can_edit,
        "previous": _neighbour(project, item, -1),
        "next": _neighbour(project, item, +1),
        "audit_entry": _audit_entry(project, item),
    }
    return render(request, "reviews/answer_form.html", context, status=400 if form.errors else 200)


def _audit_entry(project: Project, item: GuidelineItem) -> AuditSummary | None:
    """The latest finished run's result for the item's audit; one query on every answer page."""
    latest = latest_results(project=project)
    return latest.for_audit(item.audit) if latest is not None and item.audit else None


def _neighbour(project, item: GuidelineItem, step: int) -> GuidelineItem | None:  # type: ignore[no-untyped-def]
    items = GuidelineItem.objects.filter(version=project.guideline_version_id)
    key = (item.stage.order, item.order)
    if step > 0:
        return (
            items.filter(stage__order=key[0], order__gt=key[1]).order_by("order").first()
            or items.filter(stage__order__gt=key[0]).order_by("stage__order", "order").first()
        )
    return (
        items.filter(stage__order=key[0], order__lt=key[1]).order_by("-order").first()
        or items.filter(stage__order__lt=key[0]).order_by("-stage__order", "-order").first()
    )


def _project_evidence(project, evidence_pk: int) -> EvidenceFile:  # type: ignore[no-untyped-def]
    return get_object_or_404(
        EvidenceFile.objects.select_related("answer__item", "answer__project"), pk=evidence_pk, answer__project=project
    )


@login_required
def evidence_download(request: AuthedRequest, pk: int, evidence_pk: int) -> FileResponse:
    project = get_project(request, pk)
    evidence = _project_evidence(project, evidence_pk)
    try:
        handle = evidence.file.open("rb")
    except FileNotFoundError:
        raise Http404("The stored file is missing") from None
    response = FileResponse(
        handle, as_attachment=True, filename=evidence.original_name, content_type=evidence.content_type
    )
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@require_POST
def evidence_remove(request: AuthedRequest, pk: int, evidence_pk: int) -> HttpResponse:
    project = get_project(request, pk, perm="reviews.change_project")
    evidence = _project_evidence(project, evidence_pk)
    code = evidence.answer.item.code
    try:
        evidence_delete(actor=request.user, evidence=evidence)
    except ProjectNotEditable as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Removed “{evidence.original_name}” from {code}.")
    return redirect("answer-edit", pk=project.pk, code=code)


@login_required
@require_http_methods(["GET", "POST"])
def project_submit_view(request: AuthedRequest, pk: int) -> HttpResponse:
    project = get_project(request, pk, perm="reviews.submit_project")
    problems = submission_problems(checklist=project_checklist(project=project))
    if request.method == "POST":
        try:
            round_ = project_submit(actor=request.user, project=project)
        except SubmissionIncomplete as exc:
            problems = exc.problems
            messages.error(request, f"Not submitted: {len(problems)} item(s) still need an answer or a justification.")
        except ProjectNotEditable as exc:
            messages.error(request, str(exc))
            return redirect(project)
        else:
            messages.success(request, f"Submitted for review. Round {round_.number} is frozen.")
            return redirect(round_)
    status = 400 if request.method == "POST" else 200
    return render(request, "reviews/submit.html", {"project": project, "problems": problems}, status=status)


@login_required
def round_detail(request: AuthedRequest, pk: int, number: int) -> HttpResponse:
    project = get_project(request, pk)
    round_ = get_object_or_404(
        Round.objects.select_related("submitted_by", "guideline_version"), project=project, number=number
    )
    snapshot = round_.snapshot
    items = {
        item.code: item
        for item in GuidelineItem.objects.filter(version=round_.guideline_version_id).select_related("stage")
    }
    stages: dict[str, dict[str, object]] = {}
    for entry in snapshot["answers"]:
        item = items.get(entry["item"])
        stage = stages.setdefault(entry["stage"], {"stage": item.stage if item else None, "entries": []})
        stage["entries"].append({**entry, "catalogue_item": item})  # type: ignore[attr-defined]
    context = {"project": project, "round": round_, "snapshot": snapshot, "stages": list(stages.values())}
    return render(request, "reviews/round_detail.html", context)


@login_required
def project_history(request: AuthedRequest, pk: int) -> HttpResponse:
    project = get_project(request, pk)
    page = Paginator(project_activity(project=project), 100).get_page(request.GET.get("page"))
    return render(request, "reviews/history.html", {"project": project, "page": page, "entries": page.object_list})
