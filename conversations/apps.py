from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self) -> None:
        from conversations import (
            exceptions,  # noqa: F401  (rows in the error table before any request)
            tasks,  # noqa: F401  (registers the Celery tasks; periodic: CELERY_BEAT_SCHEDULE)
        )
        from conversations.llm import provider_available, provider_info
        from personamcp import hooks

        hooks.info_sections.add("llm", provider_info)
        hooks.status_fields.add("llm_available", provider_available)
