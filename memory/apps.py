from django.apps import AppConfig


class MemoryConfig(AppConfig):
    name = "memory"
    verbose_name = "Memory"

    def ready(self) -> None:
        from memory import (
            tasks,  # noqa: F401  (registers the Celery tasks; periodic: CELERY_BEAT_SCHEDULE)
        )
        from memory.embeddings import embedding_info, warm_up
        from personamcp import hooks

        hooks.info_sections.add("embedding", embedding_info)
        hooks.warm_ups.add("embedding model", warm_up)
