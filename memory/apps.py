from django.apps import AppConfig


class MemoryConfig(AppConfig):
    name = "memory"
    verbose_name = "Memory"

    def ready(self) -> None:
        # Registers the periodic decay/prune tasks (beat schedule or in-process scheduler)
        # before the ASGI module starts the embedded scheduler.
        from memory import (
            exceptions,  # noqa: F401  (rows in the error table before any request)
            tasks,  # noqa: F401
        )
