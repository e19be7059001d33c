"""The turn pipeline and the other write-side operations on conversations.

``conversation_send_message`` is the one implementation behind ``conversation.send_message``
on /mcp, ``POST /api/conversations/messages/``, the Matrix bots, the web page and
``manage.py chat``. Steps (see docs/conversations.md):

1. resolve the conversation and take its turn lock (``Busy``/-32030 if a turn is running);
2. load the persona's state and its relationship with the sender;
3. embed the message and retrieve memories;
4. build the prompt within the token budget;
5. call the LLM (streaming or not), honouring cancellation and timeouts;
6. store the user message and the reply in one transaction, only once the LLM has answered
   (a cancelled stream stores its partial reply as ``cancelled``; a backend failure stores the
   pair marked ``failed``; nothing half-written is ever stored);
7. after commit, in the background: episodic memory, mood, relationship (``tasks.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from conversations import selectors
from conversations.exceptions import ConversationNotFound
from conversations.models import Conversation, Message
from conversations.prompts import PromptInput, PromptMemory, PromptTurn, build_prompt
from llm import get_provider
from llm.stop import StopAtSequences
from lore.turn import check_greeting_index, prepare_lore
from personamcp import jobs, metrics
from personamcp.exceptions import Cancelled, DomainError, ValidationFailed
from personamcp.locks import busy_lock
from personas.models import TRAITS, Persona, PersonaState
from personas.relationships import relationship_get_for_participant

log = logging.getLogger(__name__)
ChunkCallback = Callable[[dict], None]


def _conf(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


# --- conversation lifecycle ---------------------------------------------------------------


def conversation_get_or_start(
    *,
    persona: Persona,
    participant: str,
    participant_name: str = "",
    platform: str = "rpc",
    conversation_id: str | None = None,
    context: dict | None = None,
) -> Conversation:
    """The conversation a message goes to: the given one (it must belong to ``persona`` and be
    open), else the open one of (persona, participant), else a new one."""
    if conversation_id:
        conversation = selectors.conversation_get(conversation_id=conversation_id)
        if conversation.persona_id != persona.id:
            raise ConversationNotFound(f"conversation not found: {conversation_id}")
        if conversation.ended_at is not None:
            raise ValidationFailed(
                [{"field": "conversation_id", "message": "this conversation has ended"}]
            )
        return conversation
    conversation = selectors.conversation_open_for(persona=persona, participant=participant)
    if conversation is not None:
        return conversation
    try:
        with transaction.atomic():
            return Conversation.objects.create(
                persona=persona,
                participant=participant,
                participant_name=(participant_name or "")[:255],
                platform=platform[:32],
                context=context or {},
            )
    except IntegrityError:  # another frontend opened it at the same moment
        conversation = selectors.conversation_open_for(persona=persona, participant=participant)
        if conversation is None:
            raise
        return conversation


def _lock_ttl() -> int:
    return int(max(120, 3 * settings.LLM_TIMEOUT))


def conversation_turn_lock(conversation_id: str):
    """One turn at a time per conversation, across processes (the cache is Redis when scaled).

    Yields a function that extends the lock's expiry (long streams call it).
    """
    return busy_lock(
        f"conversation-turn:{conversation_id}",
        ttl=_lock_ttl(),
        message=f"conversation {conversation_id} is already generating a reply",
    )


# --- the turn -----------------------------------------------------------------------------


def _persona_card(persona: Persona) -> dict:
    return {
        "name": persona.name,
        "description": persona.description,
        "personality": {t: getattr(persona, t) for t in TRAITS},
        "speaking_style": persona.speaking_style,
        "background": persona.background,
        "goals": list(persona.goals or []),
        "interests": list(persona.interests or []),
        "greeting": persona.greeting,
        "system_prompt": persona.system_prompt,
    }


def _state_dict(state: PersonaState) -> dict:
    return {
        "mood": state.mood,
        "emotion": state.emotion,
        "energy": state.energy,
        "social_battery": state.social_battery,
        "stress": state.stress,
    }


def _retrieve(persona: Persona, content: str, timing: dict) -> list[Any]:
    """Embed the message and search the persona's memories (ScoredMemory list)."""
    limit = int(_conf("CONVERSATION_MEMORY_LIMIT", 6))
    if limit <= 0:
        return []
    from memory.embeddings import embed_one
    from memory.selectors import memory_search

    start = time.perf_counter()
    embedding = embed_one(content)
    timing["embedding_ms"] = _ms(start)
    start = time.perf_counter()
    found = memory_search(
        persona=persona, query_embedding=embedding, limit=limit, include_shared=True, touch=True
    )
    timing["retrieval_ms"] = _ms(start)
    return list(found)


def conversation_send_message(
    *,
    persona: Persona,
    content: str,
    sender: str,
    sender_name: str | None = None,
    conversation_id: str | None = None,
    context: dict | None = None,
    platform: str = "rpc",
    stream: bool = False,
    on_chunk: ChunkCallback | None = None,
    cancel_event: threading.Event | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    stop: list[str] | None = None,
    greeting_index: int | None = None,
) -> dict:
    """Run one turn: ``sender`` says ``content`` to ``persona``; returns the reply.

    ``greeting_index`` (a new conversation's first turn only) picks the card's greeting that
    opens the conversation: 0 ``first_mes``, n the n-th ``alternate_greetings``.

    ``max_tokens`` and ``temperature`` go to the LLM (default: the server's settings); the
    reply ends before the first of the ``stop`` sequences, which is neither streamed nor stored.

    With ``stream`` each text delta is passed to ``on_chunk({"conversation_id", "index",
    "delta"})`` as it arrives. Setting ``cancel_event`` stops generation: the partial reply is
    stored as ``cancelled`` and ``Cancelled`` is raised. Raises ``Busy`` when the conversation
    is already generating, ``LLMUnavailable``/``LLMTimeout`` when the backend fails,
    ``ValidationFailed`` for an empty or oversized message.

    The after-turn work is queued once the turn is stored and committed.

    Result: ``{response, conversation_id, message_id, persona_id, emotion,
    memories_used[{id, score}], usage{prompt_tokens, completion_tokens}, timing{total_ms,
    llm_ms, retrieval_ms, embedding_ms, prompt_ms, persistence_ms, first_chunk_ms}}``.
    """
    started = time.perf_counter()
    max_chars = settings.PERSONAMCP["MAX_MESSAGE_CHARS"]
    if not content or not content.strip():
        raise ValidationFailed([{"field": "content", "message": "must not be empty"}])
    if len(content) > max_chars:
        raise ValidationFailed(
            [{"field": "content", "message": f"longer than {max_chars} characters"}]
        )
    sender = str(sender)[:255]
    sender_name = (sender_name or "").strip()[:255]
    conversation = conversation_get_or_start(
        persona=persona,
        participant=sender,
        participant_name=sender_name,
        platform=platform,
        conversation_id=conversation_id,
        context=context,
    )
    display_name = sender_name or conversation.participant_name or sender
    timing: dict[str, float | None] = {"embedding_ms": 0.0, "retrieval_ms": 0.0}
    with conversation_turn_lock(str(conversation.id)) as keep_lock:
        # 2. state and relationship
        state = PersonaState.objects.filter(persona=persona).first() or PersonaState(
            persona=persona
        )
        relationship = relationship_get_for_participant(persona=persona, participant=sender)
        # 3. memories
        scored = _retrieve(persona, content, timing)
        # 4. prompt
        start = time.perf_counter()
        history = selectors.prompt_history(
            conversation=conversation, limit=int(_conf("CONVERSATION_HISTORY_LIMIT", 40))
        )
        memories = [
            PromptMemory(id=str(s.memory.id), content=s.memory.content, score=float(s.score))
            for s in scored
        ]
        # card fields, lorebooks and macros (lore/)
        check_greeting_index(
            persona=persona, conversation=conversation, greeting_index=greeting_index
        )
        lore = prepare_lore(
            persona=persona,
            persona_dict=_persona_card(persona),
            conversation=conversation,
            history=history,
            message=content,
            user=display_name,
        )
        timing["lore_ms"] = lore.lore_ms
        prompt = build_prompt(
            PromptInput(
                persona=lore.persona,
                message=content,
                sender_name=display_name,
                state=_state_dict(state),
                relationship={
                    "stage": relationship.stage,
                    "affinity": relationship.affinity,
                    "trust": relationship.trust,
                    "respect": relationship.respect,
                    "familiarity": relationship.familiarity,
                    "interactions": relationship.interactions,
                },
                memories=memories,
                context=context,
                history=lore.history(
                    [PromptTurn(role, speaker, text) for role, speaker, text in history],
                    PromptTurn,
                ),
                budget_tokens=int(_conf("CONVERSATION_PROMPT_BUDGET", 3000)),
                card=lore.pieces,
            )
        )
        hints = {
            "persona_name": persona.name,
            "greeting": lore.greeting or lore.persona.get("greeting", persona.greeting),
            "speaking_style": persona.speaking_style,
            "mood": state.mood,
            "emotion": state.emotion,
            "memories": [m.content for m in memories if m.id in set(prompt.memory_ids)],
            "message": content,
            "sender_name": sender_name or conversation.participant_name,
            "first_turn": not history,
        }
        timing["prompt_ms"] = _ms(start)
        # 5. the LLM
        provider = get_provider()
        start = time.perf_counter()
        status = Message.Status.COMPLETE
        failure: DomainError | None = None
        reply = ""
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        first_chunk_ms: float | None = None
        last_touch = time.monotonic()
        llm_stream = None
        try:
            llm_stream = provider.stream(
                prompt.messages,
                cancel_event=cancel_event,
                max_tokens=max_tokens or int(_conf("LLM_MAX_TOKENS", 0)) or None,
                temperature=temperature,
                hints=hints,
            )
            if stop:
                llm_stream = StopAtSequences(llm_stream, stop)
            for index, delta in enumerate(llm_stream):
                if first_chunk_ms is None:
                    first_chunk_ms = _ms(started)
                if stream and on_chunk is not None:
                    on_chunk(
                        {"conversation_id": str(conversation.id), "index": index, "delta": delta}
                    )
                if time.monotonic() - last_touch > 10:
                    keep_lock()
                    last_touch = time.monotonic()
            reply = llm_stream.text
            usage = dict(llm_stream.usage)
            if llm_stream.cancelled or (cancel_event is not None and cancel_event.is_set()):
                status = Message.Status.CANCELLED
        except DomainError as exc:
            failure = exc
            status = Message.Status.FAILED
            reply = llm_stream.text if llm_stream is not None else ""
            if cancel_event is not None and cancel_event.is_set():
                status, failure = Message.Status.CANCELLED, None
        finally:
            if llm_stream is not None:
                llm_stream.close()
        timing["llm_ms"] = _ms(start)
        timing["first_chunk_ms"] = first_chunk_ms
        # 6. persistence, in one transaction
        start = time.perf_counter()
        message = _store_turn(
            conversation=conversation,
            persona=persona,
            sender=sender,
            display_name=display_name,
            content=content,
            reply=reply,
            status=status,
            prompt={
                **prompt.as_json(),
                "provider": provider.name,
                "model": provider.model,
                "sender": sender,  # who said it (rooms: one conversation, many speakers)
            },
            memories_used=[
                {"id": m.id, "score": round(m.score, 4), "scores": _scores(s), "content": m.content}
                for m, s in zip(memories, scored, strict=True)
                if m.id in set(prompt.memory_ids)
            ],
            usage=usage,
            timing=timing,
            emotion=state.emotion,
            provider=f"{provider.name}:{provider.model}",
            error=failure.message if failure else "",
        )
        timing["persistence_ms"] = _ms(start)
    timing["total_ms"] = _ms(started)
    metrics.observe_turn(timing)
    if status == Message.Status.COMPLETE and reply:
        from conversations import tasks

        # after our commit (at once, or when an enclosing transaction commits)
        jobs.enqueue(tasks.after_turn, message.pk, dict(timing))
    if failure is not None:
        raise failure
    if status == Message.Status.CANCELLED:
        raise Cancelled("the reply was cancelled; the partial reply is stored")
    return {
        "response": reply,
        "conversation_id": str(conversation.id),
        "message_id": message.id,
        "persona_id": str(persona.id),
        "emotion": state.emotion,
        "memories_used": [{"id": m["id"], "score": m["score"]} for m in message.memories_used],
        "lore_used": prompt.lore_used,
        "usage": {
            "prompt_tokens": int(usage.get("prompt_tokens") or 0),
            "completion_tokens": int(usage.get("completion_tokens") or 0),
        },
        "timing": {k: v for k, v in timing.items()},
    }


def _scores(scored: Any) -> dict:
    scores = getattr(scored, "scores", None) or {}
    return {k: round(float(v), 4) for k, v in scores.items()}


def _store_turn(
    *,
    conversation: Conversation,
    persona: Persona,
    sender: str,
    display_name: str,
    content: str,
    reply: str,
    status: str,
    prompt: dict,
    memories_used: list[dict],
    usage: dict,
    timing: dict,
    emotion: str,
    provider: str,
    error: str,
) -> Message:
    """Store the user message and the reply together; queue the after-turn work."""
    user_status = (
        Message.Status.FAILED if status == Message.Status.FAILED else Message.Status.COMPLETE
    )
    with transaction.atomic():
        user_message = Message(
            conversation=conversation,
            role=Message.Role.USER,
            speaker=display_name[:255],
            content=content,
            status=user_status,
        )
        reply_message = Message(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            speaker=persona.name,
            content=reply,
            status=status,
            prompt=prompt,
            memories_used=memories_used,
            timings={k: v for k, v in timing.items()},
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            emotion=emotion,
            provider=provider[:64],
            error=error,
        )
        Message.objects.bulk_create([user_message, reply_message])
        if reply_message.pk is None:  # databases that do not return ids from bulk inserts
            reply_message = Message.objects.filter(conversation=conversation).latest("id")
        updates: dict[str, Any] = {
            "last_message_at": timezone.now(),
            "message_count": F("message_count") + 2,
        }
        if (
            display_name
            and display_name != conversation.participant_name
            and display_name != sender
            and sender == conversation.participant  # a room's conversation keeps its name
        ):
            updates["participant_name"] = display_name[:255]
        Conversation.objects.filter(pk=conversation.pk).update(**updates)
    return reply_message


# --- after the turn -----------------------------------------------------------------------


def conversation_after_turn(*, message_id: int, timings: dict | None = None) -> dict:
    """Background work of a committed turn: an episodic memory of the exchange with scored
    importance, the persona's new mood (appraisal + decay) and the relationship with the
    sender. State and relationship saves broadcast their events."""
    with transaction.atomic():
        # Claim the reply; the claim and every write below commit together, so the work is
        # done exactly once even when a crashed run is retried or recovered.
        claimed = Message.objects.filter(
            pk=message_id, role=Message.Role.ASSISTANT, processed_at__isnull=True
        ).update(processed_at=timezone.now())
        if not claimed:
            return {"skipped": "message not found or already processed"}
        return _after_turn(message_id=message_id, timings=timings)


def _after_turn(*, message_id: int, timings: dict | None) -> dict:
    from conversations.appraisal import appraise, next_state
    from personas.relationships import relationship_record_interaction
    from personas.services import persona_state_update

    reply = Message.objects.select_related("conversation__persona").get(pk=message_id)
    if timings:  # the final figures, persistence and total included
        Message.objects.filter(pk=reply.pk).update(timings={**reply.timings, **timings})
    conversation = reply.conversation
    persona = conversation.persona
    said = (
        Message.objects.filter(conversation=conversation, role=Message.Role.USER, id__lt=reply.id)
        .order_by("-id")
        .first()
    )
    user_text = said.content if said else ""
    # The turn's own sender: in a room one conversation hears several speakers.
    participant = (reply.prompt or {}).get("sender") or conversation.participant
    if participant != conversation.participant and said is not None:
        who = said.speaker or participant
    else:
        who = conversation.participant_name or conversation.participant
    done: dict[str, Any] = {}

    from memory.services import memory_store

    exchange = f'{who} said to me: "{user_text}" I answered: "{reply.content}"'
    memory = memory_store(
        persona=persona,
        content=exchange,
        kind="episodic",
        importance=None,  # scored by the memory app (heuristic, refined by the LLM if any)
        about=participant,
        metadata={
            "conversation_id": str(conversation.id),
            "message_id": reply.id,
            "source": "conversation",
        },
    )
    done["memory_id"] = str(memory.id)

    appraisal = appraise(user_text, method=str(_conf("MOOD_APPRAISAL", "lexicon")))
    state = PersonaState.objects.filter(persona=persona).first() or PersonaState(persona=persona)
    hours = (timezone.now() - state.updated_at).total_seconds() / 3600 if state.updated_at else 0.0
    change = next_state(
        state=_state_dict(state),
        personality={t: getattr(persona, t) for t in TRAITS},
        appraisal=appraisal,
        hours_since_update=hours,
        half_life_hours=float(_conf("MOOD_HALF_LIFE_HOURS", 6.0)),
        sensitivity=float(_conf("MOOD_SENSITIVITY", 0.35)),
    )
    persona_state_update(
        persona=persona,
        mood=change.mood,
        emotion=change.emotion,
        energy=change.energy,
        social_battery=change.social_battery,
        stress=change.stress,
    )
    done["mood"] = change.mood
    done["emotion"] = change.emotion

    rel = relationship_record_interaction(
        persona=persona,
        other_id=participant,
        other_kind="participant",
        other_name=who
        if participant != conversation.participant
        else conversation.participant_name,
        quality=max(-1.0, min(1.0, 0.15 + appraisal.valence)),
    )
    done["relationship_stage"] = rel.stage
    return done


def conversation_after_turn_recover(*, older_than_seconds: int = 60, limit: int = 200) -> int:
    """Run the after-turn work of complete replies that never got it (their process died
    between the reply's commit and the background job); returns how many were recovered."""
    now = timezone.now()
    pending = list(
        Message.objects.filter(
            role=Message.Role.ASSISTANT,
            status=Message.Status.COMPLETE,
            processed_at__isnull=True,
            created_at__lt=now - timedelta(seconds=older_than_seconds),
            created_at__gt=now - timedelta(days=2),
        )
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    recovered = 0
    for message_id in pending:
        if "skipped" not in conversation_after_turn(message_id=message_id):
            recovered += 1
    if recovered:
        log.warning("recovered the after-turn work of %d replies", recovered)
    return recovered


def persona_moods_decay() -> int:
    """Move every persona's mood, energy and stress toward its baseline by the time passed
    since its state last changed; only states that moved noticeably are saved."""
    from conversations.appraisal import baseline_mood, decayed
    from personas.services import persona_state_update

    half_life = float(_conf("MOOD_HALF_LIFE_HOURS", 6.0))
    now = timezone.now()
    changed = 0
    for state in PersonaState.objects.select_related("persona"):
        hours = (now - state.updated_at).total_seconds() / 3600
        persona = state.persona
        base = baseline_mood({t: getattr(persona, t) for t in TRAITS})
        mood = decayed(state.mood, base, hours, half_life)
        stress = decayed(state.stress, 0.2, hours, half_life)
        energy = decayed(state.energy, 0.8, hours, half_life)
        if (
            max(abs(mood - state.mood), abs(stress - state.stress), abs(energy - state.energy))
            < 0.02
        ):
            continue
        persona_state_update(
            persona=persona, mood=round(mood, 4), stress=round(stress, 4), energy=round(energy, 4)
        )
        changed += 1
    return changed


# --- ending -------------------------------------------------------------------------------

SUMMARY_PROMPT = (
    "Summarise this conversation in two or three sentences from the point of view of {name}, "
    "in the first person: what was talked about and anything worth remembering."
)


def _extractive_summary(conversation: Conversation, messages: list[Message]) -> str:
    who = conversation.participant_name or conversation.participant
    said = [m.content for m in messages if m.role == Message.Role.USER][:3]
    gist = "; ".join(" ".join(s.split())[:100] for s in said)
    day = (conversation.started_at or timezone.now()).strftime("%Y-%m-%d")
    return f"On {day} I talked with {who} ({len(messages)} messages). They said: {gist}."


def conversation_end(*, conversation: Conversation) -> dict:
    """End a conversation and store a summary memory of it; ending twice is harmless."""
    if conversation.ended_at is not None:
        return {"ended": True, "summary": conversation.summary or None}
    messages = [
        m
        for m in selectors.message_history(conversation=conversation, limit=200)
        if m.status != Message.Status.FAILED
    ]
    summary = ""
    if messages:
        summary = _extractive_summary(conversation, messages)
        provider = get_provider()
        if provider.is_llm:
            transcript = "\n".join(f"{m.speaker}: {m.content}" for m in messages[-40:])
            try:
                summary = (
                    provider.complete(
                        [
                            {
                                "role": "system",
                                "content": SUMMARY_PROMPT.format(name=conversation.persona.name),
                            },
                            {"role": "user", "content": transcript},
                        ],
                        max_tokens=200,
                    ).strip()
                    or summary
                )
            except DomainError as exc:
                log.warning("LLM summary failed (%s); keeping the extractive summary", exc)
    with transaction.atomic():
        conversation.ended_at = timezone.now()
        conversation.summary = summary
        conversation.save(update_fields=["ended_at", "summary"])
        if summary:
            from memory.importance import importance_heuristic
            from memory.services import memory_store

            memory_store(
                persona=conversation.persona,
                content=summary,
                kind="episodic",
                importance=max(0.5, importance_heuristic(summary)),
                about=conversation.participant,
                metadata={"conversation_id": str(conversation.id), "summary": True},
            )
    return {"ended": True, "summary": summary or None}
