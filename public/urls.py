from django.urls import include, path

# The register (anyone may read it) and the objection channel (anyone may write; admins triage).
urlpatterns = [
    path("", include("public.urls_register")),
    path("", include("public.urls_objections")),
]
