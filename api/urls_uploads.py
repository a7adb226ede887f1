"""The API's URLs for this area, included by api/urls.py under /api/v1/ (namespace "api"):
image sets, resumable uploads and audit runs of a project.

"api:image-sets" and "api:upload" carry bodies that reviews.middleware caps and
permission-checks before reading (settings REQUEST_LIMITS, UPLOAD_PERMISSIONS)."""

from django.urls import URLPattern, path

from api.views import runs, uploads

urlpatterns: list[URLPattern] = [
    path("projects/<int:id>/image-sets/", uploads.ImageSetList.as_view(), name="image-sets"),
    path("projects/<int:id>/image-sets/<int:set_id>/", uploads.ImageSetDetail.as_view(), name="image-set"),
    path("projects/<int:id>/uploads/", uploads.UploadStart.as_view(), name="uploads"),
    path("projects/<int:id>/uploads/<uuid:upload_id>/", uploads.UploadDetail.as_view(), name="upload"),
    path("projects/<int:id>/audit-runs/", runs.AuditRunList.as_view(), name="audit-runs"),
    path("projects/<int:id>/audit-runs/<int:run_id>/", runs.AuditRunDetail.as_view(), name="audit-run"),
    path(
        "projects/<int:id>/audit-runs/<int:run_id>/results/<str:audit>/",
        runs.AuditResult.as_view(),
        name="audit-result",
    ),
]
