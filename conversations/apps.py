from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self) -> None:
        from conversations import (
            exceptions,  # noqa: F401  (rows in the error table before any request)
            tasks,  # noqa: F401  (registers the Celery tasks; periodic: CELERY_BEAT_SCHEDULE)
        )
