"""Perception: a game tells personas what happened in the world (``world.event``).

``world_event`` works in three phases, so that no slow work runs inside a transaction:

1. read: who perceives the event (the persona it is reported to; a room's members; in a
   spatial room only those within ``hearing_radius`` of where it happened), in which role
   (``target``: it happened to them; ``witness``; ``actor``: they did it), and their
   relationship with the actor;
2. slow work, outside any transaction: each perceiver's account of the event is appraised
   (rules, or the LLM with ``MOOD_APPRAISAL=llm``: ``worlds.appraisal``) and embedded (one
   batch, each distinct text once);
3. write, one short transaction: the ``WorldEvent``, and for all perceivers together (a
   fixed number of queries, whatever their number): their episodic memories in their own
   words (one INSERT, the memory index revisions bumped in one UPDATE), their new moods
   (states locked in one query, written in one), their relationships with the actor (the
   same) and their ``Perception`` rows (one INSERT); a ``world.event`` event is published
   after commit.

Then the perceivers' triggers may fire (the goals app; one query finds who has any); what
fired is returned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations.appraisal import next_state
from conversations.turn import state_dict
from personamcp import events
from personamcp.exceptions import ValidationFailed
from personas.exceptions import PersonaNotFound
from personas.models import TRAITS, Persona, PersonaState, Relationship
from personas.selectors import persona_get
from rooms import spatial
from rooms.models import Room
from rooms.selectors import room_members
from worlds.appraisal import EventAppraisal, appraise_event
from worlds.models import Perception, WorldEvent

WORLD_EVENT = "world.event"  # the live event type (channel layer)
MAX_DESCRIPTION_CHARS = 4000


@dataclass
class Perceiver:
    """One persona that perceives the event, filled phase by phase."""

    persona: Persona
    role: str
    distance: float | None = None
    relationship: Relationship | None = None
    text: str = ""
    felt: EventAppraisal | None = None
    vector: Any = None
    result: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Actor:
    id: str = ""
    kind: str = ""
    name: str = ""
    persona: Persona | None = None


def _resolve_actor(ref: str | None, data: dict) -> Actor:
    """A persona (id or slug) or a participant id; a participant's display name may come
    in ``data.actor_name``."""
    if not ref:
        return Actor()
    try:
        persona = persona_get(persona_id=ref)
    except PersonaNotFound:
        name = data.get("actor_name")
        return Actor(
            id=ref, kind="participant", name=str(name)[:255] if name else ref, persona=None
        )
    return Actor(id=str(persona.id), kind="persona", name=persona.name, persona=persona)


def _is(persona: Persona, ref: str | None) -> bool:
    return bool(ref) and ref in (str(persona.id), persona.slug)


def _target_name(target: str | None, perceivers: list[Perceiver], data: dict) -> str:
    """The target's display name: a perceiving persona's name, ``data.target_name`` for a
    participant, else its id."""
    if not target:
        return ""
    for p in perceivers:
        if _is(p.persona, target):
            return p.persona.name
    return str(data.get("target_name") or target)[:255]


def _account(
    *, p: Perceiver, event_type: str, description: str, actor: Actor, target: str, where: str
) -> str:
    """The event in the perceiving persona's own words (the text of its memory)."""
    if p.role == Perception.Role.ACTOR:
        text = f"I did this ({event_type}): {description}"
    elif p.role == Perception.Role.TARGET:
        text = (
            f"{actor.name} did something to me ({event_type}): {description}"
            if actor.name
            else f"Something happened to me ({event_type}): {description}"
        )
    else:
        who = f"{actor.name} do something to {target}" if actor.name and target else None
        who = who or (f"{actor.name} do something" if actor.name else "something happen")
        text = f"I saw {who} ({event_type}): {description}"
    return f"{text} [{where}]" if where else text


def _check(
    *,
    event_type: str,
    description: str,
    persona: Persona | None,
    room: Room | None,
    position: dict | None,
) -> None:
    errors = []
    if not event_type or not event_type.strip():
        errors.append({"field": "type", "message": "must not be empty"})
    if not description or not description.strip():
        errors.append({"field": "description", "message": "must not be empty"})
    elif len(description) > MAX_DESCRIPTION_CHARS:
        errors.append(
            {"field": "description", "message": f"longer than {MAX_DESCRIPTION_CHARS} characters"}
        )
    if persona is not None and room is not None:
        errors.append({"field": "room_id", "message": "give persona_id or room_id, not both"})
    if persona is None and room is None:
        errors.append({"field": "persona_id", "message": "give persona_id or room_id"})
    if room is not None and room.closed_at is not None:
        errors.append({"field": "room_id", "message": "this room is closed"})
    if position is not None and (room is None or not room.spatial):
        errors.append({"field": "position", "message": "only an event in a spatial room has one"})
    if errors:
        raise ValidationFailed(errors)


def _perceivers(
    *, persona: Persona | None, room: Room | None, point, scene, actor: Actor, target: str | None
) -> list[Perceiver]:
    """Phase 1: who perceives it, in which role."""
    if room is None:
        found = [(persona, None)]
    elif scene is not None and point is not None:
        found = scene.in_range(point, room_members(room))
    else:
        found = [(m, None) for m in room_members(room)]
    perceivers = []
    for member, distance in found:
        if actor.persona is not None and member.id == actor.persona.id:
            role = Perception.Role.ACTOR
        elif _is(member, target) or (room is None and not target):
            role = Perception.Role.TARGET
        else:
            role = Perception.Role.WITNESS
        perceivers.append(Perceiver(persona=member, role=role, distance=distance))
    if actor.id and perceivers:
        by_persona = {
            r.persona_id: r
            for r in Relationship.objects.filter(
                persona__in=[p.persona for p in perceivers], other_id=actor.id
            )
        }
        for p in perceivers:
            p.relationship = by_persona.get(p.persona.id)
    return perceivers


def _feel_and_embed(perceivers: list[Perceiver], *, event_type: str) -> None:
    """Phase 2 (slow, no transaction): appraise each account, embed each distinct text once."""
    from memory.embeddings import embed

    method = str(getattr(settings, "MOOD_APPRAISAL", "lexicon"))
    for p in perceivers:
        rel = p.relationship
        p.felt = appraise_event(
            event_type=event_type,
            text=p.text,
            role=p.role,
            affinity=rel.affinity if rel else 0.0,
            trust=rel.trust if rel else 0.0,
            method=method,
        )
    texts = list(dict.fromkeys(p.text for p in perceivers))
    vectors = dict(zip(texts, embed(texts), strict=True)) if texts else {}
    for p in perceivers:
        p.vector = vectors[p.text]


def _new_state(persona: Persona, state: PersonaState, felt: EventAppraisal) -> dict:
    """The persona's mood after the event, from its current state (``next_state``)."""
    hours = (timezone.now() - state.updated_at).total_seconds() / 3600 if state.updated_at else 0.0
    change = next_state(
        state=state_dict(state),
        personality={t: getattr(persona, t) for t in TRAITS},
        appraisal=felt.appraisal,
        hours_since_update=hours,
        half_life_hours=float(getattr(settings, "MOOD_HALF_LIFE_HOURS", 6.0)),
        sensitivity=float(getattr(settings, "MOOD_SENSITIVITY", 0.35)),
    )
    return {
        "mood": change.mood,
        "emotion": change.emotion,
        "energy": change.energy,
        "social_battery": change.social_battery,
        "stress": change.stress,
    }


@dataclass(frozen=True)
class Happening:
    """What ``world_event`` was given, checked and resolved (phase 1's inputs)."""

    event_type: str
    description: str
    persona: Persona | None
    room: Room | None
    actor: Actor
    target: str | None
    point: Any
    scene: Any
    data: dict
    importance: float | None


def _happening(
    *, event_type, description, persona, room, actor, target, position, data, importance
) -> Happening:
    """Check the input (``ValidationFailed`` naming the field), resolve the actor, and in a
    spatial room place the event: at ``position`` (the actor moves there) or where the
    actor stands."""
    data = dict(data or {})
    _check(
        event_type=event_type, description=description, persona=persona, room=room,
        position=position,
    )  # fmt: skip
    actor_ref = _resolve_actor(actor, data)
    scene = spatial.scene_of(room) if room is not None else None
    point = spatial.point_of(position)
    if scene is not None and actor_ref.id:
        if point is not None:
            spatial.scene_set_position(room=room, entity_id=actor_ref.id, point=point)
            scene.points[actor_ref.id] = point
        else:
            point = scene.where(actor_ref.id)
    return Happening(
        event_type=event_type.strip()[:64], description=description.strip(), persona=persona,
        room=room, actor=actor_ref, target=target, point=point, scene=scene, data=data,
        importance=importance,
    )  # fmt: skip


def _write_accounts(h: Happening, perceivers: list[Perceiver]) -> None:
    """Each perceiver's account of the event, in its own words."""
    target_name = _target_name(h.target, perceivers, h.data)
    where = h.room.name if h.room is not None else ""
    for p in perceivers:
        p.text = _account(
            p=p, event_type=h.event_type, description=h.description, actor=h.actor,
            target=target_name, where=where,
        )  # fmt: skip


def _store_event(h: Happening) -> WorldEvent:
    return WorldEvent.objects.create(
        type=h.event_type,
        description=h.description,
        persona=h.persona,
        room=h.room,
        actor=h.actor.id[:255],
        actor_kind=h.actor.kind,
        actor_name=h.actor.name[:255],
        target=(h.target or "")[:255],
        position=spatial.as_position(h.point) if h.point is not None and h.scene else None,
        data=h.data,
        importance=h.importance,
    )


def _store_memories(event: WorldEvent, h: Happening, perceivers: list[Perceiver]) -> list:
    """Every perceiver's episodic memory of it, in one write (``memory_store_each``)."""
    from memory.services import memory_store_each

    room_meta = {"room_id": str(h.room.id)} if h.room is not None else {}
    return memory_store_each(
        entries=[
            (
                p.persona,
                {
                    "content": p.text,
                    "kind": "episodic",
                    "importance": h.importance if h.importance is not None else p.felt.importance,
                    "about": h.actor.id,
                    "source_persona": h.actor.persona if p.role != Perception.Role.ACTOR else None,
                    "metadata": {
                        "source": "world_event",
                        "event_id": str(event.id),
                        "event_type": event.type,
                        "role": p.role,
                        **room_meta,
                    },
                    "embedding": p.vector,
                },
            )
            for p in perceivers
        ]
    )


def _store_moods(perceivers: list[Perceiver]) -> dict:
    """Every perceiver's new mood, rows locked and written together; ``{persona id: state}``."""
    from personas.services import persona_state_update_many

    felt = {p.persona.id: p.felt for p in perceivers}
    return persona_state_update_many(
        personas=[p.persona for p in perceivers],
        change=lambda persona, state: _new_state(persona, state, felt[persona.id]),
    )


def _store_relationships(event: WorldEvent, h: Happening, perceivers: list[Perceiver]) -> None:
    """Every perceiver but the actor records the interaction with the actor (one write)."""
    from personas.relationships import relationship_record_interactions

    others = [p for p in perceivers if p.role != Perception.Role.ACTOR]
    if not h.actor.id or not others:
        return
    rels = relationship_record_interactions(
        qualities={p.persona: p.felt.quality for p in others},
        other_id=h.actor.id,
        other_kind=h.actor.kind,
        other_name=h.actor.name,
        context=f"{event.type}: {event.description}"[:300],
    )
    for p in others:
        p.relationship = rels[p.persona.id]


def _record(event: WorldEvent, h: Happening, perceivers: list[Perceiver]) -> None:
    """Phase 3 (inside the event's transaction): memories, moods, relationships and
    perceptions of all perceivers, a few queries whatever their number."""
    memories = _store_memories(event, h, perceivers)
    states = _store_moods(perceivers)
    _store_relationships(event, h, perceivers)
    perceptions = Perception.objects.bulk_create(
        [
            Perception(
                event=event,
                persona=p.persona,
                role=p.role,
                memory=memory,
                distance=p.distance,
                valence=p.felt.appraisal.valence,
                arousal=p.felt.appraisal.arousal,
                appraisal_method=p.felt.appraisal.method,
                mood=states[p.persona.id].mood,
                emotion=states[p.persona.id].emotion,
            )
            for p, memory in zip(perceivers, memories, strict=True)
        ]
    )
    for p, perception in zip(perceivers, perceptions, strict=True):
        p.result = _perception_data(p, perception)


def _fire_triggers(event: WorldEvent, h: Happening, perceivers: list[Perceiver]) -> list[dict]:
    """The perceivers' triggers on this event (the goals app), after the commit; one query
    finds who has any."""
    from goals.selectors import personas_with_armed_triggers
    from goals.services import fire_event_triggers

    armed = personas_with_armed_triggers(personas=[p.persona for p in perceivers])
    fired: list[dict] = []
    for p in perceivers:
        if p.persona.id in armed:
            fired += fire_event_triggers(
                persona=p.persona,
                event_type=h.event_type,
                description=h.description,
                actor=h.actor.id or None,
                event_id=str(event.id),
                mood=p.result.get("mood"),
            )
    return fired


def world_event(
    *,
    event_type: str,
    description: str,
    persona: Persona | None = None,
    room: Room | None = None,
    actor: str | None = None,
    target: str | None = None,
    position: dict | None = None,
    data: dict | None = None,
    importance: float | None = None,
) -> dict:
    """Report an event to ``persona`` or to ``room``; every persona that perceives it
    remembers it in its own words, appraises it, updates its relationship with ``actor`` and
    its mood (phases in the module docstring).

    ``position`` (spatial rooms): where it happened; the actor, when in the room, moves there.
    Without one, an event in a spatial room happens where the actor stands (everyone
    perceives an event without actor nor position). Raises ``ValidationFailed`` naming the
    field; nothing is stored then.

    Result: ``{event_id, type, persona_id, room_id, perceived_by: [{persona_id, persona_slug,
    role, memory_id, mood, emotion, distance, relationship?}], triggers_fired: [...],
    timing: {total_ms}}``.
    """
    started = time.perf_counter()
    h = _happening(
        event_type=event_type, description=description, persona=persona, room=room,
        actor=actor, target=target, position=position, data=data, importance=importance,
    )  # fmt: skip
    perceivers = _perceivers(
        persona=persona, room=room, point=h.point, scene=h.scene, actor=h.actor, target=target
    )
    _write_accounts(h, perceivers)
    _feel_and_embed(perceivers, event_type=h.event_type)
    with transaction.atomic():
        event = _store_event(h)
        if perceivers:
            _record(event, h, perceivers)
        _publish(event, perceivers, room=room, persona=persona)
    triggers_fired = _fire_triggers(event, h, perceivers) if perceivers else []
    return {
        "event_id": str(event.id),
        "type": event.type,
        "persona_id": str(persona.id) if persona is not None else None,
        "room_id": str(room.id) if room is not None else None,
        "position": event.position,
        "perceived_by": [p.result for p in perceivers],
        "triggers_fired": triggers_fired,
        "timing": {"total_ms": round((time.perf_counter() - started) * 1000, 3)},
    }


def _perception_data(p: Perceiver, perception: Perception) -> dict:
    from personas.relationship_rpc import RelationshipOut

    result = {
        "persona_id": str(p.persona.id),
        "persona_slug": p.persona.slug,
        "role": p.role,
        "memory_id": perception.memory_id,
        "mood": perception.mood,
        "emotion": perception.emotion,
        "distance": round(p.distance, 4) if p.distance is not None else None,
    }
    if p.relationship is not None and p.role != Perception.Role.ACTOR:
        result["relationship"] = RelationshipOut.dump(p.relationship)
    return result


def _publish(
    event: WorldEvent, perceivers: list[Perceiver], *, room: Room | None, persona: Persona | None
) -> None:
    """``world.event`` on the room's topics (a room event: all its members are its
    audience) or on the persona's topics."""
    payload = {
        "id": str(event.id),
        "event_id": str(event.id),
        "type": event.type,
        "description": event.description,
        "actor": event.actor,
        "target": event.target,
        "position": event.position,
        "room_id": str(room.id) if room is not None else None,
        "perceived_by": [str(p.persona.id) for p in perceivers],
    }
    if room is not None:
        events.publish(
            WORLD_EVENT,
            kind="room",
            keys=(str(room.id),),
            data=payload,
            persona_ids=[str(m.id) for m in room_members(room)],
        )
    else:
        events.publish(
            WORLD_EVENT,
            kind="persona",
            keys=(persona.slug, str(persona.id)),
            data={**payload, "persona_id": str(persona.id), "slug": persona.slug},
        )
