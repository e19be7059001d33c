"""The embedded mode's SQLite backend: one writer at a time per process, the others queued
(personamcp/db/sqlite3/base.py)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

pytestmark = [pytest.mark.embedded, pytest.mark.django_db(transaction=True)]


def _lock():
    connection.ensure_connection()
    return connection.connection.write_lock


def _in_thread(work) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run():
        try:
            out["value"] = work()
        except Exception as exc:
            out["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_a_write_transaction_holds_the_lock_from_begin_to_commit_or_rollback():
    from personas.models import Persona

    lock = _lock()
    assert not lock.locked()
    with transaction.atomic():
        assert lock.locked()
        Persona.objects.create(slug="queued", name="Queued")
        with transaction.atomic():  # a savepoint: still the same hold
            assert lock.locked()
    assert not lock.locked()
    with pytest.raises(RuntimeError), transaction.atomic():
        Persona.objects.filter(slug="queued").update(name="Lost")
        raise RuntimeError("fails mid-transaction")
    assert not lock.locked()
    assert Persona.objects.get(slug="queued").name == "Queued"  # rolled back


def test_writers_of_other_threads_wait_for_the_transaction_instead_of_failing():
    from personas.models import Persona

    with transaction.atomic():
        Persona.objects.create(slug="first", name="First")
        # A write outside a transaction and a write transaction, each on its own thread.
        plain, plain_out = _in_thread(lambda: Persona.objects.create(slug="second", name="2"))
        atomic, atomic_out = _in_thread(
            lambda: transaction.atomic()(lambda: Persona.objects.create(slug="third", name="3"))()
        )
        time.sleep(0.5)
        assert plain.is_alive() and atomic.is_alive()  # queued behind this transaction
        assert not Persona.objects.filter(slug__in=["second", "third"]).exists()
    plain.join(10), atomic.join(10)
    assert "error" not in plain_out and "error" not in atomic_out, (plain_out, atomic_out)
    assert set(Persona.objects.values_list("slug", flat=True)) >= {"first", "second", "third"}
    assert not _lock().locked()


def test_reads_do_not_queue_behind_a_writer():
    from personas.models import Persona

    Persona.objects.create(slug="seen", name="Seen")
    with transaction.atomic():
        Persona.objects.filter(slug="seen").update(name="Changing")
        reader, out = _in_thread(lambda: Persona.objects.get(slug="seen").name)
        reader.join(5)
        assert not reader.is_alive()
        assert out == {"value": "Seen"}  # WAL: the last committed version, at once


def test_a_new_connection_leaves_no_statement_active_while_something_holds_every_object():
    """Django left the cursor of ``PRAGMA journal_mode=WAL`` (a row, a writing statement) to
    be freed: while a profiler or memory probe held all objects (``gc.get_objects()``) the
    connection's next commit failed with "SQL statements in progress" (about one commit in
    ten of 6 writer threads before the fix)."""
    import gc

    from personas.models import Persona

    stop = threading.Event()

    def hold_everything():
        while not stop.is_set():
            held = gc.get_objects()
            time.sleep(0.005)
            del held

    holder = threading.Thread(target=hold_everything)
    holder.start()
    failures: list[str] = []

    Persona.objects.create(slug="held", name="Held")
    commits = [0]

    def writer():
        for _ in range(150):
            try:
                with transaction.atomic():
                    Persona.objects.filter(slug="held").update(name="Held again")
                commits[0] += 1
            except Exception as exc:
                failures.append(str(exc))
            connection.close()  # every transaction on a new connection, as job threads do

    try:
        threads = [_in_thread(writer)[0] for _ in range(6)]
        for thread in threads:
            thread.join()
    finally:
        stop.set()
        holder.join()
    assert failures == []
    assert commits[0] == 900
    with connection.cursor() as cursor:  # the init commands still ran
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 1  # NORMAL
