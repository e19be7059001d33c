"""Write-side operations on conversations: the turn, its recovery, the after-turn work, ending.

``conversation_send_message`` is the one implementation behind ``conversation.send_message``
on /mcp, ``POST /api/conversations/messages/``, ``/v1/chat/completions``, the Matrix bots, the
web page, rooms and ``manage.py chat``. It takes the conversation's turn lock (``Busy``/-32030
if a turn is running) and runs the named steps of ``conversations.turn`` (prepare, retrieve,
build the prompt, generate, store); after commit the background job runs the three steps of
``conversations.after_turn`` (claim, appraise, record). See docs/conversations.md.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import after_turn, selectors, turn
from conversations.exceptions import ConversationNotFound
from conversations.models import Conversation, Message
from llm import get_provider
from personamcp import errors, jobs, locks, metrics, tracing
from personamcp.exceptions import Busy, Cancelled, DomainError, ValidationFailed
from personamcp.logging import correlation
from personas.models import TRAITS, Persona, PersonaState

log = logging.getLogger(__name__)


def _conf(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


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


@contextlib.contextmanager
def conversation_turn_lock(conversation_id: str) -> Iterator[locks.HeldLock]:
    """One turn at a time per conversation, across processes (Redis when scaled).

    Yields the held lock (calling it extends the expiry). When the conversation is busy
    because the process holding it was killed, the lock is broken and that turn marked failed
    at once, so the conversation is usable again without waiting for the lock to expire.
    """
    key = f"conversation-turn:{conversation_id}"
    message = f"conversation {conversation_id} is already generating a reply"
    try:
        held = locks.lock_acquire(key, ttl=turn.turn_ttl(), message=message)
    except Busy:
        if not locks.lock_break_if_dead(key):
            raise
        conversation_turns_recover(conversation_id=conversation_id)
        held = locks.lock_acquire(key, ttl=turn.turn_ttl(), message=message)
    try:
        yield held
    finally:
        held.release()


# --- the turn -----------------------------------------------------------------------------


def conversation_send_message(*, persona: Persona, content: str, sender: str, **options) -> dict:
    """Run one turn: ``sender`` says ``content`` to ``persona``; returns the reply.

    ``options`` are the other fields of ``conversations.turn.TurnRequest``: ``sender_name``,
    ``conversation_id``, ``context``, ``platform``, ``stream``, ``on_chunk``, ``cancel_event``,
    ``max_tokens``, ``temperature``, ``stop``, ``greeting_index`` (a new conversation's first
    turn only: which card greeting opens it, 0 ``first_mes``, n the n-th alternate). With ``stream`` each text delta is passed to
    ``on_chunk({"conversation_id", "index", "delta"})`` as it arrives. Setting
    ``cancel_event`` stops generation: the partial reply is stored as ``cancelled`` and
    ``Cancelled`` is raised. Raises ``Busy`` when the conversation is already generating,
    ``LLMUnavailable``/``LLMTimeout`` when the backend fails (the turn is stored ``failed``),
    ``ValidationFailed`` for an empty or oversized message.

    The user's message is stored first (``pending``), the reply once the LLM answered; the
    after-turn work is queued when the turn is committed. Result: ``SendMessageOut``.
    """
    request = turn.TurnRequest(persona=persona, content=content, sender=sender, **options)
    started = time.perf_counter()
    with (
        correlation(),  # the request's or RPC call's id, or a new one (bots, CLI)
        tracing.span("turn", persona_id=str(persona.id), platform=request.platform),
    ):
        # The message's embedding starts first: nothing before the memory search needs it.
        embedding = turn.start_embedding(request)
        conversation = conversation_get_or_start(
            persona=persona,
            participant=request.sender,
            participant_name=request.sender_name,
            platform=request.platform,
            conversation_id=request.conversation_id,
            context=request.context,
        )
        tracing.set_attributes(conversation_id=str(conversation.id))
        state = turn.Turn(
            request=request, conversation=conversation, started=started, embedding=embedding
        )
        with conversation_turn_lock(str(conversation.id)) as state.lock:
            try:
                _run_steps(state)
            except BaseException as exc:
                known = isinstance(exc, DomainError)
                code = errors.lookup(exc)[0] if known else errors.INTERNAL_ERROR
                turn.fail_pending(state, f"the turn failed: {type(exc).__name__}", code)
                raise
        tracing.set_attributes(
            message_id=getattr(state.reply_message, "pk", None), status=state.status
        )
        return _finish(state)


# Trace span of each step (``retrieve`` opens its own: turn.embedding and turn.retrieval).
STEP_SPANS = {
    "prepare_turn": "turn.prepare",
    "load_context": "turn.context",
    "retrieve": None,
    "build_prompt": "turn.prompt",
    "generate": "turn.llm",
    "store_turn": "turn.persistence",
}


def _run_steps(state: turn.Turn) -> None:
    state.context = contextvars.copy_context()  # inside the turn's span
    for step in turn.TURN_STEPS:
        name = STEP_SPANS.get(step.__name__, f"turn.{step.__name__}")
        if name is None:
            step(state)
            continue
        with tracing.span(name):
            step(state)
            if step is turn.generate:
                tracing.set_attributes(
                    provider=state.provider.name,
                    model=state.provider.model,
                    prompt_tokens=int(state.usage.get("prompt_tokens") or 0),
                    completion_tokens=int(state.usage.get("completion_tokens") or 0),
                )


def _finish(state: turn.Turn) -> dict:
    """Metrics, the after-turn job, and the turn's outcome (result, failure or cancel)."""
    state.timing["total_ms"] = turn.ms_since(state.started)
    metrics.observe_turn(state.timing)
    if state.status == Message.Status.COMPLETE and state.reply:
        from conversations import tasks

        # after our commit (at once, or when an enclosing transaction commits)
        jobs.enqueue(tasks.after_turn, state.reply_message.pk, dict(state.timing))
    if state.failure is not None:
        raise state.failure
    if state.status == Message.Status.CANCELLED:
        raise Cancelled("the reply was cancelled; the partial reply is stored")
    return turn.turn_result(state)


def conversation_turns_recover(*, conversation_id: str | None = None) -> int:
    """Mark ``failed`` the turns left ``pending`` by a process that is gone and break the turn
    locks it held; returns how many turns were failed.

    A turn belongs to the process that stored its message (``owner``). On this host the owner
    is gone when its pid no longer runs with the same start time; a turn of another host counts
    as gone once its lease expired (its process refreshes the lease while it works). So one
    live process never fails another live process's turn.
    """
    pending = Message.objects.filter(status=Message.Status.PENDING)
    if conversation_id is not None:
        pending = pending.filter(conversation_id=conversation_id)
    failed = 0
    rows = pending.values_list("id", "conversation_id", "owner", "lease_until")
    for message_id, conv_id, owner, lease_until in list(rows):
        if locks.owner_alive(owner, lease_until=lease_until):
            continue
        failed += Message.objects.filter(pk=message_id, status=Message.Status.PENDING).update(
            status=Message.Status.FAILED,
            owner="",
            lease_until=None,
            error=turn.DIED_REASON,
            error_code=errors.INTERNAL_ERROR,
        )
        locks.lock_break(f"conversation-turn:{conv_id}", owner=owner)
    if failed:
        log.warning("marked %d turns failed: their server process is gone", failed)
    return failed


# --- after the turn -----------------------------------------------------------------------


def conversation_after_turn(*, message_id: int, timings: dict | None = None) -> dict:
    """Background work of a committed turn: an episodic memory of the exchange with scored
    importance, the persona's new mood (appraisal + decay) and the relationship with the
    sender; done exactly once, with no transaction held during the slow part."""
    exchange = after_turn.claim(message_id=message_id, timings=timings)
    if exchange is None:
        return {"skipped": "message not found, already processed or being processed"}
    return after_turn.record(after_turn.appraise(exchange))


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
