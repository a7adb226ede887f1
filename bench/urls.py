"""The app's URLs plus the page benchmark's baselines, which exist only under bench.settings.

- /bench/bare/: a signed-in user's "ok" (session and user loaded, no template): what any
  page costs at least; /bench/bare-anonymous/: the same without signing in.
- /bench/blank/: the site's layout with nothing in it, signed in (navigation, context
  processors, middleware): what every page pays before its own content.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from config.urls import handler403, handler500
from config.urls import urlpatterns as app_urlpatterns

__all__ = ["handler403", "handler500", "urlpatterns"]


def bare_anonymous(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@login_required
def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@login_required
def blank(request: HttpRequest) -> HttpResponse:
    return render(request, "bench/blank.html")


urlpatterns = [
    path("bench/bare/", bare),
    path("bench/bare-anonymous/", bare_anonymous),
    path("bench/blank/", blank),
    *app_urlpatterns,
]
