from django.apps import AppConfig


class GoalsConfig(AppConfig):
    name = "goals"
    verbose_name = "Goals and triggers"

    def ready(self) -> None:
        from goals import exceptions  # noqa: F401  (rows in the error table before any request)
