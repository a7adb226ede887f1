from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Reviews"

    def ready(self) -> None:
        from config.storage import register_sweep
        from reviews import (
            receivers,  # noqa: F401 (connects the denial log to django-axes)
            sessions,  # noqa: F401 (stamps a session's start at login, before any request is served)
        )
        from reviews.services.projects import evidence_needed

        register_sweep("evidence", evidence_needed)
