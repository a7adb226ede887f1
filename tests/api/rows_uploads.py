"""This area's rows of the API's access table (tests/api/matrix.py says how they are walked):
image sets, resumable uploads and audit runs, with the answers of the same pages
(tests/reviews/test_access.py: "imageset-upload", "imageset-detail", "audit-run-start",
"audit-run", "audit-result"). Seeing is `reviews.view_project`; uploading is
`reviews.change_project` (the owner, while the project is editable); running the audits is
`audits.run_audits` (the owner and admins, in every state). An upload is its owner's alone:
an admin who may see the project still does not find it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from api.models import ChunkedUpload
from audits.enums import SetRole
from reviews.models import Project
from tests.api.matrix import Op, V, World, per_role
from tests.reviews.test_access import CT_SMALL

SEE = per_role(401, 200, 404, 404, 200, assigned=V(404, 200))
UPLOAD = per_role(401, V(201, 403), 404, 404, 403, assigned=V(404, 403))
CHUNK = b"\x00DCM"
UPLOAD_SIZE = 8


def _variant(w: World, p: Project) -> str:
    return "draft" if p.pk == w.projects["draft"].pk else "submitted"


def _owners_upload(w: World, p: Project) -> ChunkedUpload:
    """An open upload of the owner in that project (made directly: the submitted one takes none)."""
    key = f"api-upload-{_variant(w, p)}"
    if key not in w.extras:
        now = timezone.now()
        upload = ChunkedUpload(
            owner=w.owner, project=p, filename="scan.dcm", size=UPLOAD_SIZE, expires_at=now + timedelta(hours=1)
        )
        upload.stored_name = f"chunked/{upload.pk.hex}"
        path = Path(storages["private"].path(upload.stored_name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        upload.save()
        w.extras[key] = upload
    return w.extras[key]


def _project(w: World, p: Project) -> dict[str, Any]:
    return {"id": p.pk}


def _upload(w: World, p: Project) -> dict[str, Any]:
    return {"id": p.pk, "upload_id": _owners_upload(w, p).pk}


def _image_set(w: World, p: Project) -> dict[str, Any]:
    return {"id": p.pk, "set_id": w.image_sets[_variant(w, p)].pk}


def _run(w: World, p: Project) -> dict[str, Any]:
    return {"id": p.pk, "run_id": w.runs[_variant(w, p)].pk}


ROWS: dict[tuple[str, str], Op] = {
    ("GET", "/api/v1/projects/{id}/image-sets/"): Op(expect=SEE, params=_project, project_scoped=True),
    ("POST", "/api/v1/projects/{id}/image-sets/"): Op(
        expect=UPLOAD,
        params=_project,
        body=lambda w, p: {
            "role": SetRole.HOLDOUT,
            "files": [
                SimpleUploadedFile("held-out.dcm", Path(CT_SMALL).read_bytes(), content_type="application/dicom")
            ],
        },
        format="multipart",
        project_scoped=True,
    ),
    ("GET", "/api/v1/projects/{id}/image-sets/{set_id}/"): Op(expect=SEE, params=_image_set, project_scoped=True),
    ("POST", "/api/v1/projects/{id}/uploads/"): Op(
        expect=UPLOAD, params=_project, body=lambda w, p: {"filename": "scan.dcm", "size": 100}, project_scoped=True
    ),
    ("GET", "/api/v1/projects/{id}/uploads/{upload_id}/"): Op(
        expect=per_role(401, 200, 404, 404, 404), params=_upload, project_scoped=True
    ),
    ("PUT", "/api/v1/projects/{id}/uploads/{upload_id}/"): Op(
        expect=per_role(401, V(200, 403), 404, 404, 403, assigned=V(404, 403)),
        params=_upload,
        raw=lambda w, p: CHUNK,
        headers=lambda w, p: {"Content-Range": f"bytes 0-{len(CHUNK) - 1}/{UPLOAD_SIZE}"},
        project_scoped=True,
    ),
    ("DELETE", "/api/v1/projects/{id}/uploads/{upload_id}/"): Op(
        expect=per_role(401, V(204, 403), 404, 404, 403, assigned=V(404, 403)), params=_upload, project_scoped=True
    ),
    ("GET", "/api/v1/projects/{id}/audit-runs/"): Op(expect=SEE, params=_project, project_scoped=True),
    ("POST", "/api/v1/projects/{id}/audit-runs/"): Op(
        expect=per_role(401, 201, 404, 404, 201, assigned=V(404, 403)),
        params=_project,
        body=lambda w, p: {},
        project_scoped=True,
    ),
    ("GET", "/api/v1/projects/{id}/audit-runs/{run_id}/"): Op(expect=SEE, params=_run, project_scoped=True),
    ("GET", "/api/v1/projects/{id}/audit-runs/{run_id}/results/{audit}/"): Op(
        expect=SEE, params=lambda w, p: {**_run(w, p), "audit": "privacy"}, project_scoped=True
    ),
}
