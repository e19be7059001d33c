"""Database backends of Persona-MCP, and helpers for writing under concurrency."""


def lock_in_order(queryset) -> None:
    """Lock the rows of ``queryset`` in primary-key order (inside the caller's transaction).

    Two transactions that update overlapping sets of rows, each in its own order (a fact
    superseding older ones, a batch of access times), can each wait for a row the other holds:
    PostgreSQL aborts one with "deadlock detected". Locking first in one order makes the later
    one wait instead. SQLite has one writer at a time and no row locks: a no-op there.
    """
    from django.db import connections

    if connections[queryset.db].features.has_select_for_update:
        list(queryset.select_for_update().order_by("pk").values_list("pk", flat=True))
