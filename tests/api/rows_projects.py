"""This area's rows of the API's access table (tests/api/matrix.py says how they are walked).

They agree with the page table's rows for the same pages (tests/reviews/test_access.py):
project-list and project-new for the list and creation, project-detail, project-checklist,
answer-edit and evidence-download for the reads (the owner, admins and, on the submitted
project, the accepted reviewer; an invited reviewer sees nothing yet), project-edit,
answer-edit's POST, evidence-delete and project-submit for the changes (the owner, while the
project is a draft; 403 with the reason for the owner of the submitted project and for those
who may read it; 404 for everyone else). An anonymous caller gets 401 where the page sends
them to log in. Bodies are valid, so a refusal is the permission check.
"""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from reviews.models import Project
from tests.api.matrix import Op, V, World, per_role, pk_param
from tests.factories import project_fields

READERS = per_role(401, 200, 404, 404, 200, assigned=V(404, 200))
SIGNED_IN = per_role(401, 200, 200, 200, 200)


def changers(done: int) -> dict[str, Any]:
    """The owner changes the draft (`done`); the submitted project is read-only for everyone."""
    return per_role(401, V(done, 403), 404, 404, 403, assigned=V(404, 403))


def project_body(w: World, p: Project) -> dict[str, Any]:
    return project_fields()


def _answer(w: World, p: Project) -> dict[str, Any]:
    return {"id": p.pk, "code": w.item_code}


def _evidence(w: World, p: Project) -> dict[str, Any]:
    variant = "draft" if p.pk == w.projects["draft"].pk else "submitted"
    return {"id": p.pk, "evidence_id": w.evidence[variant].pk}


def _evidence_file(w: World, p: Project) -> dict[str, Any]:
    return {"file": SimpleUploadedFile("api-evidence.txt", b"Evidence sent through the API.\n", "text/plain")}


ROWS: dict[tuple[str, str], Op] = {
    ("GET", "/api/v1/projects/"): Op(SIGNED_IN),
    # Verified researchers create projects; reviewers and administrators do not (project-new).
    ("POST", "/api/v1/projects/"): Op(per_role(401, 201, 201, 403, 403), body=project_body),
    ("GET", "/api/v1/projects/{id}/"): Op(READERS, params=pk_param, project_scoped=True),
    ("PATCH", "/api/v1/projects/{id}/"): Op(
        changers(200), params=pk_param, body=lambda w, p: {"title": "Renamed through the API"}, project_scoped=True
    ),
    # The draft's required items are all answered in the world, so its submission goes through.
    ("POST", "/api/v1/projects/{id}/submit/"): Op(
        changers(201), params=pk_param, body=lambda w, p: {"public_listing": False}, project_scoped=True
    ),
    ("GET", "/api/v1/projects/{id}/checklist/"): Op(READERS, params=pk_param, project_scoped=True),
    ("GET", "/api/v1/projects/{id}/answers/{code}/"): Op(READERS, params=_answer, project_scoped=True),
    ("PUT", "/api/v1/projects/{id}/answers/{code}/"): Op(
        changers(200),
        params=_answer,
        body=lambda w, p: {"status": "partly_met", "justification": "", "evidence_text": "Changed."},
        project_scoped=True,
    ),
    ("POST", "/api/v1/projects/{id}/answers/{code}/evidence/"): Op(
        changers(201), params=_answer, body=_evidence_file, format="multipart", project_scoped=True
    ),
    ("GET", "/api/v1/projects/{id}/evidence/{evidence_id}/"): Op(READERS, params=_evidence, project_scoped=True),
    ("DELETE", "/api/v1/projects/{id}/evidence/{evidence_id}/"): Op(
        changers(204), params=_evidence, project_scoped=True
    ),
    ("GET", "/api/v1/projects/{id}/evidence/{evidence_id}/content/"): Op(
        READERS, params=_evidence, project_scoped=True
    ),
}
