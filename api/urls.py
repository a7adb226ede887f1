"""The REST API, version 1, under /api/v1/. Each area keeps its URLs in its own module."""

from api import urls_me, urls_projects, urls_records, urls_schema, urls_uploads

app_name = "api"

urlpatterns = [
    *urls_me.urlpatterns,
    *urls_projects.urlpatterns,
    *urls_uploads.urlpatterns,
    *urls_records.urlpatterns,
    *urls_schema.urlpatterns,
]
