"""The API's URLs for this area, included by api/urls.py under /api/v1/ (namespace "api")."""

from django.urls import path

from api.views.me import MeView

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
]
