"""Read-side queries for memories, including retrieval (``memory_search``).

Retrieval (Generative Agents, Park et al. 2023): candidates by vector similarity, ``limit *
CANDIDATE_FACTOR`` of the persona's own memories plus as many shared/public memories of other
personas when ``include_shared``; then each candidate is rescored as

    score = w_rel * relevance + w_rec * recency + w_imp * importance

with relevance = cosine similarity clipped to [0, 1], recency = ``0.995 ** hours since last
access`` and importance in [0, 1]. The top ``limit`` are returned with their per-term scores,
and their access time and count are updated in one UPDATE.

Candidates come from the pgvector HNSW index on PostgreSQL and from ``memory.index`` (the
in-process cache) on SQLite.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Avg, Count, Max, Min, Q, QuerySet
from django.utils import timezone

from memory import access
from memory.exceptions import MemoryNotFound
from memory.models import Memory
from personamcp.exceptions import ValidationFailed
from personamcp.pagination import paginate
from personamcp.selectors import one_or_not_found
from personas.models import Persona, Relationship

SCORE_TERMS = ("relevance", "recency", "importance")


@dataclass
class ScoredMemory:
    """A retrieved memory with its total score and the three terms it is made of."""

    memory: Memory
    score: float
    scores: dict[str, float] = field(default_factory=dict)

    def __getattr__(self, name: str):
        # The memory's own fields read through, so ``ScoredMemoryOut`` shapes it flat.
        if name == "memory":
            raise AttributeError(name)
        return getattr(self.memory, name)


def _weights(weights: dict | None) -> dict[str, float]:
    merged = dict(settings.MEMORY["WEIGHTS"])
    for key, value in (weights or {}).items():
        if key not in merged:
            raise ValidationFailed([{"field": f"weights.{key}", "message": "unknown weight"}])
        if value is None:
            continue
        if not isinstance(value, (int, float)) or value < 0:
            raise ValidationFailed(
                [{"field": f"weights.{key}", "message": "must be a number >= 0"}]
            )
        merged[key] = float(value)
    return merged


def related_persona_ids(*, persona: Persona) -> set[str]:
    """Personas linked to ``persona`` by a relationship in either direction (sharing rule)."""
    pid = str(persona.id)
    theirs = Relationship.objects.filter(
        other_kind=Relationship.OtherKind.PERSONA, other_id=pid
    ).values_list("persona_id", flat=True)
    mine = Relationship.objects.filter(
        persona=persona, other_kind=Relationship.OtherKind.PERSONA
    ).values_list("other_id", flat=True)
    return ({str(p) for p in theirs} | {str(p) for p in mine}) - {pid}


def _filters(kinds, min_importance, about) -> Q:
    q = Q(superseded=False)
    if kinds:
        q &= Q(kind__in=kinds)
    if min_importance is not None:
        q &= Q(importance__gte=min_importance)
    if about is not None:
        q &= Q(about=about)
    return q


_MEMORY_FIELDS: list = []


def _memory_fields() -> list:
    """Every field of a memory row but its vector (candidates never need it)."""
    if not _MEMORY_FIELDS:
        _MEMORY_FIELDS.extend(f for f in Memory._meta.concrete_fields if f.name != "embedding")
    return _MEMORY_FIELDS


def _memory_from_row(fields: list, row) -> Memory:
    """A Memory from a raw row, through each field's own database converter (a raw cursor
    returns ``metadata`` as JSON text, which ``JSONField`` parses)."""
    values = [
        f.from_db_value(value, None, connection)
        if value is not None and hasattr(f, "from_db_value")
        else value
        for f, value in zip(fields, row, strict=True)
    ]
    return Memory.from_db(connection.alias, [f.attname for f in fields], values)


def _raw_pg_connection():
    """The psycopg connection under Django's, with pgvector's binary adapters registered."""
    from pgvector.psycopg import register_vector

    connection.ensure_connection()
    raw = connection.connection
    if not getattr(raw, "_personamcp_vector", False):
        register_vector(raw)
        raw._personamcp_vector = True
    return raw


def _pg_candidates(
    persona: Persona,
    query: np.ndarray,
    k: int,
    *,
    kinds: list[str] | None = None,
    min_importance: float | None = None,
    about: str | None = None,
    shared: bool = False,
) -> list[tuple[Memory, float]]:
    """The ``k`` nearest memories on PostgreSQL: the persona's own (HNSW, iterative scan) or,
    with ``shared``, other personas' memories it may see (ranked exactly).

    One round trip: the query vector travels in pgvector's binary format, the statement is
    prepared by psycopg after a few runs, the session already carries the HNSW settings (see
    ``DATABASES`` in settings) and the rows come back without their vectors.
    """
    params: dict = {"q": np.ascontiguousarray(query, dtype=np.float32), "k": k}
    params["persona"] = persona.id
    where = ["superseded = false"]
    if shared:
        related = [uuid.UUID(p) for p in related_persona_ids(persona=persona)]
        where.append("persona_id <> %(persona)s")
        if related:
            params["related"] = related
            where.append(
                "(visibility = 'public' OR (visibility = 'shared'"
                " AND persona_id = ANY(%(related)s)))"
            )
        else:
            where.append("visibility = 'public'")
    else:
        where.append("persona_id = %(persona)s")
    if kinds:
        params["kinds"] = list(kinds)
        where.append("kind = ANY(%(kinds)s)")
    if min_importance is not None:
        params["min_importance"] = float(min_importance)
        where.append("importance >= %(min_importance)s")
    if about is not None:
        params["about"] = about
        where.append("about = %(about)s")
    fields = _memory_fields()
    # Other personas' shared/public memories are a thin slice of the table: walking the HNSW
    # graph for them would scan most of it. "+ 0" keeps the planner off the vector index, so
    # the btree on (visibility, persona) finds them and they are ranked exactly.
    order = "(embedding <=> %(q)b) + 0" if shared else "embedding <=> %(q)b"
    # Fixed column names and clauses; every value is a bound parameter.
    sql = (
        f"SELECT {', '.join(f.column for f in fields)}, 1 - (embedding <=> %(q)b) "  # noqa: S608
        f"FROM {Memory._meta.db_table} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %(k)s"
    )
    raw = _raw_pg_connection()
    ef = settings.MEMORY["HNSW_EF_SEARCH"]
    with raw.cursor() as cursor:
        if k > ef and not shared:  # the session's breadth would return fewer than k rows
            cursor.execute(f"SET hnsw.ef_search = {int(k)}")
            try:
                rows = cursor.execute(sql, params).fetchall()
            finally:
                cursor.execute(f"SET hnsw.ef_search = {int(ef)}")
        else:
            rows = cursor.execute(sql, params).fetchall()
    return [(_memory_from_row(fields, row[:-1]), float(row[-1])) for row in rows]


def candidate_query(*, persona: Persona, query: np.ndarray, k: int) -> QuerySet:
    """The PostgreSQL candidate query of a persona's own memories (for EXPLAIN in tests)."""
    from pgvector.django import CosineDistance

    return (
        Memory.objects.filter(Q(persona=persona) & _filters(None, None, None))
        .annotate(distance=CosineDistance("embedding", np.asarray(query).tolist()))
        .order_by("distance")[:k]
    )


def _local_candidates(
    persona: Persona,
    query: np.ndarray,
    k: int,
    kinds,
    min_importance,
    about,
    include_shared: bool,
) -> list[tuple[int, float]]:
    from memory import index

    def allowed(owner_id) -> np.ndarray | None:
        if min_importance is None:
            return None
        return np.fromiter(
            Memory.objects.filter(
                persona_id=owner_id, superseded=False, importance__gte=min_importance
            ).values_list("id", flat=True),
            dtype=np.int64,
        )

    found = index.search(
        str(persona.id), query, k, kinds=kinds, about=about, allowed_ids=allowed(persona.id)
    )
    if include_shared:
        related = related_persona_ids(persona=persona)
        public_owners = {
            str(p)
            for p in Memory.objects.filter(visibility=Memory.Visibility.PUBLIC, superseded=False)
            .exclude(persona=persona)
            .values_list("persona_id", flat=True)
            .distinct()
        }
        others: list[tuple[int, float]] = []
        for owner in sorted(related | public_owners):
            visibilities = {"shared", "public"} if owner in related else {"public"}
            others += index.search(
                owner,
                query,
                k,
                kinds=kinds,
                about=about,
                visibilities=visibilities,
                allowed_ids=allowed(owner),
            )
        others.sort(key=lambda pair: -pair[1])
        found += others[:k]
    return found


def _hours_since(moment: datetime, now: datetime) -> float:
    return max(0.0, (now - moment).total_seconds() / 3600.0)


def memory_search(
    *,
    persona: Persona,
    query: str | None = None,
    query_embedding: np.ndarray | None = None,
    limit: int = 10,
    kinds: list[str] | None = None,
    min_importance: float | None = None,
    include_shared: bool = False,
    about: str | None = None,
    weights: dict | None = None,
    touch: bool = True,
) -> list[ScoredMemory]:
    """The persona's memories most worth recalling for ``query`` (text or embedding).

    Returns up to ``limit`` ``ScoredMemory`` objects, best first. ``weights`` overrides any of
    ``relevance``/``recency``/``importance`` for this call. ``touch`` counts an access of what
    is returned (shown at once, written in a batch after the call: ``memory.access``).
    """
    _check_search(query, query_embedding, limit, kinds, min_importance)
    w = _weights(weights)
    vector = _query_vector(query, query_embedding)
    filters = {
        "kinds": list(kinds) if kinds else None,
        "min_importance": min_importance,
        "about": about,
    }
    k = int(limit) * settings.MEMORY["CANDIDATE_FACTOR"]
    rows, objects = _candidate_rows(persona, vector, k, filters, include_shared)
    now = timezone.now()
    ranked = _rank(rows, w, now)[: int(limit)]
    if not objects and ranked:
        objects = Memory.objects.defer("embedding").in_bulk([pk for _, _, pk in ranked])
    top = [
        ScoredMemory(memory=objects[pk], score=total, scores=terms)
        for total, terms, pk in ranked
        if pk in objects
    ]
    if touch and top:
        _touch(top, now)
    return top


def _check_search(query, query_embedding, limit, kinds, min_importance) -> None:
    errors = []
    if query_embedding is None and not (query and query.strip()):
        errors.append({"field": "query", "message": "a query text or embedding is required"})
    if not 1 <= int(limit) <= settings.MEMORY["MAX_SEARCH_LIMIT"]:
        errors.append({"field": "limit", "message": "must be between 1 and 100"})
    for kind in kinds or []:
        if kind not in Memory.Kind.values:
            errors.append({"field": "kinds", "message": f"unknown kind {kind!r}"})
    if min_importance is not None and not 0.0 <= min_importance <= 1.0:
        errors.append({"field": "min_importance", "message": "must be between 0 and 1"})
    if errors:
        raise ValidationFailed(errors)


def _query_vector(query: str | None, query_embedding) -> np.ndarray:
    if query_embedding is None:
        from memory.embeddings import embed_one

        query_embedding = embed_one(query)
    vector = np.asarray(query_embedding, dtype=np.float32).reshape(-1)
    if vector.shape[0] != settings.EMBEDDING_DIMENSIONS:
        message = f"must have {settings.EMBEDDING_DIMENSIONS} dimensions"
        raise ValidationFailed([{"field": "query_embedding", "message": message}])
    return vector


def _candidate_rows(
    persona: Persona, vector: np.ndarray, k: int, filters: dict, include_shared: bool
) -> tuple[list[tuple], dict[int, Memory]]:
    """``(id, importance, last_accessed_at, similarity)`` of the nearest candidates, and the
    candidates' rows when the search already loaded them (PostgreSQL)."""
    if settings.IS_POSTGRES:
        pairs = _pg_candidates(persona, vector, k, **filters)
        if include_shared:
            pairs += _pg_candidates(persona, vector, k, shared=True, **filters)
        rows = [(m.id, m.importance, m.last_accessed_at, sim) for m, sim in pairs]
        return rows, {m.id: m for m, _ in pairs}
    min_importance = filters["min_importance"]
    found = _local_candidates(
        persona, vector, k, filters["kinds"], min_importance, filters["about"], include_shared
    )
    sims = dict(found)
    # Only what scoring needs for the candidates; whole rows only for the winners.
    light = Memory.objects.filter(id__in=list(sims), superseded=False)
    if min_importance is not None:  # decay may have lowered it since the index was read
        light = light.filter(importance__gte=min_importance)
    rows = [
        (pk, importance, accessed, sims[pk])
        for pk, importance, accessed in light.values_list("id", "importance", "last_accessed_at")
    ]
    return rows, {}


def _rank(rows: list[tuple], w: dict[str, float], now) -> list[tuple[float, dict, int]]:
    """``(total, terms, id)`` best first: the weighted sum of relevance, recency, importance."""
    decay = settings.MEMORY["RECENCY_DECAY"]
    pending = access.latest(row[0] for row in rows)  # accesses not written yet count too
    ranked = []
    for pk, importance, accessed, similarity in rows:
        if pk in pending:
            accessed = max(accessed, pending[pk])
        terms = {
            "relevance": min(1.0, max(0.0, similarity)),
            "recency": decay ** _hours_since(accessed, now),
            "importance": min(1.0, max(0.0, importance)),
        }
        total = sum(w[t] * terms[t] for t in SCORE_TERMS)
        ranked.append((total, terms, pk))
    ranked.sort(key=lambda r: (-r[0], -r[1]["relevance"], -r[2]))
    return ranked


def _touch(top: list[ScoredMemory], now) -> None:
    """Record the access of what a search returned; written in a batch (``memory.access``)."""
    access.record([s.memory for s in top], now)


def memory_get(*, memory_id: int) -> Memory:
    """One memory by id; raises ``MemoryNotFound``."""
    return one_or_not_found(
        Memory.objects.select_related("persona"), memory_id, MemoryNotFound, "memory"
    )


def memory_list(
    *,
    persona: Persona,
    kind: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    include_superseded: bool = True,
) -> tuple[list[Memory], str | None]:
    """The persona's memories, newest first (by id), keyset-paginated."""
    if kind is not None and kind not in Memory.Kind.values:
        raise ValidationFailed([{"field": "kind", "message": f"unknown kind {kind!r}"}])
    qs = Memory.objects.filter(persona=persona).defer("embedding")
    if kind:
        qs = qs.filter(kind=kind)
    if not include_superseded:
        qs = qs.filter(superseded=False)
    return paginate(qs, order="-id", limit=limit, cursor=cursor)


def memory_stats(*, persona: Persona) -> dict:
    """Counts by kind and visibility, mean importance, oldest and newest creation times."""
    qs = Memory.objects.filter(persona=persona)
    agg = qs.aggregate(
        total=Count("id"),
        avg=Avg("importance"),
        oldest=Min("created_at"),
        newest=Max("created_at"),
        superseded=Count("id", filter=Q(superseded=True)),
    )
    by_kind = {k: 0 for k in Memory.Kind.values}
    by_kind.update(
        dict(qs.order_by().values("kind").annotate(c=Count("id")).values_list("kind", "c"))
    )
    by_visibility = {v: 0 for v in Memory.Visibility.values}
    by_visibility.update(
        dict(
            qs.order_by()
            .values("visibility")
            .annotate(c=Count("id"))
            .values_list("visibility", "c")
        )
    )
    return {
        "total": agg["total"],
        "by_kind": by_kind,
        "by_visibility": by_visibility,
        "avg_importance": agg["avg"],
        "oldest": agg["oldest"],
        "newest": agg["newest"],
        "superseded": agg["superseded"],
    }
