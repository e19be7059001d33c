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
