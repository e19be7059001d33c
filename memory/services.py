"""Write-side operations on memories: store, supersede, delete, reflect, decay, prune, re-embed.

Every change to the set of searchable vectors bumps the persona's ``MemoryIndexState`` in the
same transaction (``revision`` always; ``layout`` when rows were removed or changed rather than
appended), which is how the in-process index of every process notices it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, F, FloatField, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from audit.signals import record_created as audit_created
from memory.importance import importance_heuristic, llm_configured
from memory.models import Memory, MemoryIndexState
from personamcp import events, jobs
from personamcp.db import lock_in_order
from personamcp.exceptions import ValidationFailed
from personas.models import Persona
from personas.signals import publish_persona_item_event

log = logging.getLogger(__name__)

MAX_METADATA_BYTES = 16 * 1024


# --- validation ------------------------------------------------------------------------------


def _clean(
    *,
    content,
    kind,
    importance,
    visibility,
    about,
    metadata,
    embedding,
    prefix: str = "",
) -> tuple[list[dict], dict]:
    errors: list[dict] = []
    max_chars = settings.MEMORY["MAX_CONTENT_CHARS"]
    text = content.strip() if isinstance(content, str) else ""
    if not isinstance(content, str) or not text:
        errors.append({"field": f"{prefix}content", "message": "must be a non-empty string"})
    elif len(text) > max_chars:
        errors.append(
            {"field": f"{prefix}content", "message": f"longer than {max_chars} characters"}
        )
    if kind not in Memory.Kind.values:
        errors.append({"field": f"{prefix}kind", "message": f"unknown kind {kind!r}"})
    if importance is not None and (
        isinstance(importance, bool)
        or not isinstance(importance, (int, float))
        or not 0.0 <= float(importance) <= 1.0
    ):
        errors.append({"field": f"{prefix}importance", "message": "must be a number in 0..1"})
    if visibility not in Memory.Visibility.values:
        errors.append(
            {"field": f"{prefix}visibility", "message": f"unknown visibility {visibility!r}"}
        )
    if not isinstance(about, str) or len(about) > 255:
        errors.append(
            {"field": f"{prefix}about", "message": "must be a string of at most 255 characters"}
        )
    if metadata is not None:
        if not isinstance(metadata, dict):
            errors.append({"field": f"{prefix}metadata", "message": "must be an object"})
        else:
            try:
                if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
                    errors.append({"field": f"{prefix}metadata", "message": "larger than 16 KiB"})
            except (TypeError, ValueError):
                errors.append(
                    {"field": f"{prefix}metadata", "message": "must be JSON-serialisable"}
                )
    vector = None
    if embedding is not None:
        vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if vector.shape[0] != settings.EMBEDDING_DIMENSIONS or not np.isfinite(vector).all():
            errors.append(
                {"field": f"{prefix}embedding", "message": "wrong dimensions or not finite"}
            )
        else:
            norm = float(np.linalg.norm(vector))
            vector = vector / norm if norm > 0 else vector
    return errors, {
        "content": text,
        "kind": kind,
        "importance": None if importance is None else float(importance),
        "visibility": visibility,
        "about": about if isinstance(about, str) else "",
        "metadata": dict(metadata) if isinstance(metadata, dict) else {},
        "embedding": vector,
    }


# --- index bookkeeping -----------------------------------------------------------------------


def _bump(persona_id, *, layout: bool, importance: float = 0.0) -> MemoryIndexState:
    """Record a change of the persona's vectors (inside the caller's transaction)."""
    state, _ = MemoryIndexState.objects.get_or_create(persona_id=persona_id)
    changes = {"revision": F("revision") + 1}
    if layout:
        changes["layout"] = F("layout") + 1
    if importance:
        changes["importance_since_reflection"] = F("importance_since_reflection") + importance
    MemoryIndexState.objects.filter(pk=state.pk).update(**changes)
    state.refresh_from_db()
    return state


def _maybe_queue_reflection(persona: Persona, state: MemoryIndexState) -> None:
    if state.importance_since_reflection < settings.MEMORY["REFLECTION_THRESHOLD"]:
        return
    now = timezone.now()
    # One queued reflection at a time (a stale mark older than 10 minutes is ignored).
    if state.reflection_queued_at and now - state.reflection_queued_at < timedelta(minutes=10):
        return
    MemoryIndexState.objects.filter(pk=state.pk).update(reflection_queued_at=now)
    from memory.tasks import reflect_task

    jobs.enqueue(reflect_task, str(persona.id))


def _publish(memory: Memory, persona: Persona) -> None:
    publish_persona_item_event(
        events.MEMORY_CREATED, persona, memory.id, kind=memory.kind, importance=memory.importance
    )


def _superseded_by_new_fact(persona: Persona, about: str, vector: np.ndarray) -> list[int]:
    """Older facts about the same subject that are close in meaning to a new fact.

    Runs before the new fact is written, so the search sees only committed memories.
    """
    from memory.selectors import memory_search

    threshold = settings.MEMORY["SUPERSEDE_SIMILARITY"]
    older = memory_search(
        persona=persona,
        query_embedding=vector,
        limit=5,
        kinds=[Memory.Kind.FACT],
        about=about,
        weights={"relevance": 1.0, "recency": 0.0, "importance": 0.0},
        touch=False,
    )
    return [s.memory.id for s in older if s.scores["relevance"] >= threshold]


# --- public services -------------------------------------------------------------------------


def memory_store(
    *,
    persona: Persona,
    content: str,
    kind: str = "episodic",
    importance: float | None = None,
    visibility: str = "private",
    about: str = "",
    source_persona: Persona | None = None,
    metadata: dict | None = None,
    embedding: np.ndarray | None = None,
) -> Memory:
    """Store one memory and return it.

    Importance is scored by the heuristic when ``None`` (and refined by the LLM in the
    background when one is configured); a ``fact`` supersedes older facts with the same
    ``about`` and a similar meaning; ``memory.created`` is published; a reflection is queued
    when enough importance accumulated. Never waits for an LLM. Raises ``ValidationFailed``.
    """
    return memory_store_many(
        persona=persona,
        items=[
            {
                "content": content,
                "kind": kind,
                "importance": importance,
                "visibility": visibility,
                "about": about,
                "source_persona": source_persona,
                "metadata": metadata,
                "embedding": embedding,
            }
        ],
    )[0]


ITEM_FIELDS = {
    "content", "kind", "importance", "visibility", "about", "source_persona", "metadata",
    "embedding", "created_at", "last_accessed_at",
}  # fmt: skip


def memory_store_many(*, persona: Persona, items: list[dict], publish: bool = True) -> list[Memory]:
    """Store several memories at once (one embedding batch, one transaction).

    Each item takes the keyword arguments of ``memory_store`` (plus optional ``created_at``
    and ``last_accessed_at`` for imports). All items are validated first: one bad item stores
    nothing and raises ``ValidationFailed`` naming ``items.N.field``.

    The steps: validate, embed what has no vector, find the facts each new fact supersedes,
    build the rows, then write them (one transaction) and announce them. On PostgreSQL a large
    batch without facts is written in parts, each while the next one is embedded (``_parts``).
    """
    cleaned = _validate_items(items)
    if not cleaned:
        return []
    parts = _parts(cleaned)
    _embed_missing(parts[0])
    to_supersede = _facts_superseded(persona, cleaned)  # with facts, one part: all embedded
    with transaction.atomic():
        memories: list[Memory] = []
        for part in _ready_while_next_embeds(parts):
            memories += _insert(_build_rows(persona, part))
        state = _record_stored(persona, memories, to_supersede)
        if publish:
            for memory in memories:
                _publish(memory, persona)
        _maybe_queue_reflection(persona, state)
        _queue_rescoring(memories)
    return memories


def _validate_items(items: list[dict]) -> list[dict]:
    """Step 1: every item checked and normalised, or ``ValidationFailed`` naming each field."""
    errors: list[dict] = []
    cleaned: list[dict] = []
    single = len(items) == 1
    for n, item in enumerate(items):
        prefix = "" if single else f"items.{n}."
        unknown = set(item) - ITEM_FIELDS
        for name in sorted(unknown):
            errors.append({"field": f"{prefix}{name}", "message": "unknown field"})
        errs, data = _clean(
            content=item.get("content"),
            kind=item.get("kind") or "episodic",
            importance=item.get("importance"),
            visibility=item.get("visibility") or "private",
            about=item.get("about") or "",
            metadata=item.get("metadata"),
            embedding=item.get("embedding"),
            prefix=prefix,
        )
        errors += errs
        data["source_persona"] = item.get("source_persona")
        data["created_at"] = item.get("created_at")
        data["last_accessed_at"] = item.get("last_accessed_at")
        cleaned.append(data)
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _embed_missing(cleaned: list[dict]) -> None:
    """Step 2: one embedding batch for the items given without a vector."""
    missing = [i for i, d in enumerate(cleaned) if d["embedding"] is None]
    if missing:
        from memory.embeddings import embed

        vectors = embed([cleaned[i]["content"] for i in missing])
        for i, vector in zip(missing, vectors, strict=True):
            cleaned[i]["embedding"] = vector


# On PostgreSQL most of an insert's cost is the HNSW index upkeep, done by the database server
# on the other core: a batch of more than this many items to embed (and no fact, whose
# supersede check needs every vector before any write) is written in parts of this size, each
# while the next part is embedded (onnxruntime releases the GIL).
PIPELINE_ROWS = 64


def _parts(cleaned: list[dict]) -> list[list[dict]]:
    """The batch as one part, or in parts of ``PIPELINE_ROWS`` to pipeline on PostgreSQL.

    SQLite keeps one part: its write lock, taken at the first insert, would be held while the
    later parts are embedded."""
    from django.db import connection

    missing = sum(d["embedding"] is None for d in cleaned)
    if (
        connection.vendor != "postgresql"
        or missing <= PIPELINE_ROWS
        or any(d["kind"] == Memory.Kind.FACT for d in cleaned)
    ):
        return [cleaned]
    return [cleaned[i : i + PIPELINE_ROWS] for i in range(0, len(cleaned), PIPELINE_ROWS)]


def _ready_while_next_embeds(parts: list[list[dict]]) -> Iterable[list[dict]]:
    """Each part (the first already embedded), the next part's embedding running meanwhile in
    a thread; an embedding that fails raises here, inside the caller's transaction."""
    if len(parts) == 1:
        yield parts[0]
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed-store") as pool:
        for number, part in enumerate(parts):
            following = None
            if number + 1 < len(parts):
                following = pool.submit(_embed_missing, parts[number + 1])
            yield part
            if following is not None:
                following.result()


def _facts_superseded(persona: Persona, cleaned: list[dict]) -> list[tuple[int, list[int]]]:
    """Step 3: ``(item index, older fact ids)`` for each new fact that supersedes older ones."""
    to_supersede: list[tuple[int, list[int]]] = []
    for i, data in enumerate(cleaned):
        if data["kind"] == Memory.Kind.FACT:
            older = _superseded_by_new_fact(persona, data["about"], data["embedding"])
            if older:
                to_supersede.append((i, older))
    return to_supersede


def _build_rows(persona: Persona, cleaned: list[dict]) -> list[Memory]:
    """Step 4: unsaved ``Memory`` objects, importance scored by the heuristic where not given."""
    now = timezone.now()
    objects = []
    for data in cleaned:
        method = "given"
        if data["importance"] is None:
            data["importance"] = importance_heuristic(data["content"])
            method = "heuristic"
        metadata = data["metadata"]
        metadata.setdefault("importance_method", method)
        created = data["created_at"] or now
        objects.append(
            Memory(
                persona=persona,
                content=data["content"],
                kind=data["kind"],
                importance=data["importance"],
                visibility=data["visibility"],
                about=data["about"],
                source_persona=data["source_persona"],
                metadata=metadata,
                embedding=data["embedding"],
                created_at=created,
                last_accessed_at=data["last_accessed_at"] or created,
            )
        )
    return objects


# Rows per INSERT statement: 14 columns x 500 stays under SQLite's 32766 variables.
_INSERT_ROWS = 500


def _insert(objects: list[Memory]) -> list[Memory]:
    """Step 5a: insert the rows (inside the caller's transaction); returns them with ids.

    One object goes through ``save()`` (signals: audit). Several go through multi-row
    ``INSERT ... RETURNING id`` statements built here: Django's ``bulk_create`` compiles every
    field of every row through the query compiler, which cost more than the database itself
    at a few hundred rows. Values are converted as the fields do it; they are audited here,
    as ``bulk_create`` would need too (it sends no ``post_save``).
    """
    if len(objects) == 1:
        objects[0].save()
        return objects
    from django.db import connection

    fields = [f for f in Memory._meta.concrete_fields if not f.primary_key]
    convert = [_converter(f, connection) for f in fields]
    table = connection.ops.quote_name(Memory._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    attnames = [f.attname for f in fields]
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    pk_column = connection.ops.quote_name(Memory._meta.pk.column)
    with connection.cursor() as cursor:
        for start in range(0, len(objects), _INSERT_ROWS):
            chunk = objects[start : start + _INSERT_ROWS]
            params: list = []
            for obj in chunk:
                values = obj.__dict__
                params += [
                    c(values[a]) if c else values[a] for c, a in zip(convert, attnames, strict=True)
                ]
            values_sql = ", ".join([row_sql] * len(chunk))
            # Only quoted model names and placeholders are formatted in; values are parameters.
            sql = f"INSERT INTO {table} ({columns}) VALUES {values_sql} RETURNING {pk_column}"  # noqa: S608
            cursor.execute(sql, params)
            for obj, (pk,) in zip(chunk, cursor.fetchall(), strict=True):
                obj.pk = pk
                obj._state.adding = False
                obj._state.db = connection.alias
    audit_created(objects)
    return objects


def _converter(field, connection):
    """How a field turns a Python value into a database parameter (None: as it is)."""
    from django.db import models

    if isinstance(field, models.DateTimeField):
        return connection.ops.adapt_datetimefield_value
    plain = (models.CharField, models.TextField, models.FloatField, models.BooleanField)
    if isinstance(field, (*plain, models.IntegerField)):
        return None
    if isinstance(field, models.ForeignKey):  # the same few ids on every row (UUIDs, ints)
        known: dict = {None: None}

        def key(value):
            if value not in known:
                known[value] = field.get_db_prep_save(value, connection)
            return known[value]

        return key
    return lambda value: field.get_db_prep_save(value, connection)


def _record_stored(persona: Persona, memories: list[Memory], to_supersede) -> MemoryIndexState:
    """Step 5b: the index revision and reflection budget, and the superseded facts marked."""
    accumulated = sum(m.importance for m in memories if m.kind != Memory.Kind.REFLECTION)
    state = _bump(persona.id, layout=False, importance=accumulated)
    _mark_superseded(persona, memories, to_supersede)
    return state


def _mark_superseded(persona: Persona, memories: list[Memory], to_supersede) -> None:
    if to_supersede:  # rows in one order, as access.flush does (no deadlock between them)
        lock_in_order(Memory.objects.filter(id__in=[pk for _, ids in to_supersede for pk in ids]))
    for i, older in to_supersede:
        Memory.objects.filter(id__in=older, superseded=False).update(
            superseded=True, superseded_by=memories[i]
        )
        log.info("memory %s supersedes facts %s", memories[i].id, older)
    if to_supersede:
        _bump(persona.id, layout=True)


def memory_store_each(*, entries: list[tuple[Persona, dict]]) -> list[Memory]:
    """One memory for each of several personas (a world event's perceivers), in one write.

    Each entry is ``(persona, item)``, the item as in ``memory_store_many``. The same steps as
    there, but the rows of all personas go into one INSERT and their index revisions and
    reflection budgets (``MemoryIndexState``) are bumped in one UPDATE; a reflection is
    queued for each persona whose budget is full; ``memory.created`` for each memory.
    """
    cleaned = _validate_items([item for _, item in entries])
    if not cleaned:
        return []
    _embed_missing(cleaned)
    personas = [persona for persona, _ in entries]
    supersede = [_facts_superseded(p, [c]) for p, c in zip(personas, cleaned, strict=True)]
    objects = [_build_rows(p, [c])[0] for p, c in zip(personas, cleaned, strict=True)]
    with transaction.atomic():
        memories = _insert(objects)
        states = _bump_each(memories)
        for persona, memory, older in zip(personas, memories, supersede, strict=True):
            _mark_superseded(persona, [memory], older)
            _publish(memory, persona)
        for persona in {p.id: p for p in personas}.values():
            _maybe_queue_reflection(persona, states[persona.id])
        _queue_rescoring(memories)
    return memories


def _bump_each(memories: list[Memory]) -> dict:
    """``_bump`` (no layout change) for the personas of these new memories, in one UPDATE;
    ``{persona id: MemoryIndexState}`` after it."""
    gained: dict = {}
    for m in memories:
        extra = m.importance if m.kind != Memory.Kind.REFLECTION else 0.0
        gained[m.persona_id] = gained.get(m.persona_id, 0.0) + extra
    MemoryIndexState.objects.bulk_create(
        [MemoryIndexState(persona_id=pid) for pid in gained], ignore_conflicts=True
    )
    per_persona = [When(persona_id=pid, then=Value(float(v))) for pid, v in gained.items()]
    rows = MemoryIndexState.objects.filter(persona_id__in=list(gained))
    rows.update(
        revision=F("revision") + 1,
        importance_since_reflection=F("importance_since_reflection")
        + Case(*per_persona, default=Value(0.0), output_field=FloatField()),
    )
    return {state.persona_id: state for state in rows}


def _queue_rescoring(memories: list[Memory]) -> None:
    """Step 6: heuristic importances are refined by the LLM in the background, when one is set."""
    rescore = [m.id for m in memories if m.metadata.get("importance_method") == "heuristic"]
    if rescore and llm_configured():
        from memory.tasks import rescore_importance_task

        for memory_id in rescore:
            jobs.enqueue(rescore_importance_task, memory_id)


def memory_update(*, memory: Memory, **changes) -> Memory:
    """Change a memory's content, kind, importance, visibility, about or metadata (admin).

    A new content is re-embedded. Raises ``ValidationFailed``.
    """
    allowed = {"content", "kind", "importance", "visibility", "about", "metadata"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed([{"field": f, "message": "unknown field"} for f in sorted(unknown)])
    merged = {f: changes.get(f, getattr(memory, f)) for f in allowed}
    errors, data = _clean(**merged, embedding=None)
    if errors:
        raise ValidationFailed(errors)
    content_changed = data["content"] != memory.content
    for name in allowed:
        setattr(memory, name, data[name])
    fields = list(allowed)
    if content_changed:
        from memory.embeddings import embed

        memory.embedding = embed([memory.content])[0]
        fields.append("embedding")
    with transaction.atomic():
        memory.save(update_fields=fields)
        _bump(memory.persona_id, layout=True)
    return memory


def memory_delete(*, memory: Memory) -> None:
    """Delete one memory."""
    with transaction.atomic():
        persona_id = memory.persona_id
        memory.delete()
        _bump(persona_id, layout=True)


def memory_rescore_importance(*, memory_id: int) -> float | None:
    """Re-score a heuristically scored memory with the LLM (background task); returns it."""
    from memory.importance import importance_llm

    memory = Memory.objects.filter(id=memory_id).defer("embedding").first()
    if memory is None or memory.metadata.get("importance_method") != "heuristic":
        return None
    try:
        value = importance_llm(memory.content)
    except Exception as exc:  # keep the heuristic score
        log.warning("LLM importance for memory %s failed: %s", memory_id, exc)
        return None
    metadata = {**memory.metadata, "importance_method": "llm"}
    Memory.objects.filter(id=memory_id).update(importance=value, metadata=metadata)
    return value


# --- reflection ------------------------------------------------------------------------------

_INSIGHT_PROMPT = (
    "You are {name}. Here are your recent memories, numbered:\n{memories}\n\n"
    "What are at most {count} high-level insights you can infer from them? Write one insight "
    "per line, each followed by the numbers of the memories it is based on, like:\n"
    "Bob trusts me more than before (1, 4)\n"
)
_CITE_RE = re.compile(r"\(([\d,\s]+)\)\s*$")


def _llm_insights(persona: Persona, sources: list[Memory]) -> list[tuple[str, list[int]]]:
    from llm import get_provider

    numbered = "\n".join(f"{i + 1}. {m.content[:300]}" for i, m in enumerate(sources))
    count = settings.MEMORY["REFLECTION_MAX_INSIGHTS"]
    answer = get_provider().complete(
        [
            {
                "role": "user",
                "content": _INSIGHT_PROMPT.format(
                    name=persona.name, memories=numbered, count=count
                ),
            }
        ],
        max_tokens=300,
        temperature=0.3,
    )
    insights = []
    for line in str(answer).splitlines():
        line = line.strip().lstrip("-*0123456789. ").strip()
        match = _CITE_RE.search(line)
        if not line or not match:
            continue
        numbers = [int(x) for x in re.findall(r"\d+", match.group(1))]
        cited = [sources[n - 1].id for n in numbers if 1 <= n <= len(sources)]
        text = line[: match.start()].strip()
        if text and cited:
            insights.append((text, cited))
    if not insights:
        raise ValueError("the LLM gave no usable insight")
    return insights[:count]


def _summary(sources: list[Memory]) -> list[tuple[str, list[int]]]:
    ranked = sorted(sources, key=lambda m: (-m.importance, -m.id))[:5]
    parts = "; ".join(
        m.content if len(m.content) <= 160 else m.content[:157] + "..." for m in ranked
    )
    text = f"Looking back on {len(sources)} recent memories, what stood out: {parts}"
    return [(text[: settings.MEMORY["MAX_CONTENT_CHARS"]], [m.id for m in sources])]


def memory_reflect(*, persona: Persona) -> list[Memory]:
    """Turn the memories since the last reflection into ``reflection`` memories.

    With an LLM configured, asks it for a few insights citing their sources; otherwise (or
    if the LLM fails) stores one plain summary citing every source. Each reflection's
    ``metadata.sources`` lists the cited memory ids. Returns the new reflections (empty when
    there was nothing new to reflect on).
    """
    state, _ = MemoryIndexState.objects.get_or_create(persona=persona)
    qs = Memory.objects.filter(persona=persona, superseded=False).exclude(
        kind=Memory.Kind.REFLECTION
    )
    if state.last_reflection_at:
        qs = qs.filter(created_at__gt=state.last_reflection_at)
    sources = list(
        qs.defer("embedding").order_by("-created_at", "-id")[
            : settings.MEMORY["REFLECTION_SOURCES"]
        ]
    )
    now = timezone.now()
    if not sources:
        MemoryIndexState.objects.filter(pk=state.pk).update(reflection_queued_at=None)
        return []
    method = "summary"
    insights = None
    if llm_configured():
        try:
            insights = _llm_insights(persona, sources)
            method = "llm"
        except Exception as exc:
            log.warning("LLM reflection for %s failed, storing a summary: %s", persona.slug, exc)
    if insights is None:
        insights = _summary(sources)
    by_id = {m.id: m for m in sources}
    items = [
        {
            "content": text,
            "kind": Memory.Kind.REFLECTION,
            "importance": max(by_id[i].importance for i in cited),
            "metadata": {"sources": cited, "method": method},
        }
        for text, cited in insights
    ]
    with transaction.atomic():
        reflections = memory_store_many(persona=persona, items=items)
        MemoryIndexState.objects.filter(pk=state.pk).update(
            importance_since_reflection=0.0, last_reflection_at=now, reflection_queued_at=None
        )
    log.info(
        "reflection for %s: %d insight(s) from %d memories (%s)",
        persona.slug,
        len(reflections),
        len(sources),
        method,
    )
    return reflections


# --- maintenance -----------------------------------------------------------------------------


def _decay_queryset(now):
    cfg = settings.MEMORY
    return Memory.objects.filter(
        superseded=False,
        importance__lt=cfg["PROTECT_IMPORTANCE"],
        importance__gt=cfg["DECAY_MIN"],
        last_accessed_at__lt=now - timedelta(days=cfg["DECAY_AFTER_DAYS"]),
    )


def memory_decay(*, dry_run: bool = False, now=None) -> dict:
    """Lower the importance of old, unused memories (one UPDATE).

    Memories not accessed for ``DECAY_AFTER_DAYS`` lose ``DECAY_RATE`` of their importance,
    never going below ``DECAY_MIN``; memories at or above ``PROTECT_IMPORTANCE`` are never
    touched. Returns ``{"decayed": n, "by_persona": {slug: n}, "dry_run": bool}`` and logs it.
    """
    cfg = settings.MEMORY
    now = now or timezone.now()
    qs = _decay_queryset(now)
    by_persona = dict(
        qs.order_by()
        .values("persona__slug")
        .annotate(c=Count("id"))
        .values_list("persona__slug", "c")
    )
    total = sum(by_persona.values())
    if not dry_run and total:
        factor = 1.0 - cfg["DECAY_RATE"]
        qs.update(importance=Greatest(Value(cfg["DECAY_MIN"]), F("importance") * factor))
    log.info(
        "memory decay%s: %d memories %s", " (dry run)" if dry_run else "", total, by_persona or ""
    )
    return {"decayed": total, "by_persona": by_persona, "dry_run": dry_run}


def memory_prune(*, dry_run: bool = False, now=None) -> dict:
    """Delete the least valuable memories of personas above ``MAX_PER_PERSONA``.

    Superseded facts go first, then the lowest importance and longest unused. Never deleted:
    memories at or above ``PROTECT_IMPORTANCE`` and memories accessed within
    ``PROTECT_RECENT_DAYS`` (a persona may then stay above the cap). Returns
    ``{"pruned": n, "by_persona": {slug: n}, "dry_run": bool}`` and logs it.
    """
    cfg = settings.MEMORY
    now = now or timezone.now()
    cap = cfg["MAX_PER_PERSONA"]
    over = (
        Memory.objects.order_by()
        .values("persona_id", "persona__slug")
        .annotate(c=Count("id"))
        .filter(c__gt=cap)
    )
    by_persona: dict[str, int] = {}
    for row in over:
        excess = row["c"] - cap
        victims = list(
            Memory.objects.filter(
                persona_id=row["persona_id"],
                importance__lt=cfg["PROTECT_IMPORTANCE"],
                last_accessed_at__lt=now - timedelta(days=cfg["PROTECT_RECENT_DAYS"]),
            )
            .order_by("-superseded", "importance", "last_accessed_at", "id")
            .values_list("id", flat=True)[:excess]
        )
        if not victims:
            continue
        by_persona[row["persona__slug"]] = len(victims)
        if not dry_run:
            with transaction.atomic():
                for start in range(0, len(victims), 500):
                    Memory.objects.filter(id__in=victims[start : start + 500]).delete()
                _bump(row["persona_id"], layout=True)
    total = sum(by_persona.values())
    log.info(
        "memory prune%s: %d memories %s", " (dry run)" if dry_run else "", total, by_persona or ""
    )
    return {"pruned": total, "by_persona": by_persona, "dry_run": dry_run}


def memory_reembed(
    *, personas: Iterable[Persona] | None = None, batch_size: int = 256, progress=None
) -> int:
    """Recompute the embeddings of every memory (of ``personas``) with the current model.

    ``progress(n)`` is called after each batch. Returns the number of memories re-embedded.
    """
    from memory.embeddings import embed

    qs = Memory.objects.all()
    if personas is not None:
        qs = qs.filter(persona__in=list(personas))
    done = 0
    last_id = 0
    touched: set = set()
    while True:
        batch = list(
            qs.filter(id__gt=last_id)
            .order_by("id")
            .values_list("id", "persona_id", "content")[:batch_size]
        )
        if not batch:
            break
        vectors = embed([row[2] for row in batch])
        with transaction.atomic():
            for (memory_id, persona_id, _), vector in zip(batch, vectors, strict=True):
                Memory.objects.filter(id=memory_id).update(embedding=vector)
                touched.add(persona_id)
        last_id = batch[-1][0]
        done += len(batch)
        if progress:
            progress(len(batch))
    with transaction.atomic():
        for persona_id in touched:
            _bump(persona_id, layout=True)
    return done
