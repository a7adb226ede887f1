from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from reviews.events import event_emitted
        from webhooks.receivers import on_event

        event_emitted.connect(on_event, dispatch_uid="webhooks.outbox")
