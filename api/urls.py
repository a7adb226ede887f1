"""The REST API, version 1, under /api/v1/. Each area keeps its URLs in its own module."""

from django.urls import re_path

from api import urls_me, urls_projects, urls_records, urls_schema, urls_uploads
from api.views.errors import unknown_operation

app_name = "api"

urlpatterns = [
    *urls_me.urlpatterns,
    *urls_projects.urlpatterns,
    *urls_uploads.urlpatterns,
    *urls_records.urlpatterns,
    *urls_schema.urlpatterns,
    # Last: any other URL under /api/v1/ answers a JSON 404 (a missing trailing slash is named).
    re_path(r"^(?P<rest>.*)$", unknown_operation, name="unknown"),
]
