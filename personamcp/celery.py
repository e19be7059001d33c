"""The Celery application. Settings come from Django's settings under the CELERY namespace."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "personamcp.settings")

app = Celery("personamcp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _own_database_pool(**_kwargs) -> None:
    """A forked worker child must not share the parent's pooled PostgreSQL sockets: forget the
    inherited pools (without closing them, which would end the parent's sessions) so the child
    opens its own."""
    from django.db.backends.postgresql.base import DatabaseWrapper

    DatabaseWrapper._connection_pools.clear()


@worker_process_init.connect
def _trim_freed_memory(**_kwargs) -> None:
    """Each worker process hands glibc's free memory back on a timer (personamcp/malloc.py)."""
    from personamcp import malloc

    malloc.start_trimmer()
