"""The API's URLs for projects, checklist answers, evidence files and submission, included by
api/urls.py under /api/v1/ (namespace "api").

The request caps and upload handlers look limits and permissions up by the namespaced view
name, e.g. "api:answer-evidence-upload" (settings.REQUEST_LIMITS, UPLOAD_LIMITS,
UPLOAD_PERMISSIONS), so an API URL never takes a page's limit by sharing its bare name."""

from django.urls import URLPattern, path

from api.views import projects

urlpatterns: list[URLPattern] = [
    path("projects/", projects.ProjectList.as_view(), name="project-list"),
    path("projects/<int:id>/", projects.ProjectDetail.as_view(), name="project-detail"),
    path("projects/<int:id>/submit/", projects.ProjectSubmit.as_view(), name="project-submit"),
    path("projects/<int:id>/checklist/", projects.ProjectChecklist.as_view(), name="project-checklist"),
    path("projects/<int:id>/answers/<str:code>/", projects.ProjectAnswer.as_view(), name="project-answer"),
    path(
        "projects/<int:id>/answers/<str:code>/evidence/",
        projects.AnswerEvidenceUpload.as_view(),
        name="answer-evidence-upload",
    ),
    path("projects/<int:id>/evidence/<int:evidence_id>/", projects.EvidenceDetail.as_view(), name="project-evidence"),
    path(
        "projects/<int:id>/evidence/<int:evidence_id>/content/",
        projects.EvidenceContent.as_view(),
        name="project-evidence-content",
    ),
]
