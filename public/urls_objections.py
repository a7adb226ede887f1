from django.urls import path

from public.views import objections

# The objection channel: anyone sends and tracks; administrators triage; the researcher responds.
urlpatterns = [
    path("register/<int:pk>/object/", objections.objection_new, name="objection-new"),
    path("register/objections/<str:token>/", objections.objection_track, name="objection-track"),
    path("board/objections/", objections.objection_list, name="objection-list"),
    path("board/objections/<int:pk>/", objections.objection_detail, name="objection-detail"),
    path("projects/<int:pk>/reinstate/", objections.project_reinstate_view, name="project-reinstate"),
    path(
        "projects/<int:pk>/objections/<int:objection_pk>/respond/",
        objections.objection_respond,
        name="objection-respond",
    ),
]
