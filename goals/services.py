"""Goals and triggers: writes, and the firing of triggers for messages and world events.

A trigger's ``when`` conditions must all hold (none given: every message):

- ``event_type``: the trigger reacts to world events of that type (``world.event``); a trigger
  without one reacts to messages (``conversation.send_message``, ``room.send``, …);
- ``keywords``: at least one of them appears (whole words, any case) in the message or the
  event's description;
- ``intent``: the text expresses the intent (``goals.intents``: embeddings, or the LLM);
- ``relationship_stage``: the persona's relationship with the speaker (or the event's actor)
  is at that stage;
- ``min_mood`` / ``max_mood``: the persona's mood (-1..1) is in the range.

Its ``then`` effects: ``instruct`` (an instruction added to this turn's prompt), ``say`` (the
reply is exactly that line, no LLM call), ``action`` (``{name, arguments}``, returned with the
turn's actions when the client offered it), ``goal`` (a goal set, completed or failed by its
text). A ``once`` trigger fires a single time; another fires again after
``cooldown_seconds``. Firing is claimed with one conditional UPDATE, so two turns at the same
moment never both fire a ``once`` trigger. Each firing is broadcast as ``persona.trigger``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from goals import intents, selectors
from goals.models import Goal, Trigger
from personamcp.exceptions import ValidationFailed
from personas.models import Persona, PersonaState
from personas.signals import publish_persona_event

log = logging.getLogger(__name__)

PERSONA_TRIGGER = "persona.trigger"  # the event of a fired trigger (personamcp.events topics)
MAX_TRIGGERS = 200  # per persona


# --- goals ---------------------------------------------------------------------------------


def goal_set(
    *,
    persona: Persona,
    goal: str,
    goal_id: str | None = None,
    priority: int | None = None,
    status: str | None = None,
    completion: str | None = None,
    source: str = "api",
) -> Goal:
    """Add a goal, or change one (by ``goal_id``, else by its text): its text, priority,
    status (``active``, ``completed``, ``failed``) and completion condition."""
    text = (goal or "").strip()
    if not text:
        raise ValidationFailed([{"field": "goal", "message": "must not be empty"}])
    existing = (
        selectors.goal_find(persona=persona, goal=goal_id)
        if goal_id
        else Goal.objects.filter(persona=persona, text=text).first()
    )
    now = timezone.now()
    if existing is None:
        try:
            with transaction.atomic():
                return Goal.objects.create(
                    persona=persona,
                    text=text[:500],
                    priority=priority or 0,
                    status=status or Goal.Status.ACTIVE,
                    completion=(completion or "")[:500],
                    source=source[:32],
                    closed_at=None if status in (None, Goal.Status.ACTIVE) else now,
                )
        except IntegrityError:  # the same text set at the same moment elsewhere
            existing = Goal.objects.get(persona=persona, text=text)
    fields = ["updated_at"]
    if existing.text != text:
        if Goal.objects.filter(persona=persona, text=text).exclude(pk=existing.pk).exists():
            raise ValidationFailed([{"field": "goal", "message": "another goal has this text"}])
        existing.text = text[:500]
        fields.append("text")
    if priority is not None:
        existing.priority = priority
        fields.append("priority")
    if completion is not None:
        existing.completion = completion[:500]
        fields.append("completion")
    if status is not None and status != existing.status:
        existing.status = status
        existing.closed_at = None if status == Goal.Status.ACTIVE else now
        fields += ["status", "closed_at"]
    existing.save(update_fields=fields)
    return existing


def goal_complete(*, persona: Persona, goal: str, status: str = "completed") -> Goal:
    """Mark a goal (its id or text) ``completed`` or ``failed``."""
    found = selectors.goal_find(persona=persona, goal=goal)
    if found.status != status:
        found.status = status
        found.closed_at = timezone.now()
        found.save(update_fields=["status", "closed_at", "updated_at"])
    return found


# --- triggers -----------------------------------------------------------------------------


def trigger_create(
    *,
    persona: Persona,
    name: str,
    when: dict,
    then: dict,
    once: bool = False,
    cooldown_seconds: int = 0,
) -> Trigger:
    """Store a trigger (``when`` and ``then`` already validated by ``goals.schemas``)."""
    if Trigger.objects.filter(persona=persona).count() >= MAX_TRIGGERS:
        raise ValidationFailed(
            [{"field": "persona_id", "message": f"at most {MAX_TRIGGERS} triggers per persona"}]
        )
    return Trigger.objects.create(
        persona=persona,
        name=name[:200],
        when=when,
        then=then,
        once=once,
        cooldown_seconds=cooldown_seconds,
    )


def trigger_delete(*, trigger: Trigger) -> dict:
    trigger.delete()
    return {"deleted": True}


# --- firing --------------------------------------------------------------------------------


@dataclass
class Situation:
    """What a trigger is checked against: a message (``event_type`` None) or a world event."""

    text: str
    event_type: str | None = None
    mood: float = 0.0
    stage: str | None = None
    conversation_id: str | None = None
    event_id: str | None = None
    # The text's embedding, when the caller computes it anyway (``IntentScorer.embedding``)
    embedding: Callable[[], Any] | None = None
    scorer: intents.IntentScorer = field(init=False)

    def __post_init__(self) -> None:
        self.scorer = intents.IntentScorer(self.text, embedding=self.embedding)


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE) is not None


def _cheap_match(when: dict, s: Situation) -> dict | None:
    """The conditions that need no embedding; None when one fails."""
    matched: dict[str, Any] = {}
    event_type = when.get("event_type")
    if event_type is not None:
        if s.event_type is None or event_type.lower() != s.event_type.lower():
            return None
        matched["event_type"] = s.event_type
    elif s.event_type is not None:
        return None  # a trigger without event_type reacts to messages only
    stage = when.get("relationship_stage")
    if stage is not None:
        if s.stage != stage:
            return None
        matched["relationship_stage"] = stage
    low, high = when.get("min_mood"), when.get("max_mood")
    if (low is not None and s.mood < low) or (high is not None and s.mood > high):
        return None
    if low is not None or high is not None:
        matched["mood"] = round(s.mood, 4)
    keywords = when.get("keywords")
    if keywords:
        found = [k for k in keywords if _has_word(s.text, k)]
        if not found:
            return None
        matched["keywords"] = found
    return matched


def _ready(trigger: Trigger, now) -> bool:
    if trigger.once:
        return trigger.fire_count == 0
    if trigger.cooldown_seconds and trigger.last_fired_at is not None:
        return now - trigger.last_fired_at >= timedelta(seconds=trigger.cooldown_seconds)
    return True


def _claim(trigger: Trigger, now) -> bool:
    """Take this firing (one conditional UPDATE): False when another turn just took it."""
    qs = Trigger.objects.filter(pk=trigger.pk, enabled=True)
    if trigger.once:
        qs = qs.filter(fire_count=0)
    elif trigger.cooldown_seconds:
        qs = qs.filter(
            Q(last_fired_at__isnull=True)
            | Q(last_fired_at__lte=now - timedelta(seconds=trigger.cooldown_seconds))
        )
    return bool(qs.update(fire_count=F("fire_count") + 1, last_fired_at=now))


def triggers_fire(*, persona: Persona, situation: Situation) -> list[dict]:
    """Fire the persona's triggers whose conditions hold now; returns ``TriggerFiredOut``
    dicts in creation order. Goal changes are applied; each firing is broadcast."""
    now = timezone.now()
    candidates = []
    for trigger in selectors.triggers_armed(persona=persona):
        if not _ready(trigger, now):
            continue
        matched = _cheap_match(trigger.when or {}, situation)
        if matched is None:
            continue
        candidates.append((trigger, matched))
    queries = {}
    for trigger, _ in candidates:
        intent = (trigger.when or {}).get("intent")
        if intent:
            query = intents.IntentQuery(
                intent=intent,
                examples=intents.examples_of(intent, trigger.when.get("intent_examples")),
                threshold=float(
                    trigger.when.get("intent_threshold") or intents.default_threshold()
                ),
            )
            queries[trigger.pk] = query
            situation.scorer.queries.append(query)
    fired: list[dict] = []
    for trigger, matched in candidates:
        query = queries.get(trigger.pk)
        if query is not None:
            expressed, score, method = situation.scorer.score(query)
            if not expressed:
                continue
            matched["intent"] = {"name": query.intent, "score": score, "method": method}
        if not _claim(trigger, now):
            continue
        fired.append(_apply(persona, trigger, matched, situation))
    return fired


def _apply(persona: Persona, trigger: Trigger, matched: dict, s: Situation) -> dict:
    then = dict(trigger.then or {})
    change = then.get("goal")
    if isinstance(change, dict) and change.get("goal"):
        goal = goal_set(
            persona=persona,
            goal=change["goal"],
            priority=change.get("priority"),
            status=change.get("status") or Goal.Status.ACTIVE,
            completion=change.get("completion"),
            source=f"trigger:{trigger.pk}"[:32],
        )
        then["goal"] = {**change, "goal_id": str(goal.pk)}
    fired = {
        "trigger_id": str(trigger.pk),
        "name": trigger.name,
        "persona_id": str(persona.pk),
        "matched": matched,
        "then": then,
    }
    where = {"conversation_id": s.conversation_id} if s.conversation_id else {}
    if s.event_id:
        where["event_id"] = s.event_id
    publish_persona_event(
        PERSONA_TRIGGER,
        persona,
        **fired,
        source="event" if s.event_type else "message",
        **where,
    )
    log.info("trigger %s (%s) fired for persona %s", trigger.name, trigger.pk, persona.slug)
    return fired


def _mood(persona: Persona) -> float:
    state = PersonaState.objects.filter(persona=persona).only("mood").first()
    return float(state.mood) if state is not None else 0.0


def fire_event_triggers(
    *,
    persona: Persona,
    event_type: str,
    description: str,
    actor: str | None = None,
    event_id: str | None = None,
    mood: float | None = None,
) -> list[dict]:
    """Fire the persona's triggers for a world event it perceived (``world.event``).

    ``actor``: who did it (a participant or persona id), for ``relationship_stage``; ``mood``:
    the persona's mood after appraising the event (default: its stored mood).
    """
    stage = None
    if actor:
        from personas.relationships import relationship_get_for_participant

        rel = relationship_get_for_participant(persona=persona, participant=str(actor))
        stage = rel.stage
    return triggers_fire(
        persona=persona,
        situation=Situation(
            text=description or "",
            event_type=event_type,
            mood=_mood(persona) if mood is None else float(mood),
            stage=stage,
            event_id=event_id,
        ),
    )
