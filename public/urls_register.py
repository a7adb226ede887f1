from django.urls import path

from public.feeds import RegisterFeed
from public.views import register

# The public register: anyone may read it, without signing in (public.views.register).
urlpatterns = [
    path("register/", register.register_list, name="public-register"),
    path("register/<int:pk>/", register.register_project, name="public-project"),
    path("register/feed.atom", register.register_cache(RegisterFeed()), name="public-feed"),
    path("register.json", register.register_json, name="public-register-json"),
    path("register/settings/", register.register_settings_view, name="register-settings"),
]
