from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self) -> None:
        from conversations import (
            tasks,  # noqa: F401  (registers the Celery tasks; periodic: CELERY_BEAT_SCHEDULE)
        )
        from conversations.services import conversation_turns_recover
        from personamcp import hooks

        hooks.server_starts.add("fail turns of dead processes", conversation_turns_recover)
