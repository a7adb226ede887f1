from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        from api.services.uploads import chunked_needed
        from config.storage import register_sweep

        register_sweep("chunked", chunked_needed)
