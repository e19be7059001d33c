from django.apps import AppConfig
from django.conf import settings


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self) -> None:
        from conversations import (
            exceptions,  # noqa: F401  (rows in the error table before any request)
            tasks,  # noqa: F401  (registers the Celery tasks)
        )
        from personamcp import jobs

        jobs.periodic(
            "conversations.mood_decay",
            every=settings.MOOD_DECAY_INTERVAL,
            task="conversations.mood_decay",
        )
        jobs.periodic(
            "conversations.after_turn_recover",
            every=60,
            task="conversations.after_turn_recover",
        )
