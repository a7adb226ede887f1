from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "MISyn Review administration"
admin.site.site_title = "MISyn Review"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("reviews.urls")),
    path("", include("audits.urls")),
    path("", include("letters.urls")),
    path("", include("oversight.urls")),
    path("", include("public.urls")),
    path("", include("api.urls_pages")),
    path("", include("webhooks.urls")),
    path("api/v1/", include("api.urls")),
]

# A database or Redis that cannot be reached answers 503 with Retry-After, not 500.
handler500 = "reviews.views.errors.server_error"
# Every refusal is logged with user, address and URL (reviews.middleware.log_denial).
handler403 = "reviews.views.errors.permission_denied"
