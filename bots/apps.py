from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "bots"
    verbose_name = "Bots"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from bots import (
            bridges,
            tasks,  # noqa: F401  (registers the Celery tasks; periodic: CELERY_BEAT_SCHEDULE)
        )
        from rooms.models import RoomMessage

        # Lines of bridged rooms are posted to Matrix by the speaking persona's bot.
        post_save.connect(bridges.on_room_line, sender=RoomMessage, dispatch_uid="bots.bridges")
