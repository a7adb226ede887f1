"""The webhook pages: registering hooks, their delivery log and the test event."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
