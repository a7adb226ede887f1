from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from audits.enums import SetStatus
from audits.forms import ImageSetUploadForm, too_many_files_message, upload_limits
from audits.models import ImageSet
from audits.services.uploads import UploadRejected
from audits.services.uploads import image_set_upload as upload_service
from reviews.models import Project
from reviews.services.projects import ProjectNotEditable
from reviews.throttling import Limit, by_user, throttle
from reviews.views.access import AuthedRequest, get_project


@csrf_exempt  # only to read the body first; the view itself is csrf_protect-ed below
@login_required
@throttle(Limit("upload-user", by_user))
@require_http_methods(["GET", "POST"])
def image_set_upload(request: AuthedRequest, pk: int) -> HttpResponse:
    """Upload a synthetic, reference or held-out set; a refused upload saves nothing and says why.

    Django refuses a body with more files than DATA_UPLOAD_MAX_NUMBER_FILES (TooManyFilesSent)
    or more form data than DATA_UPLOAD_MAX_MEMORY_SIZE while it parses it, and the CSRF check
    is what parses it first: the refusal would surface as a bare 400 (a traceback with DEBUG).
    So the body is parsed here, before the CSRF check; a refused body shows the upload form
    again with what was wrong and the limit, and changes nothing, so it needs no CSRF token.
    Everything else goes through the CSRF check as usual (csrf_protect).
    """
    project = get_project(request, pk, perm="reviews.change_project")
    refusal = _unreadable_body(request)
    if refusal:
        return _page(request, project, ImageSetUploadForm(), status=400, refusal=refusal)
    return _image_set_upload(request, project)


def _unreadable_body(request: AuthedRequest) -> str:
    """Why Django refused to parse the body, in words; empty when it parsed (or there is none)."""
    if request.method != "POST":
        return ""
    try:
        request.POST  # noqa: B018 (parses the body, files included)
    except TooManyFilesSent:
        return too_many_files_message()
    except RequestDataTooBig:
        return (
            "The form's text fields came to more than "
            f"{filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)}, more than this page accepts. Nothing was "
            "uploaded; choose the files again."
        )
    return ""


@csrf_protect
def _image_set_upload(request: AuthedRequest, project: Project) -> HttpResponse:
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
            except UploadRejected as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            except ProjectNotEditable as exc:  # submitted since the page was loaded
                form.add_error(None, str(exc))
                status = 409
            else:
                _report(request, image_set, notes)
                return redirect("imageset-detail", pk=project.pk, set_pk=image_set.pk)
    return _page(request, project, form, status=status)


def _page(
    request: AuthedRequest, project: Project, form: ImageSetUploadForm, *, status: int, refusal: str = ""
) -> HttpResponse:
    context = {
        "project": project,
        "form": form,
        "refusal": refusal,
        "limits": upload_limits(),
        "current_sets": ImageSet.objects.filter(project=project, is_current=True).order_by("role"),
        "ingesting_sets": ImageSet.objects.filter(project=project, status=SetStatus.INGESTING).order_by("role", "pk"),
    }
    return render(request, "audits/upload.html", context, status=status)


def _report(request: AuthedRequest, image_set: ImageSet, notes: list[str]) -> None:
    files = len(image_set.staged)
    received = f"Upload received: {files} file{'s' if files != 1 else ''}."
    if getattr(image_set, "workers_unreachable", False):
        messages.warning(
            request,
            f"{received} Reading them is queued; the workers are unreachable right now, it will start when "
            "they are back. Your current set stays in use until then.",
        )
    else:
        messages.success(
            request,
            f"{received} A worker is now checking and reading them; this page shows the progress. "
            "The set replaces the current one once every file has been read.",
        )
    for note in notes:
        messages.info(request, note)
