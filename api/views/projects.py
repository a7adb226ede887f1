"""Projects, their checklist answers and evidence files, and submission, through the API.

The same rules as the pages, by the same code: api.access.project_for (404 for a project the
user may not see, 403 with the pages' sentence for one they may not change), the pages' forms
for validation (api.serializers.projects), and the services in reviews.services.projects for
every change. Answers and files are looked up inside the project that check returned, so an id
of another project is simply not found.
"""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.utils.datastructures import MultiValueDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.access import project_for
from api.filters import ApiProjectFilter
from api.parsers import DEFAULT_PARSERS
from api.permissions import SignedIn, TokenScopeAllows
from api.selectors.projects import project_rows, project_with_progress
from api.serializers.projects import (
    AnswerWriteSerializer,
    ChecklistEntrySerializer,
    ChecklistStageSerializer,
    EvidenceDetailSerializer,
    EvidenceUploadSerializer,
    ProjectRowSerializer,
    ProjectSerializer,
    ProjectWriteSerializer,
    SubmissionRefusedSerializer,
    SubmitSerializer,
    SubmittedSerializer,
    form_errors,
    project_rows_data,
)
from audits.enums import AuditName
from public.forms.register import ListingChoiceForm
from public.selectors.register import register_settings
from reviews.forms import AnswerForm
from reviews.models import Answer, EvidenceFile, GuidelineItem, Project, User
from reviews.selectors import ChecklistRow, project_checklist, projects_visible_to
from reviews.services.projects import (
    SubmissionIncomplete,
    answer_save,
    evidence_add,
    evidence_delete,
    project_create,
    project_submit,
    project_update,
)

CHANGE = "reviews.change_project"


class ProjectApiView(APIView):
    """A token is needed for everything here (401 with the Bearer challenge without one)."""

    permission_classes = [SignedIn, TokenScopeAllows]
    parser_classes = DEFAULT_PARSERS


def _actor(request: Request) -> User:
    return cast(User, request.user)  # SignedIn lets only a token's account through


def _context(request: Request, project_id: int) -> dict[str, Any]:
    return {"request": request, "project_id": project_id}


def _project_body(request: Request, project: Project) -> dict[str, Any]:
    return ProjectSerializer(project_with_progress(project=project), context={"request": request}).data


# ---- projects ---------------------------------------------------------------------------------


_BOARD = "Administrators only: anyone else is refused (400)."
_AUDITS = [str(audit) for audit in AuditName.values]
# The schema's word for the filters that django-filter's introspection cannot type or describe.
LIST_PARAMETERS = [
    OpenApiParameter("q", str, description="Words that must each appear in the title, summary or researcher's name."),
    OpenApiParameter("reviewer", int, description=f"A reviewer's user id: the projects they hold a place on. {_BOARD}"),
    OpenApiParameter(
        "decided_version", int, description=f"A guideline version's id: the projects first decided on it. {_BOARD}"
    ),
    OpenApiParameter("must_change", str, description=f"An item code some reviewer marked “must change”. {_BOARD}"),
    OpenApiParameter(
        "audit", str, enum=_AUDITS, description=f"The audit whose latest result audit_status matches. {_BOARD}"
    ),
    OpenApiParameter(
        "audit_status", str, enum=["pass", "warn", "fail", "not_computable"], description=f"With audit. {_BOARD}"
    ),
    OpenApiParameter("waived", str, enum=_AUDITS, description=f"An audit a reviewer waived. {_BOARD}"),
    *(
        OpenApiParameter(name, bool, description=f"{label}. {_BOARD}")
        for name, label in (
            ("overdue", "Has an overdue review"),
            ("unassigned", "Waiting for reviewers"),
            ("invited", "Has an unanswered invitation"),
        )
    ),
]


class ProjectList(generics.ListAPIView):  # type: ignore[type-arg]
    """The projects the token's user may see, with the project list page's filters and sorts."""

    permission_classes = [SignedIn, TokenScopeAllows]
    parser_classes = DEFAULT_PARSERS
    serializer_class = ProjectRowSerializer
    filterset_class = ApiProjectFilter
    queryset = Project.objects.none()  # the schema's model; get_queryset gives the rows

    def get_queryset(self) -> Any:
        return projects_visible_to(self.request.user)

    @extend_schema(
        summary="List the projects you may see",
        description="Your own projects; a reviewer's, those they review or are invited to; every project for an "
        "administrator. The filters are the project list page's; the board's (reviewer, overdue, unassigned, "
        "invited, must_change, audit, audit_status, waived, decided_version) are for administrators only.",
        parameters=LIST_PARAMETERS,
        responses={
            200: ProjectRowSerializer(many=True),
            400: OpenApiResponse(
                description="A filter's value is wrong, or a board's filter was sent by someone who is not an "
                "administrator; the answer names each such parameter."
            ),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Filter, sort and count bare rows; join the page's rows alone to their answers and
        # rounds (a fixed number of queries whatever the number of projects).
        projects = self.filter_queryset(self.get_queryset())
        ids = self.paginate_queryset(projects.values_list("pk", flat=True)) or []
        rows = project_rows(user=request.user, ids=list(ids))
        # The rows as ProjectRowSerializer gives them (the schema's source), built directly.
        return self.get_paginated_response(project_rows_data(rows, request))

    @extend_schema(
        summary="Create a project",
        description="For a researcher whose account is confirmed. It starts as a draft on the newest published "
        "guideline version.",
        request=ProjectWriteSerializer,
        responses={201: ProjectSerializer},
    )
    def post(self, request: Request) -> Response:
        if not request.user.has_perm("reviews.add_project"):
            raise PermissionDenied(
                "projects are created by researchers whose account is confirmed; reviewers and administrators "
                "see the projects they review"
            )
        serializer = ProjectWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_create(actor=_actor(request), data=serializer.validated_data)
        body = _project_body(request, project)
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class ProjectDetail(ProjectApiView):
    @extend_schema(summary="Read a project", responses=ProjectSerializer)
    def get(self, request: Request, id: int) -> Response:
        return Response(_project_body(request, project_for(request, id)))

    @extend_schema(
        summary="Change a project's details",
        description="Only the fields given change; the whole project is then checked as the page's form does. "
        "Only its researcher, and only while it is editable (a draft, or returned for changes).",
        request=ProjectWriteSerializer,
        responses=ProjectSerializer,
    )
    def patch(self, request: Request, id: int) -> Response:
        project = project_for(request, id, perm=CHANGE)
        serializer = ProjectWriteSerializer(project, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        project_update(actor=_actor(request), project=project, data=serializer.validated_data)
        return Response(_project_body(request, project))


class ProjectSubmit(ProjectApiView):
    @extend_schema(
        summary="Submit the project for review",
        description="Freezes the next round. Refused with 409 and the items that block it while a required item "
        "is not answered or an answer needs a justification.",
        request=SubmitSerializer,
        responses={
            201: SubmittedSerializer,
            409: OpenApiResponse(SubmissionRefusedSerializer, description="The checklist is not complete."),
        },
    )
    def post(self, request: Request, id: int) -> Response:
        project = project_for(request, id, perm="reviews.submit_project")
        serializer = SubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        listing = _public_listing(serializer.validated_data.get("public_listing"))
        try:
            round_ = project_submit(actor=_actor(request), project=project, public_listing=listing)
        except SubmissionIncomplete as exc:
            refused = {"detail": f"Not submitted: {exc}", "problems": exc.problems}
            body = SubmissionRefusedSerializer(refused, context=_context(request, project.pk)).data
            return Response(body, status=status.HTTP_409_CONFLICT)
        body = SubmittedSerializer(round_, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


def _public_listing(wanted: bool | None) -> bool:
    """The listing choice as the submission page makes it (ListingChoiceForm): the board's
    default when none is given; no choice at all when the board lists every approved project."""
    choice = ListingChoiceForm(listing=register_settings().listing)
    if choice.mandatory:
        if wanted is False:
            raise ValidationError(
                {"public_listing": ["Every approved project is listed on the public register: there is no opting out."]}
            )
        return False  # listed because of the setting, not by choice (ListingChoiceForm.chosen)
    return bool(choice.fields["public_listing"].initial) if wanted is None else wanted


# ---- checklist and answers --------------------------------------------------------------------


class ProjectChecklist(ProjectApiView):
    @extend_schema(
        summary="Read the checklist and every answer",
        description="Stages in order, each item with the project's answer and its evidence files.",
        responses=ChecklistStageSerializer(many=True),
    )
    def get(self, request: Request, id: int) -> Response:
        project = project_for(request, id)
        stages = project_checklist(project=project)
        return Response(ChecklistStageSerializer(stages, many=True, context=_context(request, project.pk)).data)


def _item(project: Project, code: str) -> GuidelineItem:
    # PostgreSQL refuses a NUL in a text parameter with an error: such a code is no item either.
    item = (
        None
        if "\x00" in code
        else GuidelineItem.objects.filter(version=project.guideline_version_id, code=code).first()
    )
    if item is None:
        raise Http404(f"The project's guideline version has no item “{code[:20]}”.")
    return item


def _entry(request: Request, project: Project, item: GuidelineItem) -> dict[str, Any]:
    files = Prefetch("files", queryset=EvidenceFile.objects.order_by("uploaded_at", "pk"))  # the checklist's order
    answer = Answer.objects.filter(project=project, item=item).prefetch_related(files).first()
    row = ChecklistRow(item=item, answer=answer)
    return ChecklistEntrySerializer(row, context=_context(request, project.pk)).data


class ProjectAnswer(ProjectApiView):
    @extend_schema(summary="Read one answer", responses=ChecklistEntrySerializer)
    def get(self, request: Request, id: int, code: str) -> Response:
        project = project_for(request, id)
        return Response(_entry(request, project, _item(project, code)))

    @extend_schema(
        summary="Save one answer",
        description="The whole answer, checked as the page's form does: a justification is required when the "
        "item is not met or not applicable. Evidence files are attached separately.",
        request=AnswerWriteSerializer,
        responses=ChecklistEntrySerializer,
    )
    def put(self, request: Request, id: int, code: str) -> Response:
        project = project_for(request, id, perm=CHANGE)
        item = _item(project, code)
        serializer = AnswerWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answer_save(actor=_actor(request), project=project, item=item, **serializer.validated_data)
        return Response(_entry(request, project, item))


# ---- evidence files ---------------------------------------------------------------------------


class AnswerEvidenceUpload(ProjectApiView):
    parser_classes = [MultiPartParser]
    throttle_scope = "api-upload"

    @extend_schema(
        summary="Attach an evidence file to an answer",
        description="One file per request, checked as on the answer page (type recognised by its content, size "
        "limit). What the answer says is left as it is.",
        request={"multipart/form-data": EvidenceUploadSerializer},
        responses={201: EvidenceDetailSerializer},
    )
    def post(self, request: Request, id: int, code: str) -> Response:
        project = project_for(request, id, perm=CHANGE)
        item = _item(project, code)
        uploads = request.FILES.getlist("file")
        if len(uploads) > 1:
            raise ValidationError({"file": ["Send one file per request."]})
        # The page's form checks the file: its kind, its content, and the size cap applied while
        # the request streamed (a file over it was skipped and is named in rejected_uploads).
        form = AnswerForm(
            {}, MultiValueDict({"evidence_files": uploads}), rejected_uploads=getattr(request, "rejected_uploads", None)
        )
        if not form.is_valid():
            raise ValidationError({"file": form_errors(form).get("evidence_files", ["This file was refused."])})
        files = form.cleaned_data["evidence_files"]
        if not files:
            raise ValidationError({"file": ["Send the file as the multipart field “file”."]})
        (evidence,) = evidence_add(actor=_actor(request), project=project, item=item, files=files)
        evidence.answer.item = item
        body = EvidenceDetailSerializer(evidence, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


def _project_evidence(project: Project, evidence_id: int) -> EvidenceFile:
    return get_object_or_404(
        EvidenceFile.objects.select_related("answer__item", "answer__project"), pk=evidence_id, answer__project=project
    )


class EvidenceDetail(ProjectApiView):
    @extend_schema(summary="Read an evidence file's details", responses=EvidenceDetailSerializer)
    def get(self, request: Request, id: int, evidence_id: int) -> Response:
        evidence = _project_evidence(project_for(request, id), evidence_id)
        return Response(EvidenceDetailSerializer(evidence, context={"request": request}).data)

    @extend_schema(summary="Remove an evidence file", responses={204: None})
    def delete(self, request: Request, id: int, evidence_id: int) -> Response:
        evidence = _project_evidence(project_for(request, id, perm=CHANGE), evidence_id)
        evidence_delete(actor=_actor(request), evidence=evidence)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EvidenceContent(ProjectApiView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The answer is the file, whatever the client accepts; refusals are still JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="Download an evidence file",
        description="The stored bytes, as an attachment under the file's original name (as on the answer page).",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, id: int, evidence_id: int) -> FileResponse:
        evidence = _project_evidence(project_for(request, id), evidence_id)
        try:
            handle = evidence.file.open("rb")
        except FileNotFoundError:
            raise Http404("The stored file is missing.") from None
        response = FileResponse(
            handle, as_attachment=True, filename=evidence.original_name, content_type=evidence.content_type
        )
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response
