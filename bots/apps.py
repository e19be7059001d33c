from django.apps import AppConfig
from django.conf import settings


class BotsConfig(AppConfig):
    name = "bots"
    verbose_name = "Bots"

    def ready(self) -> None:
        from bots import (
            exceptions,  # noqa: F401  (rows in the error table before any request)
            tasks,  # noqa: F401  (registers the Celery tasks)
        )
        from personamcp import jobs

        jobs.periodic(
            "bots.supervise", every=settings.BOTS["SUPERVISE_INTERVAL"], task="bots.bot_supervise"
        )
        # Bot tasks go to the queue of the workers that own bot processes.
        settings.CELERY_BEAT_SCHEDULE["bots.supervise"]["options"] = {
            "queue": settings.BOTS["QUEUE"]
        }
