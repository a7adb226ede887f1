"""Signed-in sessions end after a working day and after an idle hour.

Django's SESSION_COOKIE_AGE alone is renewed each time the session is saved, so this
middleware keeps the start of the session and the last activity in the session itself and
logs the user out past either limit; the request then goes on as anonymous, so a protected
page sends them to the login page, which says why. The last activity is written at most
once a minute (not a session write per request), and requests that pages make on their own
(SESSION_PASSIVE_URL_NAMES, such as polling a run's progress) do not count as activity.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest, HttpResponseBase
from django.urls import Resolver404, resolve

STARTED = "misyn_session_started"
LAST_ACTIVITY = "misyn_last_activity"
ACTIVITY_GRANULARITY = 60  # seconds

IDLE_MESSAGE = "Your session expired after {minutes} minutes without activity. Please log in again."
DAY_MESSAGE = "Your session expired: sessions last {hours} hours. Please log in again."


def _session_started(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    now = int(time.time())
    request.session[STARTED] = now
    request.session[LAST_ACTIVITY] = now


user_logged_in.connect(_session_started, dispatch_uid="reviews_session_started")


def _passive(request: HttpRequest) -> bool:
    try:
        return resolve(request.path_info).url_name in settings.SESSION_PASSIVE_URL_NAMES
    except Resolver404:
        return False


class IdleSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.user.is_authenticated:
            self._enforce(request)
        return self.get_response(request)

    def _enforce(self, request: HttpRequest) -> None:
        session = request.session
        now = int(time.time())
        started = int(session.get(STARTED, now))
        last = int(session.get(LAST_ACTIVITY, now))
        if now - last > settings.SESSION_IDLE_SECONDS:
            self._end(request, IDLE_MESSAGE.format(minutes=settings.SESSION_IDLE_SECONDS // 60))
        elif now - started > settings.SESSION_COOKIE_AGE:
            self._end(request, DAY_MESSAGE.format(hours=f"{settings.SESSION_COOKIE_AGE / 3600:g}"))
        else:
            if STARTED not in session:
                session[STARTED] = started
            stale = now - last >= ACTIVITY_GRANULARITY or LAST_ACTIVITY not in session
            if stale and not _passive(request):
                session[LAST_ACTIVITY] = now

    @staticmethod
    def _end(request: HttpRequest, message: str) -> None:
        logout(request)
        messages.info(request, message)
