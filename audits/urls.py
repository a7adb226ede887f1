from django.urls import path

from audits.views import pages, uploads

urlpatterns = [
    path("projects/<int:pk>/audits/", pages.audits_overview, name="audits-overview"),
    path("projects/<int:pk>/audits/upload/", uploads.image_set_upload, name="imageset-upload"),
    path("projects/<int:pk>/audits/sets/<int:set_pk>/", pages.image_set_detail, name="imageset-detail"),
    path("projects/<int:pk>/audits/sets/<int:set_pk>/status/", pages.image_set_status, name="imageset-status"),
    path("projects/<int:pk>/audits/run/", pages.audit_run_start, name="audit-run-start"),
    path("projects/<int:pk>/audits/thresholds/", pages.audit_thresholds, name="audit-thresholds"),
    path("projects/<int:pk>/audits/runs/<int:run_pk>/", pages.audit_run_detail, name="audit-run"),
    path("projects/<int:pk>/audits/runs/<int:run_pk>/status/", pages.audit_run_status, name="audit-run-status"),
    path("projects/<int:pk>/audits/runs/<int:run_pk>/<str:audit>/", pages.audit_result_detail, name="audit-result"),
    path(
        "projects/<int:pk>/audits/images/<int:file_pk>/<int:index>/thumbnail.png",
        pages.image_thumbnail,
        name="image-thumbnail",
    ),
]
