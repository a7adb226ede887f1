"""The API's URLs for this area, included by api/urls.py under /api/v1/ (namespace "api")."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
