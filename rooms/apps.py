from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "rooms"

    def ready(self) -> None:
        from rooms import exceptions  # noqa: F401  (rows in the error table before any request)
