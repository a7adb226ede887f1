"""Projects, checklist answers and evidence files as the API shows and takes them.

Input is checked by the pages' own forms (reviews.forms.ProjectForm and AnswerForm): the
serializers here only say what JSON types a field takes (for the schema and for a wrong type),
then hand the values to the form, so a rule lives in one place and the API's refusals are the
pages' sentences, under the same field names.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db.models import Field
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

from reviews.enums import AnswerStatus, GeneratorFamily, Modality, ProjectStatus, SynthesisTask
from reviews.forms import AnswerForm, ProjectForm
from reviews.models import EvidenceFile, Project
from reviews.selectors import ChecklistRow
from reviews.services.projects import PROJECT_FIELDS
from reviews.templatetags.review_tags import object_url

NOT_ANSWERED = "Not answered yet"


def form_errors(form: forms.BaseForm) -> dict[str, list[str]]:
    """A form's errors under the API's names: each field's own, the rest as non_field_errors."""
    return {
        ("non_field_errors" if name == "__all__" else name): [str(message) for message in messages]
        for name, messages in form.errors.items()
    }


def _absolute(request: Request | None, path: str) -> str:
    return request.build_absolute_uri(path) if request is not None else path


def project_api_url(request: Request | None, project_id: int, tail: str = "") -> str:
    """The project's API address, or one of its sub-resources' (`tail`, e.g. "image-sets/")."""
    return _absolute(request, object_url("api:project-detail", project_id) + tail)


# ---- projects ---------------------------------------------------------------------------------


def _text(name: str) -> serializers.CharField:
    """A text field of the project form, with its length limit and help (the form checks it)."""
    field = cast(forms.CharField, ProjectForm.base_fields[name])
    return serializers.CharField(
        max_length=field.max_length, trim_whitespace=False, allow_blank=True, help_text=str(field.help_text) or None
    )


class ProjectWriteSerializer(serializers.Serializer):
    """A project's details, as the page's form takes them (PATCH: only the fields to change)."""

    title = _text("title")
    summary = _text("summary")
    synthesis_task = serializers.ChoiceField(choices=SynthesisTask.choices)
    modalities = serializers.ListField(
        child=serializers.ChoiceField(choices=Modality.choices), help_text="Every modality the images cover."
    )
    generator_family = serializers.ChoiceField(choices=GeneratorFamily.choices)
    intended_use = _text("intended_use")
    prohibited_uses = _text("prohibited_uses")
    data_sources = _text("data_sources")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The page's form judges the whole project: for a PATCH, the stored values with the
        changes given. Returns the form's cleaned data of the fields given (every field on
        creation): the stored values were read before the project's row lock, so writing them
        back would undo an edit committed in between (project_update writes only these)."""
        project: Project | None = self.instance
        data = {name: getattr(project, name) for name in PROJECT_FIELDS} if project is not None else {}
        form = ProjectForm({**data, **attrs}, instance=project)
        if not form.is_valid():
            raise serializers.ValidationError(form_errors(form))
        return {name: form.cleaned_data[name] for name in PROJECT_FIELDS if project is None or name in attrs}


class _Call(serializers.CharField):
    """A text read by calling the row's method named by `source` (`get_FOO_display`, `__str__`).
    DRF's generic lookup inspects a callable source's signature on every row, which costs more
    than the call itself; these methods never take arguments."""

    def get_attribute(self, instance: Any) -> Any:
        return getattr(instance, str(self.source))()


class ProjectGuidelineVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    set = serializers.CharField(source="guideline_set.slug")
    number = serializers.IntegerField()
    name = _Call(source="__str__")


class ProgressSerializer(serializers.Serializer):
    answered = serializers.IntegerField(help_text="Items answered (any status).")
    total = serializers.IntegerField(source="item_total", help_text="Items of the project's guideline version.")
    required_answered = serializers.IntegerField(help_text="Required items answered.")
    # A field named like Field.required: the serializer's metaclass takes it out of the class.
    required = serializers.IntegerField(source="required_total", help_text="Required items.")  # type: ignore[assignment]


class ProjectLinksSerializer(serializers.Serializer):
    page = serializers.URLField(help_text="The project's page in the browser.")
    checklist = serializers.URLField()
    image_sets = serializers.URLField()
    audit_runs = serializers.URLField()
    rounds = serializers.URLField()
    submit = serializers.URLField()


class ProjectRowSerializer(serializers.Serializer):
    """A project as the list shows it (read with api.selectors.projects: progress annotated):
    what an invited reviewer reads before answering the invitation, and no more (the
    invitation page's details); the project itself has the rest (ProjectSerializer)."""

    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    title = serializers.CharField()
    summary = serializers.CharField()
    status = serializers.ChoiceField(choices=ProjectStatus.choices)
    status_display = _Call(source="get_status_display")
    editable = serializers.BooleanField(source="is_editable", help_text="Whether its researcher may change it now.")
    synthesis_task = serializers.ChoiceField(choices=SynthesisTask.choices)
    synthesis_task_display = _Call(source="get_synthesis_task_display")
    modalities = serializers.ListField(child=serializers.ChoiceField(choices=Modality.choices))
    modalities_display = serializers.SerializerMethodField()
    generator_family = serializers.ChoiceField(choices=GeneratorFamily.choices)
    generator_family_display = _Call(source="get_generator_family_display")
    guideline_version = ProjectGuidelineVersionSerializer()
    owner_name = serializers.CharField(source="owner.display_name")
    progress = ProgressSerializer(source="*")
    rounds = serializers.IntegerField(source="round_count", help_text="Rounds submitted so far.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    first_submitted_at = serializers.DateTimeField(allow_null=True)
    links = serializers.SerializerMethodField()

    def _api_url(self, project: Project) -> str:
        """The project's absolute API address, worked out once per row: `url` and each of the
        `links` below are it and it plus a tail (what project_api_url gives), so a row costs
        one reverse() for them instead of six."""
        urls: dict[int, str] = self.__dict__.setdefault("_api_urls", {})
        if project.pk not in urls:
            urls[project.pk] = project_api_url(self.context.get("request"), project.pk)
        return urls[project.pk]

    def get_url(self, project: Project) -> str:
        return self._api_url(project)

    def get_modalities_display(self, project: Project) -> list[str]:
        labels = dict(Modality.choices)
        return [str(labels.get(code, code)) for code in project.modalities]

    @extend_schema_field(ProjectLinksSerializer)
    def get_links(self, project: Project) -> dict[str, str]:
        request = self.context.get("request")
        api_url = self._api_url(project)
        return {
            "page": _absolute(request, object_url("project-detail", project.pk)),  # get_absolute_url(), cached
            **{
                name: api_url + tail
                for name, tail in (
                    ("checklist", "checklist/"),
                    ("image_sets", "image-sets/"),
                    ("audit_runs", "audit-runs/"),
                    ("rounds", "rounds/"),
                    ("submit", "submit/"),
                )
            },
        }


class ProjectSerializer(ProjectRowSerializer):
    """A project as those who may open it read it: the row and the rest of its details."""

    intended_use = serializers.CharField()
    prohibited_uses = serializers.CharField()
    data_sources = serializers.CharField()
    public_listing = serializers.BooleanField(
        help_text="The researcher's choice at the last submission to list it on the public register once approved."
    )


# ---- submission -------------------------------------------------------------------------------


class SubmitSerializer(serializers.Serializer):
    public_listing = serializers.BooleanField(
        required=False,
        help_text="List the project on the public register once approved. Left out: the board's default. "
        "When the board lists every approved project, false is refused.",
    )


class SubmittedSerializer(serializers.Serializer):
    """The round a submission froze."""

    round = serializers.IntegerField(source="number")
    digest = serializers.CharField(help_text="SHA-256 of the round's canonical JSON.")
    submitted_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=ProjectStatus.choices, source="project.status")
    status_display = serializers.CharField(source="project.get_status_display")
    public_listing = serializers.BooleanField(source="project.public_listing")
    url = serializers.SerializerMethodField()

    def get_url(self, round_: Any) -> str:
        return project_api_url(self.context.get("request"), round_.project_id, f"rounds/{round_.number}/")


class ProblemSerializer(serializers.Serializer):
    code = serializers.CharField(source="item.code")
    problem = serializers.CharField(help_text="“not answered” or “needs a justification”.")
    url = serializers.SerializerMethodField()

    def get_url(self, row: ChecklistRow) -> str:
        project_id = self.context["project_id"]
        path = reverse("api:project-answer", kwargs={"id": project_id, "code": row.item.code})
        return _absolute(self.context.get("request"), path)


class SubmissionRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    problems = ProblemSerializer(many=True, help_text="Each checklist item that blocks the submission.")


# ---- evidence files ---------------------------------------------------------------------------


class EvidenceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="original_name")
    content_type = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes.")
    sha256 = serializers.CharField()
    uploaded_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField()
    content_url = serializers.SerializerMethodField(help_text="The file itself, as an attachment.")

    def _path(self, evidence: EvidenceFile, name: str) -> str:
        path = reverse(name, kwargs={"id": evidence.answer.project_id, "evidence_id": evidence.pk})
        return _absolute(self.context.get("request"), path)

    def get_url(self, evidence: EvidenceFile) -> str:
        return self._path(evidence, "api:project-evidence")

    def get_content_url(self, evidence: EvidenceFile) -> str:
        return self._path(evidence, "api:project-evidence-content")


class EvidenceDetailSerializer(EvidenceSerializer):
    item = serializers.CharField(source="answer.item.code", help_text="The checklist item it is evidence for.")


class EvidenceUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="One evidence file: PDF, PNG, JPEG, CSV, JSON or TXT, recognised by its content."
    )


# ---- checklist and answers --------------------------------------------------------------------


class AnswerSerializer(serializers.Serializer):
    """What the project says for one item (status "" while it is not answered)."""

    status = serializers.ChoiceField(
        choices=AnswerStatus.choices, allow_blank=True, help_text="Empty: not answered yet."
    )
    status_display = serializers.CharField()
    justification = serializers.CharField()
    evidence_text = serializers.CharField(help_text="Markdown.")
    updated_at = serializers.DateTimeField(allow_null=True)
    files = EvidenceSerializer(many=True)

    def to_representation(self, row: ChecklistRow) -> dict[str, Any]:
        answer = row.answer
        return super().to_representation(
            {
                "status": row.status,
                "status_display": (answer.get_status_display() if answer else "") or NOT_ANSWERED,
                "justification": answer.justification if answer else "",
                "evidence_text": answer.evidence_text if answer else "",
                "updated_at": answer.updated_at if answer else None,
                "files": list(answer.files.all()) if answer else [],
            }
        )


class ChecklistEntrySerializer(serializers.Serializer):
    """One checklist item with the project's answer to it (a reviews.selectors.ChecklistRow)."""

    code = serializers.CharField(source="item.code")
    requirement = serializers.CharField(source="item.requirement")
    rationale = serializers.CharField(source="item.rationale")
    evidence_to_attach = serializers.CharField(source="item.evidence", help_text="What evidence the item asks for.")
    required = serializers.BooleanField(source="item.required")  # type: ignore[assignment]  # as in ProgressSerializer
    audit = serializers.CharField(
        source="item.audit", help_text="The audit that can produce evidence for it (empty when none)."
    )
    answer = AnswerSerializer(source="*")
    problem = serializers.CharField(
        help_text="Why it blocks submission: “not answered”, “needs a justification”, or empty."
    )
    url = serializers.SerializerMethodField()

    def get_url(self, row: ChecklistRow) -> str:
        path = reverse("api:project-answer", kwargs={"id": self.context["project_id"], "code": row.item.code})
        return _absolute(self.context.get("request"), path)


class ChecklistStageSerializer(serializers.Serializer):
    code = serializers.CharField(source="stage.code")
    name = serializers.CharField(source="stage.name")
    description = serializers.CharField(source="stage.description")
    answered = serializers.IntegerField()
    items = ChecklistEntrySerializer(source="rows", many=True)


def _answer_text(name: str) -> serializers.CharField:
    field = cast(forms.CharField, AnswerForm.base_fields[name])
    return serializers.CharField(
        max_length=field.max_length,
        required=False,
        default="",
        allow_blank=True,
        trim_whitespace=False,
        help_text=str(field.help_text) or None,
    )


class AnswerWriteSerializer(serializers.Serializer):
    """One answer, as the page's form takes it: the whole answer (what is left out is emptied)."""

    status = serializers.ChoiceField(
        choices=AnswerStatus.choices, allow_blank=True, help_text="Empty: not answered yet."
    )
    justification = _answer_text("justification")
    evidence_text = _answer_text("evidence_text")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        form = AnswerForm(attrs)
        if not form.is_valid():
            raise serializers.ValidationError(form_errors(form))
        return {name: form.cleaned_data[name] for name in ("status", "justification", "evidence_text")}


# ---- the list's rows, built directly --------------------------------------------------------

_MODALITY_LABELS = dict(Modality.choices)
_LINK_TAILS = (
    ("checklist", "checklist/"),
    ("image_sets", "image-sets/"),
    ("audit_runs", "audit-runs/"),
    ("rounds", "rounds/"),
    ("submit", "submit/"),
)


def _labels(name: str) -> dict[Any, Any]:
    """What get_FOO_display looks a value up in (it builds this dict again on every call)."""
    return dict(cast("Field[Any, Any]", Project._meta.get_field(name)).flatchoices)


_STATUS_LABELS, _TASK_LABELS, _FAMILY_LABELS = _labels("status"), _labels("synthesis_task"), _labels("generator_family")


def _when(value: Any) -> str | None:
    """DRF's DateTimeField output (ISO 8601 in the current time zone, UTC as "Z") without its
    per-call checks of the value and the settings."""
    if value is None:
        return None
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def project_rows_data(projects: list[Project], request: Request | None) -> list[dict[str, Any]]:
    """ProjectRowSerializer's output for the rows of project_rows, built from the loaded values:
    DRF makes about 60 field calls per row. The serializer stays the schema;
    tests/api/test_project_row_data.py compares the two, field by field."""
    site = request.build_absolute_uri("/")[:-1] if request is not None else ""
    return [_project_row(project, site) for project in projects]


def _project_row(project: Project, site: str) -> dict[str, Any]:
    version = project.guideline_version
    api_url = site + object_url("api:project-detail", project.pk)
    return {
        "id": project.pk,
        "url": api_url,
        "title": str(project.title),
        "summary": str(project.summary),
        "status": str(project.status),
        "status_display": str(_STATUS_LABELS.get(project.status, project.status)),
        "editable": bool(project.is_editable),
        "synthesis_task": str(project.synthesis_task),
        "synthesis_task_display": str(_TASK_LABELS.get(project.synthesis_task, project.synthesis_task)),
        "modalities": [str(code) for code in project.modalities],
        "modalities_display": [str(_MODALITY_LABELS.get(code, code)) for code in project.modalities],
        "generator_family": str(project.generator_family),
        "generator_family_display": str(_FAMILY_LABELS.get(project.generator_family, project.generator_family)),
        "guideline_version": {
            "id": version.pk,
            "set": str(version.guideline_set.slug),
            "number": int(version.number),
            "name": str(version),
        },
        "owner_name": str(project.owner.display_name),
        "progress": {
            "answered": int(project.answered),  # type: ignore[attr-defined]  # annotated by the selector
            "total": int(project.item_total),  # type: ignore[attr-defined]
            "required_answered": int(project.required_answered),  # type: ignore[attr-defined]
            "required": int(project.required_total),  # type: ignore[attr-defined]
        },
        "rounds": int(project.round_count),  # type: ignore[attr-defined]
        "created_at": _when(project.created_at),
        "updated_at": _when(project.updated_at),
        "first_submitted_at": _when(project.first_submitted_at),  # type: ignore[attr-defined]
        "links": {
            "page": site + object_url("project-detail", project.pk),
            **{name: api_url + tail for name, tail in _LINK_TAILS},
        },
    }
