"""Relationships: how a persona sees another persona or a participant.

Axes: ``affinity`` (likes them), ``trust`` and ``respect`` in -1..1; ``familiarity`` in 0..1.
The ``stage`` is derived from the axes by these rules, checked in this order:

=============  =====================================================================
stage          rule
=============  =====================================================================
enemy          affinity <= -0.5 and trust <= -0.3
rival          affinity <= -0.2, or (respect >= 0.3 and trust <= -0.2)
close_friend   familiarity >= 0.6 and affinity >= 0.6 and trust >= 0.5
friend         familiarity >= 0.3 and affinity >= 0.3 and trust >= 0.2
acquaintance   familiarity >= 0.1 or at least 2 interactions
stranger       anything else
=============  =====================================================================

An interaction of quality ``q`` (-1..1) moves each axis toward its end by a step that shrinks
near the bounds: ``affinity += 0.15*q*room``, ``trust += 0.08*q*room``,
``respect += 0.05*q*room`` (``room`` = distance to the bound in the direction of ``q``), and
``familiarity += 0.05*(1 - familiarity)`` for every interaction (so ~7 pleasant interactions
make an acquaintance a friend, ~18 a close friend).
"""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction
from django.db.models.functions import Coalesce
from django.db.models.signals import post_save
from django.utils import timezone

from personamcp.pagination import paginate
from personas.models import TRAITS, Persona, Relationship

Stage = Relationship.Stage

STEP = {"affinity": 0.15, "trust": 0.08, "respect": 0.05}
FAMILIARITY_STEP = 0.05


def relationship_stage(
    *, affinity: float, trust: float, respect: float, familiarity: float, interactions: int = 0
) -> str:
    """The stage the axes describe (rules in the module docstring)."""
    if affinity <= -0.5 and trust <= -0.3:
        return Stage.ENEMY
    if affinity <= -0.2 or (respect >= 0.3 and trust <= -0.2):
        return Stage.RIVAL
    if familiarity >= 0.6 and affinity >= 0.6 and trust >= 0.5:
        return Stage.CLOSE_FRIEND
    if familiarity >= 0.3 and affinity >= 0.3 and trust >= 0.2:
        return Stage.FRIEND
    if familiarity >= 0.1 or interactions >= 2:
        return Stage.ACQUAINTANCE
    return Stage.STRANGER


def _move(value: float, quality: float, step: float) -> float:
    room = (1.0 - value) if quality > 0 else (1.0 + value)
    return max(-1.0, min(1.0, value + step * quality * room))


def _resolve_other(other_id: str) -> tuple[str, str, str]:
    """(canonical other id, kind, display name): a persona id/slug or a participant id."""
    from personas.exceptions import PersonaNotFound
    from personas.selectors import persona_get

    try:
        other = persona_get(persona_id=other_id)
    except PersonaNotFound:
        return other_id, Relationship.OtherKind.PARTICIPANT, ""
    return str(other.id), Relationship.OtherKind.PERSONA, other.name


def _persona_by_uuid(participant: str) -> Persona | None:
    """The persona whose UUID is this participant id (a persona speaking to another one)."""
    try:
        pk = uuid.UUID(str(participant))
    except ValueError:
        return None
    if str(pk) != participant:
        return None
    return Persona.objects.filter(pk=pk).only("id", "name").first()


# --- selectors -----------------------------------------------------------------------------


def relationship_get(*, persona: Persona, other_id: str) -> Relationship:
    """The relationship with ``other_id`` (persona id/slug or participant id).

    When none exists yet, an unsaved neutral default (stage ``stranger``, 0 interactions).
    """
    canonical, kind, name = _resolve_other(other_id)
    found = Relationship.objects.filter(persona=persona, other_id=canonical).first()
    if found is not None:
        return found
    return Relationship(persona=persona, other_id=canonical, other_kind=kind, other_name=name)


def relationship_get_for_participant(*, persona: Persona, participant: str) -> Relationship:
    """Like ``relationship_get`` for a participant id, with one query (the turn's hot path)."""
    found = Relationship.objects.filter(persona=persona, other_id=participant).first()
    if found is not None:
        return found
    other = _persona_by_uuid(participant)
    if other is not None:
        return Relationship(
            persona=persona,
            other_id=participant,
            other_kind=Relationship.OtherKind.PERSONA,
            other_name=other.name,
        )
    return Relationship(
        persona=persona, other_id=participant, other_kind=Relationship.OtherKind.PARTICIPANT
    )


def relationship_list(
    *, persona: Persona, limit: int = 50, cursor: str | None = None
) -> tuple[list[Relationship], str | None]:
    """One page of the persona's relationships, most recent interaction (else creation)
    first, and the cursor of the next page."""
    qs = Relationship.objects.filter(persona=persona).annotate(
        active_at=Coalesce("last_interaction_at", "created_at")
    )
    return paginate(qs, order="-active_at", limit=limit, cursor=cursor)


def relationship_compatibility(*, persona: Persona, other: Persona) -> dict:
    """How well two personas would get along, from personality and shared interests.

    ``personality``: 1 - the mean distance of the Big Five traits, with agreeableness and
    low neuroticism of both counting extra; ``interests``: Jaccard overlap of interests;
    ``overall`` = 0.6*personality + 0.4*interests.
    """
    diffs = [abs(getattr(persona, t) - getattr(other, t)) for t in TRAITS]
    similarity = 1.0 - sum(diffs) / len(diffs)
    harmony = (persona.agreeableness + other.agreeableness) / 2 - (
        persona.neuroticism + other.neuroticism
    ) / 4
    personality = max(0.0, min(1.0, 0.7 * similarity + 0.3 * (harmony + 0.25)))
    mine = {i.strip().lower() for i in persona.interests}
    theirs = {i.strip().lower() for i in other.interests}
    interests = len(mine & theirs) / len(mine | theirs) if mine | theirs else 0.0
    overall = round(0.6 * personality + 0.4 * interests, 3)
    if overall >= 0.65:
        prediction = "likely to become friends"
    elif overall >= 0.45:
        prediction = "could get along"
    elif overall >= 0.3:
        prediction = "likely to clash now and then"
    else:
        prediction = "likely rivals"
    return {
        "overall": overall,
        "personality": round(personality, 3),
        "interests": round(interests, 3),
        "prediction": prediction,
        "shared_interests": sorted(mine & theirs),
    }


# --- services ------------------------------------------------------------------------------


def relationship_record_interaction(
    *,
    persona: Persona,
    other_id: str,
    quality: float,
    other_kind: str | None = None,
    other_name: str = "",
    context: str = "",
) -> Relationship:
    """Record one interaction of quality -1..1 and re-derive the stage (row-locked)."""
    if other_kind is None:
        other_id, other_kind, resolved_name = _resolve_other(other_id)
        other_name = other_name or resolved_name
    elif other_kind == Relationship.OtherKind.PARTICIPANT:
        # A participant id that is a persona's UUID is that persona (persona-to-persona talk).
        speaker = _persona_by_uuid(other_id)
        if speaker is not None:
            other_kind = Relationship.OtherKind.PERSONA
            other_name = other_name or speaker.name
    quality = max(-1.0, min(1.0, float(quality)))
    with transaction.atomic():
        try:
            with transaction.atomic():
                Relationship.objects.get_or_create(
                    persona=persona,
                    other_id=other_id,
                    defaults={"other_kind": other_kind, "other_name": other_name[:255]},
                )
        except IntegrityError:  # created concurrently by another turn; lock that row below
            pass
        rel = Relationship.objects.select_for_update().get(persona=persona, other_id=other_id)
        _interact(rel, quality, other_name=other_name, context=context, now=timezone.now())
        rel.save()
    return rel


def _interact(rel: Relationship, quality: float, *, other_name: str, context: str, now) -> None:
    """One interaction of quality -1..1 moves the axes and re-derives the stage (unsaved)."""
    for axis, step in STEP.items():
        setattr(rel, axis, round(_move(getattr(rel, axis), quality, step), 4))
    rel.familiarity = round(
        min(1.0, rel.familiarity + FAMILIARITY_STEP * (1.0 - rel.familiarity)), 4
    )
    rel.interactions += 1
    rel.last_interaction_at = now
    if other_name and other_name != rel.other_name:
        rel.other_name = other_name[:255]
    if context:
        stamp = rel.last_interaction_at.strftime("%Y-%m-%d %H:%M")
        rel.notes = (rel.notes + f"\n[{stamp}] {context}").strip()[-4000:]
    rel.stage = relationship_stage(
        affinity=rel.affinity,
        trust=rel.trust,
        respect=rel.respect,
        familiarity=rel.familiarity,
        interactions=rel.interactions,
    )


INTERACTION_FIELDS = [
    "affinity", "trust", "respect", "familiarity", "interactions", "last_interaction_at",
    "other_name", "notes", "stage", "updated_at",
]  # fmt: skip


def relationship_record_interactions(
    *,
    qualities: dict[Persona, float],
    other_id: str,
    other_kind: str,
    other_name: str = "",
    context: str = "",
) -> dict:
    """``relationship_record_interaction`` for several personas' relationships with the same
    ``other_id`` at once (a world event's perceivers): the missing rows are created in one
    query, all are read and locked in one, written in one UPDATE; ``relationship.changed`` is
    published for each (as a save would). Returns ``{persona id: Relationship}``; call
    inside a transaction."""
    if not qualities:
        return {}
    if other_kind == Relationship.OtherKind.PARTICIPANT:
        speaker = _persona_by_uuid(other_id)  # a persona's UUID is that persona
        if speaker is not None:
            other_kind = Relationship.OtherKind.PERSONA
            other_name = other_name or speaker.name
    personas = list(qualities)
    Relationship.objects.bulk_create(
        [
            Relationship(
                persona=p, other_id=other_id, other_kind=other_kind, other_name=other_name[:255]
            )
            for p in personas
        ],
        ignore_conflicts=True,
    )
    locked = (  # in one order, so two events with the same perceivers cannot deadlock
        Relationship.objects.select_for_update()
        .filter(persona__in=personas, other_id=other_id)
        .order_by("persona")
    )
    rels = {r.persona_id: r for r in locked}
    now = timezone.now()
    for persona, quality in qualities.items():
        rel = rels[persona.id]
        rel.persona = persona  # the signal receivers read it; no query
        quality = max(-1.0, min(1.0, float(quality)))
        _interact(rel, quality, other_name=other_name, context=context, now=now)
        rel.updated_at = now
    Relationship.objects.bulk_update(list(rels.values()), INTERACTION_FIELDS)
    for rel in rels.values():
        post_save.send(
            sender=Relationship, instance=rel, created=False,
            update_fields=frozenset(INTERACTION_FIELDS), raw=False, using=rel._state.db,
        )  # fmt: skip
    return rels
