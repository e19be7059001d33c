from django.apps import AppConfig


class PersonasConfig(AppConfig):
    name = "personas"
    verbose_name = "Personas"

    def ready(self) -> None:
        from personas import (
            exceptions,  # noqa: F401  (rows in the error table before any request)
            signals,  # noqa: F401  (events on admin/shell edits)
        )
