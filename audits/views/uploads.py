from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audits.archives import ArchiveRejected
from audits.forms import ImageSetUploadForm
from audits.models import ImageSet
from audits.services.uploads import UploadRejected
from audits.services.uploads import image_set_upload as upload_service
from reviews.services.projects import ProjectNotEditable
from reviews.views.access import AuthedRequest, get_project


@login_required
@require_http_methods(["GET", "POST"])
def image_set_upload(request: AuthedRequest, pk: int) -> HttpResponse:
    """Upload a synthetic, reference or held-out set; a refused upload saves nothing and says why."""
    project = get_project(request, pk, perm="reviews.change_project")
    form = ImageSetUploadForm(
        request.POST or None,
        request.FILES or None,
        rejected_uploads=getattr(request, "rejected_uploads", None),
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            notes: list[str] = []
            try:
                image_set = upload_service(
                    actor=request.user,
                    project=project,
                    role=form.cleaned_data["role"],
                    files=form.cleaned_data["files"],
                    metadata=form.cleaned_data["metadata"],
                    value_map=form.cleaned_data["value_map"],
                    manifest=form.cleaned_data["manifest"],
                    notes=notes,
                )
            except ArchiveRejected as exc:
                form.add_error("files", exc.reason)
            except UploadRejected as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            except ProjectNotEditable as exc:  # submitted since the page was loaded
                form.add_error(None, str(exc))
                status = 409
            else:
                _report(request, image_set, notes)
                return redirect("imageset-detail", pk=project.pk, set_pk=image_set.pk)
    context = {
        "project": project,
        "form": form,
        "current_sets": ImageSet.objects.filter(project=project, is_current=True).order_by("role"),
    }
    return render(request, "audits/upload.html", context, status=status)


def _report(request: AuthedRequest, image_set: ImageSet, notes: list[str]) -> None:
    if image_set.n_accepted:
        messages.success(
            request, f"{image_set.n_accepted} of {image_set.n_files} files accepted; the audit suite is queued."
        )
    else:
        messages.error(
            request,
            f"0 of {image_set.n_files} files accepted: none of them is a valid DICOM, NIfTI or PNG image. "
            "The reason for each file is listed below; the audits have nothing to measure in this set "
            "until you upload valid images.",
        )
    for note in notes:
        messages.info(request, note)
