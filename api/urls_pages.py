"""The API's pages in the app (not under /api/v1/): personal tokens and the board's token list."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
