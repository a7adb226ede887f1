"""The guideline catalogue: reading versions, and (administrators) editing a draft, its diff,
its impact on projects and its publication; researchers move a project to a newer version.

Non-administrators read published versions only (a draft answers 404 to them); every editing
view refuses them with a reason (403). Editing views refuse a published version with a reason
too: it never changes, a new draft does.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from reviews.enums import VersionStatus
from reviews.forms.catalogue import ConfirmForm, ItemForm, NotesForm, PolicyForm, StageForm
from reviews.models import GuidelineItem, GuidelineVersion, Stage
from reviews.selectors.catalogue import (
    MANAGE_CATALOGUE,
    move_plan,
    newer_version_for,
    reread_items,
    review_policy_of,
    version_diff,
    version_impact,
    version_with_tree,
    versions_visible_to,
)
from reviews.services.catalogue import (
    CatalogueError,
    guideline_version_discard,
    guideline_version_new_draft,
    guideline_version_notes_update,
    guideline_version_publish,
    item_add,
    item_move,
    item_remove,
    item_update,
    review_policy_update,
    stage_add,
    stage_move,
    stage_remove,
    stage_update,
)
from reviews.services.versions import project_move_version
from reviews.views.access import AuthedRequest, get_project


def _require_catalogue(request: AuthedRequest) -> None:
    if not request.user.has_perm("reviews.view_catalogue"):
        raise PermissionDenied("the guideline catalogue is open to active accounts only")


def _require_editor(request: AuthedRequest) -> None:
    if not request.user.has_perm(MANAGE_CATALOGUE):
        raise PermissionDenied("only administrators edit and publish guideline versions")


def _draft(request: AuthedRequest, pk: int) -> GuidelineVersion:
    """The draft an administrator edits; a published version is refused with why."""
    _require_editor(request)
    version = get_object_or_404(GuidelineVersion.objects.select_related("guideline_set", "parent"), pk=pk)
    if version.is_published:
        raise PermissionDenied(f"{version} is published and never changes; start a new draft from it to edit")
    return version


def _back(version: GuidelineVersion, anchor: str = "") -> HttpResponse:
    return redirect(reverse("catalogue-detail", kwargs={"pk": version.pk}) + (f"#{anchor}" if anchor else ""))


def _data(request: AuthedRequest) -> Any:
    """The form's data: an empty POST is still a submission (to refuse with its errors)."""
    return request.POST if request.method == "POST" else None


def _step(request: AuthedRequest) -> int:
    return -1 if request.POST.get("direction") == "up" else 1


@login_required
def catalogue_list(request: AuthedRequest) -> HttpResponse:
    _require_catalogue(request)
    versions = versions_visible_to(request.user).annotate(
        item_count=Count("items", distinct=True), stage_count=Count("stages", distinct=True)
    )
    return render(
        request,
        "reviews/catalogue_list.html",
        {"versions": versions, "can_edit": request.user.has_perm(MANAGE_CATALOGUE)},
    )


@login_required
def catalogue_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    _require_catalogue(request)
    version = get_object_or_404(version_with_tree(pk).filter(pk__in=versions_visible_to(request.user)))
    stages = list(version.stages.all())
    can_edit = request.user.has_perm(MANAGE_CATALOGUE)
    context: dict[str, Any] = {
        "version": version,
        "stages": stages,
        "item_count": sum(len(s.items.all()) for s in stages),
        "can_edit": can_edit,
        "editing": can_edit and not version.is_published,
        "policy": review_policy_of(version),
    }
    if can_edit:
        context["draft"] = version.guideline_set.versions.filter(status=VersionStatus.DRAFT).first()
    return render(request, "reviews/catalogue_detail.html", context)


@login_required
@require_POST
def catalogue_draft_new(request: AuthedRequest, pk: int) -> HttpResponse:
    _require_editor(request)
    source = get_object_or_404(GuidelineVersion, pk=pk)
    try:
        draft = guideline_version_new_draft(source=source, actor=request.user)
    except CatalogueError as exc:
        messages.error(request, str(exc))
        return _back(source)
    messages.success(request, f"{draft} started as a draft copy of {source}. Edit it, check its impact, then publish.")
    return _back(draft)


@login_required
@require_POST
def catalogue_discard(request: AuthedRequest, pk: int) -> HttpResponse:
    version = _draft(request, pk)
    try:
        guideline_version_discard(version=version, actor=request.user)
    except CatalogueError as exc:
        messages.error(request, str(exc))
        return _back(version)
    messages.success(request, f"The draft {version} was discarded.")
    return redirect("catalogue-list")


@login_required
@require_http_methods(["GET", "POST"])
def catalogue_settings(request: AuthedRequest, pk: int) -> HttpResponse:
    """The draft's notes and its review policy, saved together."""
    version = _draft(request, pk)
    policy = review_policy_of(version)
    data = request.POST if request.method == "POST" else None
    notes_form = NotesForm(data, initial={"notes": version.notes}, prefix="notes")
    policy_form = PolicyForm(data, instance=policy, prefix="policy")
    if request.method == "POST" and notes_form.is_valid() and policy_form.is_valid():
        try:
            guideline_version_notes_update(version=version, actor=request.user, notes=notes_form.cleaned_data["notes"])
            review_policy_update(version=version, actor=request.user, data=policy_form.cleaned_data)
        except CatalogueError as exc:
            notes_form.add_error(None, str(exc))
        else:
            messages.success(request, "Notes and review policy saved.")
            return _back(version, "policy")
    return render(
        request,
        "reviews/catalogue_settings.html",
        {"version": version, "notes_form": notes_form, "policy_form": policy_form},
        status=400 if request.method == "POST" else 200,
    )


def _stage_of(version: GuidelineVersion, stage_pk: int) -> Stage:
    return get_object_or_404(Stage, version=version, pk=stage_pk)


@login_required
@require_http_methods(["GET", "POST"])
def catalogue_stage_add(request: AuthedRequest, pk: int) -> HttpResponse:
    version = _draft(request, pk)
    form = StageForm(_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            stage = stage_add(version=version, actor=request.user, **form.cleaned_data)
        except CatalogueError as exc:
            form.add_error("code", str(exc))
        else:
            messages.success(request, f"Stage {stage.code} added.")
            return _back(version, f"stage-{stage.code}")
    return render(
        request,
        "reviews/catalogue_stage_form.html",
        {"version": version, "form": form, "stage": None},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def catalogue_stage_edit(request: AuthedRequest, pk: int, stage_pk: int) -> HttpResponse:
    version = _draft(request, pk)
    stage = _stage_of(version, stage_pk)
    initial = {"name": stage.name, "description": stage.description}
    form = StageForm(_data(request), initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            stage_update(stage=stage, actor=request.user, **form.cleaned_data)
        except CatalogueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Stage {stage.code} saved.")
            return _back(version, f"stage-{stage.code}")
    return render(
        request,
        "reviews/catalogue_stage_form.html",
        {"version": version, "form": form, "stage": stage},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_POST
def catalogue_stage_move(request: AuthedRequest, pk: int, stage_pk: int) -> HttpResponse:
    version = _draft(request, pk)
    stage = _stage_of(version, stage_pk)
    try:
        stage_move(stage=stage, actor=request.user, step=_step(request))
    except CatalogueError as exc:
        messages.error(request, str(exc))
    return _back(version, f"stage-{stage.code}")


@login_required
@require_POST
def catalogue_stage_remove(request: AuthedRequest, pk: int, stage_pk: int) -> HttpResponse:
    version = _draft(request, pk)
    stage = _stage_of(version, stage_pk)
    try:
        stage_remove(stage=stage, actor=request.user)
    except CatalogueError as exc:
        messages.error(request, str(exc))
        return _back(version, f"stage-{stage.code}")
    messages.success(request, f"Stage {stage.code} removed.")
    return _back(version)


def _item_of(version: GuidelineVersion, code: str) -> GuidelineItem:
    return get_object_or_404(GuidelineItem.objects.select_related("stage"), version=version, code=code)


@login_required
@require_http_methods(["GET", "POST"])
def catalogue_item_add(request: AuthedRequest, pk: int) -> HttpResponse:
    version = _draft(request, pk)
    stage_id = str(request.GET.get("stage", ""))
    stage = (
        Stage.objects.filter(version=version, pk=int(stage_id)).first()
        if stage_id.isdigit() and len(stage_id) < 10
        else None
    )
    form = ItemForm(_data(request), version=version, initial={"stage": stage, "required": True})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        code = data.pop("code")
        try:
            item = item_add(version=version, actor=request.user, code=code, data=data)
        except CatalogueError as exc:
            form.add_error("code", str(exc))
        else:
            messages.success(request, f"Item {item.code} added to stage {item.stage.code}.")
            return _back(version, f"item-{item.code}")
    return render(
        request,
        "reviews/catalogue_item_form.html",
        {"version": version, "form": form, "item": None},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def catalogue_item_edit(request: AuthedRequest, pk: int, code: str) -> HttpResponse:
    version = _draft(request, pk)
    item = _item_of(version, code)
    initial = {name: getattr(item, name) for name in ItemForm.base_fields if name != "code"}
    form = ItemForm(_data(request), version=version, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            item_update(item=item, actor=request.user, data=form.cleaned_data)
        except CatalogueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Item {item.code} saved.")
            return _back(version, f"item-{item.code}")
    return render(
        request,
        "reviews/catalogue_item_form.html",
        {"version": version, "form": form, "item": item},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_POST
def catalogue_item_move(request: AuthedRequest, pk: int, code: str) -> HttpResponse:
    version = _draft(request, pk)
    item = _item_of(version, code)
    try:
        item_move(item=item, actor=request.user, step=_step(request))
    except CatalogueError as exc:
        messages.error(request, str(exc))
    return _back(version, f"item-{item.code}")


@login_required
@require_POST
def catalogue_item_remove(request: AuthedRequest, pk: int, code: str) -> HttpResponse:
    version = _draft(request, pk)
    item = _item_of(version, code)
    try:
        item_remove(item=item, actor=request.user)
    except CatalogueError as exc:
        messages.error(request, str(exc))
        return _back(version, f"item-{item.code}")
    messages.success(request, f"Item {item.code} removed.")
    return _back(version, f"stage-{item.stage.code}")


@login_required
def catalogue_diff(request: AuthedRequest, pk: int) -> HttpResponse:
    _require_editor(request)
    version = get_object_or_404(GuidelineVersion.objects.select_related("guideline_set", "parent"), pk=pk)
    if version.parent is None:
        raise Http404("This version was not started from another one, so it has no diff.")
    diff = version_diff(old=version.parent, new=version)
    return render(request, "reviews/catalogue_diff.html", {"version": version, "diff": diff})


@login_required
@require_http_methods(["GET", "POST"])
def catalogue_publish(request: AuthedRequest, pk: int) -> HttpResponse:
    """The impact on projects, then publication once the administrator confirms it."""
    version = _draft(request, pk)
    form = ConfirmForm(_data(request), label=f"I have read the impact: publish {version}")
    if request.method == "POST" and form.is_valid():
        try:
            guideline_version_publish(version=version, actor=request.user)
        except CatalogueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{version} is published. Owners of affected projects were told.")
            return _back(version)
    diff = version_diff(old=version.parent, new=version) if version.parent is not None else None
    context = {"version": version, "impact": version_impact(version=version), "diff": diff, "form": form}
    return render(request, "reviews/catalogue_publish.html", context, status=400 if request.method == "POST" else 200)


@login_required
@require_http_methods(["GET", "POST"])
def project_version_move(request: AuthedRequest, pk: int) -> HttpResponse:
    """The researcher's move to the newest version: what happens to each answer, then confirm."""
    project = get_project(request, pk, perm="reviews.change_project")
    target = newer_version_for(project=project)
    if target is None:
        messages.info(request, f"“{project.title}” already follows the newest published guideline version.")
        return redirect(project)
    form = ConfirmForm(_data(request), label=f"Move this project to {target}")
    if request.method == "POST" and form.is_valid():
        try:
            moved = project_move_version(project=project, actor=request.user, target=target)
        except CatalogueError as exc:
            form.add_error(None, str(exc))
        else:
            reread = reread_items(project=moved)
            again = f" Changed in version {target.number}, answer again: {', '.join(reread)}." if reread else ""
            messages.success(request, f"The project now follows {target}.{again}")
            return redirect("project-checklist", pk=project.pk)
    plan = move_plan(project=project, target=target)
    return render(
        request,
        "reviews/catalogue_move.html",
        {"project": project, "plan": plan, "target": target, "form": form},
        status=400 if request.method == "POST" else 200,
    )
