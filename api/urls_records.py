"""The API's URLs for this area, included by api/urls.py under /api/v1/ (namespace "api"):
rounds, signatures and decisions (read only), the public register, letter verification and
guideline versions."""

from django.urls import URLPattern, path

from api.views import guidelines, register, rounds

urlpatterns: list[URLPattern] = [
    path("projects/<int:id>/rounds/", rounds.ProjectRoundList.as_view(), name="project-rounds"),
    path("projects/<int:id>/rounds/<int:number>/", rounds.ProjectRoundDetail.as_view(), name="project-round"),
    path(
        "projects/<int:id>/rounds/<int:number>/signatures/",
        rounds.ProjectRoundSignatures.as_view(),
        name="project-round-signatures",
    ),
    path("register/", register.RegisterList.as_view(), name="register"),
    path("register/<int:id>/", register.RegisterDetail.as_view(), name="register-entry"),
    path("verify/<str:digest>/", register.LetterVerify.as_view(), name="verify"),
    path("guidelines/", guidelines.GuidelineVersionList.as_view(), name="guidelines"),
    path("guidelines/<int:id>/", guidelines.GuidelineVersionDetail.as_view(), name="guideline"),
]
