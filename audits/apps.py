from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = "Audits"

    def ready(self) -> None:
        from audits import receivers  # noqa: F401 (connects the signal receivers)
        from audits.services.sweep import images_needed, runs_needed, uploads_needed
        from config.storage import register_sweep

        register_sweep("runs", runs_needed)
        register_sweep("uploads", uploads_needed)
        register_sweep("images", images_needed)
