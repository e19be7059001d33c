"""Reads behind the dashboard pages: counters, turn statistics, persona pages, the graph.

Everything is computed from the stored rows (turns are the assistant messages), so any server
process shows the same figures. Percentiles use the nearest-rank method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.apps import apps
from django.db.models import Count, Q, Sum
from django.utils import timezone

from bots.models import BotRun
from conversations.models import Conversation, Message
from memory.models import Memory
from personamcp import metrics
from personamcp.errors import INTERNAL_ERROR
from personas.models import Persona, Relationship

# window -> (number of buckets, bucket seconds)
WINDOWS = {"hour": (60, 60), "day": (96, 900)}
ACTIVE_CONVERSATION_MINUTES = 15
SLOWEST = 10
MAX_ROWS = 50_000  # turns read for one window's statistics (the most recent)
ERROR_NAMES = {
    -32031: "cancelled",
    -32011: "LLM timeout",
    -32010: "LLM unavailable",
    INTERNAL_ERROR: "server error",
}


def turns():
    """Assistant replies made by a turn (a stored greeting is not a turn)."""
    return Message.objects.filter(role=Message.Role.ASSISTANT).exclude(provider="greeting")


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def window_bounds(window: str, now: datetime | None = None) -> tuple[datetime, int, int]:
    """(start, bucket seconds, buckets): whole buckets ending with the one that holds ``now``."""
    count, size = WINDOWS[window]
    now = now or timezone.now()
    epoch = int(now.timestamp())
    end = datetime.fromtimestamp(epoch - epoch % size + size, tz=now.tzinfo)
    return end - timedelta(seconds=count * size), size, count


@dataclass
class Bucket:
    start: datetime
    turns: int = 0
    platform_ms: list[float] = field(default_factory=list)
    llm_ms: list[float] = field(default_factory=list)


def live_counters(now: datetime | None = None) -> dict:
    now = now or timezone.now()
    runs = dict(BotRun.objects.values_list("status").annotate(n=Count("id")).order_by())
    try:
        depth = metrics.queue_depth()
    except Exception:  # Redis down: shown as unknown, /readyz says why
        depth = None
    try:
        sockets = metrics.open_sockets()
    except Exception:
        sockets = None
    return {
        "open_sockets": sockets,
        "active_conversations": Conversation.objects.filter(
            ended_at__isnull=True,
            last_message_at__gte=now - timedelta(minutes=ACTIVE_CONVERSATION_MINUTES),
        ).count(),
        "turns_last_minute": turns().filter(created_at__gt=now - timedelta(seconds=60)).count(),
        "bots_running": runs.get(BotRun.Status.RUNNING, 0),
        "bots_crashed": runs.get(BotRun.Status.CRASHED, 0),
        "queue_depth": depth,
    }


@dataclass
class Tally:
    """What the turns of a window add up to: errors by code, latencies, the slowest turns."""

    start: datetime
    size: int
    buckets: list[Bucket]
    errors: dict[int, int] = field(default_factory=dict)
    platform_ms: list[float] = field(default_factory=list)
    llm_ms: list[float] = field(default_factory=list)
    slow: list[dict] = field(default_factory=list)

    def add(self, row: tuple) -> None:
        """One turn: ``(id, created_at, timings, status, error_code, persona, name, participant)``."""
        msg_id, created, timings, status, code, persona, pname, participant = row
        index = int((created - self.start).total_seconds() // self.size)
        if not 0 <= index < len(self.buckets):
            return
        bucket = self.buckets[index]
        bucket.turns += 1
        if status in (Message.Status.FAILED, Message.Status.CANCELLED):
            # the code the turn stored; a turn that says none failed inside the server
            code = code if code is not None else INTERNAL_ERROR
            self.errors[code] = self.errors.get(code, 0) + 1
            return
        total = (timings or {}).get("total_ms")
        if total is None:
            return
        llm = (timings or {}).get("llm_ms") or 0.0
        platform = max(0.0, total - llm)
        bucket.platform_ms.append(platform)
        bucket.llm_ms.append(llm)
        self.platform_ms.append(platform)
        self.llm_ms.append(llm)
        self.slow.append(
            {
                "id": msg_id,
                "at": created,
                "persona": persona,
                "participant": pname or participant,
                "total_ms": total,
                "llm_ms": llm,
                "platform_ms": platform,
            }
        )


def _window_turns(start: datetime) -> list[tuple]:
    """The window's turns (the most recent ``MAX_ROWS``), as ``Tally.add`` reads them."""
    return list(
        turns()
        .filter(created_at__gte=start)
        .order_by("-id")
        .values_list(
            "id",
            "created_at",
            "timings",
            "status",
            "error_code",
            "conversation__persona__name",
            "conversation__participant_name",
            "conversation__participant",
        )[:MAX_ROWS]
    )


def _bucket_row(bucket: Bucket, size: int) -> dict:
    return {
        "start": bucket.start,
        "turns": bucket.turns,
        "per_minute": bucket.turns / (size / 60),
        "platform_p50": percentile(bucket.platform_ms, 50),
        "platform_p95": percentile(bucket.platform_ms, 95),
        "llm_p50": percentile(bucket.llm_ms, 50),
        "llm_p95": percentile(bucket.llm_ms, 95),
    }


def _token_rows(start: datetime) -> list[dict]:
    """Prompt and completion tokens per persona since ``start``."""
    rows = (
        turns()
        .filter(created_at__gte=start)
        .values("conversation__persona__name")
        .annotate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
        .order_by("conversation__persona__name")
    )
    return [
        {
            "persona": row["conversation__persona__name"],
            "prompt": row["prompt"] or 0,
            "completion": row["completion"] or 0,
        }
        for row in rows
    ]


def _error_rows(errors: dict[int, int], total_turns: int) -> list[dict]:
    return [
        {
            "code": code,
            "name": ERROR_NAMES.get(code, ""),
            "count": n,
            "rate": n / total_turns if total_turns else 0.0,
            "percent": round(100 * n / total_turns, 1) if total_turns else 0.0,
        }
        for code, n in sorted(errors.items())
    ]


def turn_stats(window: str = "hour", now: datetime | None = None) -> dict:
    """Turns per minute, latency percentiles per bucket, tokens per persona, errors by the code
    each turn stored, and the slowest turns of the window."""
    start, size, count = window_bounds(window, now)
    tally = Tally(start, size, [Bucket(start + timedelta(seconds=i * size)) for i in range(count)])
    for row in _window_turns(start):
        tally.add(row)
    total_turns = sum(b.turns for b in tally.buckets)
    return {
        "window": window,
        "bucket_seconds": size,
        "start": start,
        "turns": total_turns,
        "buckets": [_bucket_row(b, size) for b in tally.buckets],
        "latency": {
            name: {p: percentile(values, p) for p in (50, 95, 99)}
            for name, values in (("platform", tally.platform_ms), ("llm", tally.llm_ms))
        },
        "tokens": _token_rows(start),
        "errors": _error_rows(tally.errors, total_turns),
        "slowest": sorted(tally.slow, key=lambda t: -t["total_ms"])[:SLOWEST],
    }


# --- persona pages ---------------------------------------------------------------------------


def persona_page(*, persona: Persona, days: int = 7) -> dict:
    """Everything the persona page shows."""
    since = timezone.now() - timedelta(days=days)
    samples = list(
        persona.state_samples.filter(at__gte=since).order_by("at").values("at", "mood", "energy")
    )
    kinds = dict(
        Memory.objects.filter(persona=persona, superseded=False)
        .values_list("kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    reflections = list(
        Memory.objects.filter(persona=persona, kind=Memory.Kind.REFLECTION).order_by("-created_at")[
            :20
        ]
    )
    conversations = list(
        Conversation.objects.filter(persona=persona).order_by("-last_message_at", "-started_at")[
            :10
        ]
    )
    bots = list(persona.bot_accounts.select_related("run").order_by("user_id"))
    return {
        "samples": samples,
        "memory_kinds": [(k, kinds.get(k, 0)) for k in Memory.Kind.values],
        "memory_total": sum(kinds.values()),
        "reflections": reflections,
        "conversations": conversations,
        "bots": bots,
        "lorebooks": lorebooks_of(persona),
        "relationships": list(persona.relationships.order_by("-affinity", "other_name")),
    }


def lorebooks_of(persona: Persona) -> list | None:
    """The lore app's objects linked to this persona (None when that app is not installed)."""
    if not apps.is_installed("lore"):
        return None
    found = []
    for model in apps.get_app_config("lore").get_models():
        for f in model._meta.get_fields():
            if getattr(f, "related_model", None) is Persona and (f.many_to_many or f.many_to_one):
                if f.auto_created and not f.concrete:
                    continue
                found.extend(model._default_manager.filter(**{f.name: persona})[:50])
    return list(dict.fromkeys(found))


def relationship_graph(*, persona: Persona | None = None) -> dict:
    """Nodes (personas, participants) and edges (relationships with stage and affinity)."""
    rels = Relationship.objects.select_related("persona")
    if persona is not None:
        rels = rels.filter(Q(persona=persona) | Q(other_id=str(persona.id)))
    rels = list(rels.order_by("persona__name", "other_name"))
    personas = {str(p.id): p for p in Persona.objects.all()}
    nodes: dict[str, dict] = {}
    if persona is not None:
        nodes[str(persona.id)] = {"id": str(persona.id), "label": persona.name, "kind": "persona"}
    edges = []
    for r in rels:
        source = str(r.persona_id)
        nodes.setdefault(source, {"id": source, "label": r.persona.name, "kind": "persona"})
        if r.other_kind == Relationship.OtherKind.PERSONA and r.other_id in personas:
            label, kind = personas[r.other_id].name, "persona"
        else:
            label, kind = r.other_name or r.other_id, "participant"
        nodes.setdefault(r.other_id, {"id": r.other_id, "label": label, "kind": kind})
        edges.append(
            {
                "source": source,
                "target": r.other_id,
                "stage": r.stage,
                "affinity": r.affinity,
                "trust": r.trust,
                "interactions": r.interactions,
            }
        )
    if persona is None:
        for pid, p in personas.items():
            nodes.setdefault(pid, {"id": pid, "label": p.name, "kind": "persona"})
    for node in nodes.values():
        if node["kind"] == "persona" and node["id"] in personas:
            node["slug"] = personas[node["id"]].slug
    return {"nodes": list(nodes.values()), "edges": edges}
