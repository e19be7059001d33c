"""The background work of a committed turn, in three steps that never hold a transaction
across slow work (healthchecks' ``sendalerts`` is the model):

1. ``claim``: one short transaction marks the reply as taken by this run (a claim older than
   ``CLAIM_SECONDS`` belongs to a run that died and may be taken over);
2. ``appraise``: outside any transaction, the slow part: the embedding of the exchange and the
   appraisal of the message (an LLM call with ``MOOD_APPRAISAL=llm``);
3. ``record``: a second short transaction writes the episodic memory, the persona's new mood
   and the relationship, and marks the reply processed, only if the claim is still this run's,
   so the work is done exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from conversations.models import Message
from conversations.turn import STATE_FIELDS, conf, fields_of, state_dict, turn_ttl
from personas.models import TRAITS, PersonaState


def claim_seconds() -> int:
    """How long a claim protects a run: longer than the slowest after-turn work."""
    return 2 * turn_ttl()


@dataclass
class Exchange:
    """What the after-turn work needs of one turn, read before the slow work."""

    reply: Message
    user_text: str
    participant: str
    who: str
    other_name: str
    claimed_at: datetime
    embedding: Any = None
    appraisal: Any = None


def claim(*, message_id: int, timings: dict | None = None) -> Exchange | None:
    """Take the reply for this run (a short transaction); None when done or taken."""
    now = timezone.now()
    stale = now - timedelta(seconds=claim_seconds())
    with transaction.atomic():
        claimed = (
            Message.objects.filter(
                pk=message_id, role=Message.Role.ASSISTANT, processed_at__isnull=True
            )
            .filter(Q(after_turn_claimed_at__isnull=True) | Q(after_turn_claimed_at__lt=stale))
            .update(after_turn_claimed_at=now)
        )
        if not claimed:
            return None
        reply = Message.objects.select_related("conversation__persona").get(pk=message_id)
        if timings:  # the final figures, persistence and total included
            reply.timings = {**reply.timings, **timings}
            reply.save(update_fields=["timings"])
    return _exchange(reply, claimed_at=now)


def _exchange(reply: Message, *, claimed_at: datetime) -> Exchange:
    conversation = reply.conversation
    said = (
        Message.objects.filter(conversation=conversation, role=Message.Role.USER, id__lt=reply.id)
        .order_by("-id")
        .first()
    )
    # The turn's own sender: in a room one conversation hears several speakers.
    participant = (reply.prompt or {}).get("sender") or conversation.participant
    if participant != conversation.participant and said is not None:
        who = said.speaker or participant
    else:
        who = conversation.participant_name or conversation.participant
    other_name = who if participant != conversation.participant else conversation.participant_name
    return Exchange(
        reply=reply,
        user_text=said.content if said else "",
        participant=participant,
        who=who,
        other_name=other_name,
        claimed_at=claimed_at,
    )


def memory_text(exchange: Exchange) -> str:
    return (
        f'{exchange.who} said to me: "{exchange.user_text}" I answered: "{exchange.reply.content}"'
    )


def appraise(exchange: Exchange) -> Exchange:
    """The slow part, outside any transaction: embed the exchange, appraise the message."""
    from conversations.appraisal import Appraisal
    from conversations.appraisal import appraise as appraise_text
    from memory.embeddings import embed_one

    exchange.embedding = embed_one(memory_text(exchange))
    done = (exchange.reply.prompt or {}).get("appraisal")  # made by the turn (its expression)
    if done:
        exchange.appraisal = Appraisal(**done)
    else:
        exchange.appraisal = appraise_text(
            exchange.user_text, method=str(conf("MOOD_APPRAISAL", "lexicon"))
        )
    return exchange


def record(exchange: Exchange) -> dict:
    """Write the results (a short transaction) if the claim is still ours."""
    from conversations.appraisal import next_state
    from memory.services import memory_store
    from personas.relationships import relationship_record_interaction
    from personas.services import persona_state_update

    reply = exchange.reply
    conversation = reply.conversation
    persona = conversation.persona
    with transaction.atomic():
        finished = Message.objects.filter(
            pk=reply.pk, processed_at__isnull=True, after_turn_claimed_at=exchange.claimed_at
        ).update(processed_at=timezone.now())
        if not finished:
            return {"skipped": "another run took this reply over"}
        memory = memory_store(
            persona=persona,
            content=memory_text(exchange),
            kind="episodic",
            importance=None,  # scored by the memory app (heuristic, refined by the LLM if any)
            about=exchange.participant,
            metadata={
                "conversation_id": str(conversation.id),
                "message_id": reply.id,
                "source": "conversation",
            },
            embedding=exchange.embedding,
        )
        state = PersonaState.objects.filter(persona=persona).first() or PersonaState(
            persona=persona
        )
        hours = (
            (timezone.now() - state.updated_at).total_seconds() / 3600 if state.updated_at else 0.0
        )
        change = next_state(
            state=state_dict(state),
            personality={t: getattr(persona, t) for t in TRAITS},
            appraisal=exchange.appraisal,
            hours_since_update=hours,
            half_life_hours=float(conf("MOOD_HALF_LIFE_HOURS", 6.0)),
            sensitivity=float(conf("MOOD_SENSITIVITY", 0.35)),
        )
        persona_state_update(persona=persona, **fields_of(change, STATE_FIELDS))
        relationship = relationship_record_interaction(
            persona=persona,
            other_id=exchange.participant,
            other_kind="participant",
            other_name=exchange.other_name,
            quality=max(-1.0, min(1.0, 0.15 + exchange.appraisal.valence)),
        )
    return {
        "memory_id": str(memory.id),
        "mood": change.mood,
        "emotion": change.emotion,
        "relationship_stage": relationship.stage,
    }
