from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "bots"
    verbose_name = "Bots"

    def ready(self) -> None:
        from bots import (
            exceptions,  # noqa: F401  (rows in the error table before any request)
            tasks,  # noqa: F401  (registers the Celery tasks; periodic: CELERY_BEAT_SCHEDULE)
        )
