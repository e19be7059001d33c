"""The read path of retrieval: candidate rows in one round trip, without building ORM queries.

``memory_search`` (``memory.selectors``) needs, for the nearest memories of a query, their
scoring fields as they are now (importance, last access, superseded: decay, LLM rescoring
and other processes' access batches change them without touching the vectors) and, for the
winners, the whole row. Building those queries through the ORM cost more than the database
itself (about 0.3 ms of Python per query). Here the statements are fixed text, the values
bound parameters, and the rows come back as tuples converted the way the ORM converts them
(``RowReader``); ``Memory`` objects are made only for the rows a search returns.

- SQLite: ``sharing_plan`` reads, in one query, the persona's index counters and, for
  ``include_shared``, the other personas whose memories it may see with theirs (then
  ``memory.index`` searches the cached vectors without asking again); ``rows_by_id`` reads
  the candidates' rows in one more.
- PostgreSQL: ``pg_candidates`` is one statement: the persona's own nearest memories from the
  HNSW index (built over half-precision copies of the vectors) and, with ``shared``, the
  shared/public memories of others ranked exactly, with the sharing rule (relationships in
  either direction) as a subquery. It runs on a cursor with server-side binding: the query
  vector travels in pgvector's binary format and the statement is prepared on the session
  (``prepare=True``; Django's own cursors bind on the client and never prepare).
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils.dateparse import parse_datetime

from memory.models import Memory, MemoryIndexState
from personas.models import Persona, Relationship

PERSONA = Relationship.OtherKind.PERSONA.value


class RowReader:
    """Memory rows (every column but the vector) read by a raw cursor, converted as the ORM
    converts them (SQLite datetimes made aware, UUIDs, ``metadata`` JSON text parsed)."""

    def __init__(self, conn) -> None:
        self.connection = conn
        self.fields = [f for f in Memory._meta.concrete_fields if f.name != "embedding"]
        self.attnames = [f.attname for f in self.fields]
        self.columns = ", ".join(conn.ops.quote_name(f.column) for f in self.fields)
        table = Memory._meta.db_table
        self.compiler = Memory.objects.all().query.get_compiler(connection=conn)
        self.converters = self.compiler.get_converters([f.get_col(table) for f in self.fields])
        if conn.vendor == "sqlite" and settings.USE_TZ:
            # sqlite3 already parses these columns (Django registers its ``datetime``
            # converter); making them aware is all that is left, and Django's converter took
            # 4 us a value for that (a search reads two for each of its ~40 candidates).
            aware = _aware_in(conn.timezone)
            for pos, field in enumerate(self.fields):
                if pos in self.converters and field.get_internal_type() == "DateTimeField":
                    self.converters[pos] = ([aware], self.converters[pos][1])
        position = {name: i for i, name in enumerate(self.attnames)}
        self.ID = position["id"]
        self.IMPORTANCE = position["importance"]
        self.ACCESSED = position["last_accessed_at"]
        self.SUPERSEDED = position["superseded"]

    def value(self, row, pos: int):
        """One column of a raw row, converted."""
        value = row[pos]
        if pos in self.converters:
            convs, expression = self.converters[pos]
            for convert in convs:
                value = convert(value, expression, self.connection)
        return value

    def accessed(self, row) -> datetime:
        """``last_accessed_at`` of a raw row, aware (ranking reads it for every candidate)."""
        value = row[self.ACCESSED]
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value  # PostgreSQL: psycopg returns it aware
        return self.value(row, self.ACCESSED)

    def memory(self, row) -> Memory:
        """The ``Memory`` of a raw row (made only for the rows a search returns)."""
        values = list(row)
        for pos in self.converters:
            values[pos] = self.value(row, pos)
        return Memory.from_db(self.connection.alias, self.attnames, values)


def _aware_in(tz):
    """A SQLite datetime column's converter: the value as Django's converter returns it, aware
    in the connection's time zone (``timezone.make_aware`` is ``replace(tzinfo=...)``)."""

    def convert(value, expression, conn):
        if value is None:
            return None
        if not isinstance(value, datetime):
            value = parse_datetime(value)
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)

    return convert


_readers = threading.local()


def reader() -> RowReader:
    """This thread's reader for its connection (converters hold the connection they use)."""
    conn = connections[DEFAULT_DB_ALIAS]
    current = getattr(_readers, "value", None)
    if current is None or current.connection is not conn:
        current = _readers.value = RowReader(conn)
    return current


def _db_id(value) -> object:
    """A persona id as this database stores it (SQLite: 32 hex digits; PostgreSQL: uuid)."""
    return Persona._meta.pk.get_db_prep_value(uuid.UUID(str(value)), connection)


# --- SQLite ---------------------------------------------------------------------------------


def _plan_sql() -> str:
    mem = Memory._meta.db_table
    state = MemoryIndexState._meta.db_table
    rel = Relationship._meta.db_table
    # Fixed table and column names; every value is a bound parameter.
    return (
        # Personas with public memories, one index probe each on (visibility, persona)
        # instead of a scan of every public row. Superseded rows are not told apart here: such
        # an owner's cached index holds only searchable rows, so it simply adds nothing.
        "WITH RECURSIVE pub(pid) AS ("  # noqa: S608
        f" SELECT (SELECT min(persona_id) FROM {mem} WHERE visibility = 'public')"
        f" UNION ALL SELECT (SELECT min(persona_id) FROM {mem}"
        "  WHERE visibility = 'public' AND persona_id > pub.pid) FROM pub"
        " WHERE pub.pid IS NOT NULL),"
        # Related personas in either direction. other_id holds a persona's UUID as text
        # (str(uuid)); replace() turns it into the 32 hex digits SQLite stores a UUID as.
        " owners(pid, related) AS ("
        f" SELECT persona_id, 1 FROM {rel} WHERE other_kind = %s AND other_id = %s"
        f" UNION ALL SELECT lower(replace(other_id, '-', '')), 1 FROM {rel}"
        "  WHERE persona_id = %s AND other_kind = %s"
        " UNION ALL SELECT pid, 0 FROM pub WHERE pid IS NOT NULL)"
        f" SELECT persona_id, revision, layout, -1 FROM {state} WHERE persona_id = %s"
        f" UNION ALL SELECT s.persona_id, s.revision, s.layout, max(o.related) FROM {state} s"
        "  JOIN owners o ON o.pid = s.persona_id WHERE s.persona_id <> %s"
        "  GROUP BY s.persona_id"
    )


def _state_sql() -> str:
    state = MemoryIndexState._meta.db_table
    return f"SELECT persona_id, revision, layout, -1 FROM {state} WHERE persona_id = %s"  # noqa: S608


def sharing_plan(persona_id, include_shared: bool) -> tuple[tuple, dict[str, tuple]]:
    """SQLite, one query: ``((revision, layout) of the persona's index, {other persona id:
    ((revision, layout), related)})``. ``related`` (a relationship in either direction) lets
    it see the other's shared and public memories, otherwise only its public ones."""
    me = _db_id(persona_id)
    with connection.cursor() as cursor:
        if include_shared:
            text = str(uuid.UUID(str(persona_id)))
            cursor.execute(_plan_sql(), [PERSONA, text, me, PERSONA, me, me])
        else:
            cursor.execute(_state_sql(), [me])
        rows = cursor.fetchall()
    own = (0, 0)
    others: dict[str, tuple] = {}
    for pid, revision, layout, related in rows:
        if related == -1:
            own = (revision, layout)
        else:
            others[str(uuid.UUID(str(pid)))] = ((revision, layout), bool(related))
    return own, others


def rows_by_id(ids: list[int]) -> list[tuple]:
    """The raw rows of these memories (every column but the vector: ``reader()`` reads them);
    one query."""
    if not ids:
        return []
    rr = reader()
    marks = ", ".join(["%s"] * len(ids))
    sql = f"SELECT {rr.columns} FROM {Memory._meta.db_table} WHERE id IN ({marks})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, ids)
        return cursor.fetchall()


def index_rows(persona_id, after_id: int) -> list[tuple]:
    """``memory.index``: the persona's searchable rows with an id above ``after_id``, in id
    order, as ``(id, kind, visibility, about, vector)``; one fixed statement."""
    field = Memory._meta.get_field("embedding")
    names = ("id", "kind", "visibility", "about", "embedding")
    columns = ", ".join(connection.ops.quote_name(Memory._meta.get_field(n).column) for n in names)
    sql = (
        f"SELECT {columns} FROM {Memory._meta.db_table}"  # noqa: S608 - fixed names
        " WHERE persona_id = %s AND superseded = %s AND id > %s ORDER BY id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_db_id(persona_id), False, after_id])
        rows = cursor.fetchall()
    vector = field.from_db_value
    return [(i, kind, vis, about, vector(e, None, connection)) for i, kind, vis, about, e in rows]


# --- PostgreSQL -----------------------------------------------------------------------------


def raw_pg_connection():
    """The psycopg connection under Django's, with pgvector's binary adapters registered."""
    from pgvector.psycopg import register_vector

    connection.ensure_connection()
    raw = connection.connection
    if not getattr(raw, "_personamcp_vector", False):
        register_vector(raw)
        # Django opens sessions with prepared statements off (prepare_threshold None, for
        # transaction-mode poolers); its own cursors bind on the client and never prepare
        # anyway. A threshold lets the candidate statement (``prepare=True``) be prepared.
        if raw.prepare_threshold is None:
            raw.prepare_threshold = 5
        raw._personamcp_vector = True
    return raw


def pg_statement(
    persona: Persona,
    query: np.ndarray,
    k: int,
    *,
    kinds: list[str] | None = None,
    min_importance: float | None = None,
    about: str | None = None,
    shared: bool = False,
) -> tuple[str, dict]:
    """The candidate statement and its parameters (see ``pg_candidates``)."""
    rr = reader()
    params: dict = {
        "q": np.ascontiguousarray(query, dtype=np.float32),
        "k": int(k),
        "persona": persona.id,
    }
    filters = ["superseded = false"]
    if kinds:
        params["kinds"] = list(kinds)
        filters.append("kind = ANY(%(kinds)s)")
    if min_importance is not None:
        params["min_importance"] = float(min_importance)
        filters.append("importance >= %(min_importance)s")
    if about is not None:
        params["about"] = about
        filters.append("about = %(about)s")
    table = Memory._meta.db_table
    # Fixed column names and clauses; every value is a bound parameter. The similarity is the
    # full vectors'; the persona's own rows are ordered by the expression the HNSW index is
    # built on (their half-precision copy, migration 0004), so that the planner walks it.
    head = f"SELECT {rr.columns}, 1 - (embedding <=> %(q)b) FROM {table} WHERE "  # noqa: S608
    where = " AND ".join(filters)
    half = f"halfvec({int(settings.EMBEDDING_DIMENSIONS)})"
    own = (
        f"{head}persona_id = %(persona)s AND {where}"
        f" ORDER BY embedding::{half} <=> %(q)b::{half} LIMIT %(k)s"
    )
    if not shared:
        return own, params
    params["persona_text"] = str(persona.id)
    params["kind_persona"] = PERSONA
    rel = Relationship._meta.db_table
    # Other personas' shared/public memories are a thin slice of the table: walking the HNSW
    # graph for them would scan most of it. "+ 0" keeps the planner off the vector index, so
    # the btree on (visibility, persona) finds them and they are ranked exactly. other_id is
    # compared as text (it holds a persona's UUID as text for persona relationships).
    others = (
        f"{head}persona_id <> %(persona)s AND {where} AND (visibility = 'public' OR"  # noqa: S608
        " (visibility = 'shared' AND (persona_id IN"
        f" (SELECT persona_id FROM {rel} WHERE other_kind = %(kind_persona)s"
        "   AND other_id = %(persona_text)s)"
        f" OR persona_id::text IN (SELECT other_id FROM {rel} WHERE persona_id = %(persona)s"
        "   AND other_kind = %(kind_persona)s))))"
        " ORDER BY (embedding <=> %(q)b) + 0 LIMIT %(k)s"
    )
    return f"({own}) UNION ALL ({others})", params


def pg_candidates(persona: Persona, query: np.ndarray, k: int, **filters) -> list[tuple]:
    """PostgreSQL, one round trip: raw rows (every column but the vector) of the ``k``
    nearest of the persona's own memories (HNSW, iterative scan) and, with ``shared``, of the
    ``k`` nearest shared/public memories of others it may see, each row followed by its cosine
    similarity. ``filters``: those of ``pg_statement``. The session already carries the HNSW
    settings (``DATABASES`` in settings)."""
    import psycopg

    sql, params = pg_statement(persona, query, k, **filters)
    raw = raw_pg_connection()
    ef = settings.MEMORY["HNSW_EF_SEARCH"]
    with psycopg.Cursor(raw) as cursor:  # server-side binding, whatever Django's factory is
        if k > ef:  # the session's breadth would return fewer than k of the persona's rows
            cursor.execute(f"SET hnsw.ef_search = {int(k)}")
            try:
                rows = cursor.execute(sql, params, prepare=True).fetchall()
            finally:
                cursor.execute(f"SET hnsw.ef_search = {int(ef)}")
        else:
            rows = cursor.execute(sql, params, prepare=True).fetchall()
    return rows
