"""Read-side queries for memories, including retrieval (``memory_search``).

Retrieval (Generative Agents, Park et al. 2023): candidates by vector similarity, ``limit *
CANDIDATE_FACTOR`` of the persona's own memories plus as many shared/public memories of other
personas when ``include_shared``; then each candidate is rescored as

    score = w_rel * relevance + w_rec * recency + w_imp * importance

with relevance = cosine similarity clipped to [0, 1], recency = ``0.995 ** hours since last
access`` and importance in [0, 1]. The top ``limit`` are returned with their per-term scores;
their access is recorded and written in a batch after the call (``memory.access``).

Candidates come from the pgvector HNSW index on PostgreSQL and from ``memory.index`` (the
in-process cache) on SQLite, their rows through ``memory.candidates`` (no ORM query built).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db.models import Avg, Count, Max, Min, Q
from django.utils import timezone

from memory import access, candidates
from memory.exceptions import MemoryNotFound
from memory.models import Memory
from personamcp.exceptions import ValidationFailed
from personamcp.pagination import paginate
from personamcp.selectors import one_or_not_found
from personas.models import Persona

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


def _local_candidates(
    persona: Persona,
    query: np.ndarray,
    k: int,
    kinds,
    min_importance,
    about,
    include_shared: bool,
) -> list[tuple[int, float]]:
    """SQLite: ``[(memory id, cosine)]`` from the in-process index of the persona and, with
    ``include_shared``, of the others whose memories it may see (one query tells which, with
    every index's counters: ``candidates.sharing_plan``)."""
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

    own, others = candidates.sharing_plan(persona.id, include_shared)
    found = index.search(
        str(persona.id),
        query,
        k,
        kinds=kinds,
        about=about,
        allowed_ids=allowed(persona.id),
        state=own,
    )
    if include_shared:
        theirs: list[tuple[int, float]] = []
        for owner in sorted(others):
            state, related = others[owner]
            theirs += index.search(
                owner,
                query,
                k,
                kinds=kinds,
                about=about,
                visibilities={"shared", "public"} if related else {"public"},
                allowed_ids=allowed(owner),
                state=state,
            )
        theirs.sort(key=lambda pair: -pair[1])
        found += theirs[:k]
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
    rows = _candidate_rows(persona, vector, k, filters, include_shared)
    now = timezone.now()
    ranked = _rank(rows, w, now)[: int(limit)]
    reader = candidates.reader()
    top = [
        ScoredMemory(memory=reader.memory(row[:-1]), score=total, scores=terms)
        for total, terms, row in ranked
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
) -> list[tuple]:
    """The nearest candidates' rows as they are now (every column but the vector, converted;
    ``candidates.RowReader``), each followed by its cosine similarity. Superseded rows and
    rows below ``min_importance`` (decay may have lowered it since the index was read) are
    left out. One round trip on PostgreSQL, two queries on SQLite, none built by the ORM."""
    if settings.IS_POSTGRES:
        return candidates.pg_candidates(persona, vector, k, shared=include_shared, **filters)
    min_importance = filters["min_importance"]
    found = _local_candidates(
        persona, vector, k, filters["kinds"], min_importance, filters["about"], include_shared
    )
    sims = dict(found)
    reader = candidates.reader()
    return [
        (*row, sims[row[reader.ID]])
        for row in candidates.rows_by_id(list(sims))
        if not row[reader.SUPERSEDED]
        and (min_importance is None or row[reader.IMPORTANCE] >= min_importance)
    ]


def _rank(rows: list[tuple], w: dict[str, float], now) -> list[tuple[float, dict, tuple]]:
    """``(total, terms, row)`` best first: the weighted sum of relevance, recency, importance."""
    reader = candidates.reader()
    ID, IMPORTANCE = reader.ID, reader.IMPORTANCE
    decay = settings.MEMORY["RECENCY_DECAY"]
    pending = access.latest(row[ID] for row in rows)  # accesses not written yet count too
    ranked = []
    for row in rows:
        pk, importance, similarity = row[ID], row[IMPORTANCE], float(row[-1])
        accessed = reader.accessed(row)
        if pk in pending:
            accessed = max(accessed, pending[pk])
        terms = {
            "relevance": min(1.0, max(0.0, similarity)),
            "recency": decay ** _hours_since(accessed, now),
            "importance": min(1.0, max(0.0, importance)),
        }
        total = sum(w[t] * terms[t] for t in SCORE_TERMS)
        ranked.append((total, terms, row))
    ranked.sort(key=lambda r: (-r[0], -r[1]["relevance"], -r[2][ID]))
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
