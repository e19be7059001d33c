"""The turn pipeline in named steps, each a function of one ``Turn``.

``conversations.services.conversation_send_message`` runs ``TURN_STEPS`` in order while it
holds the conversation's turn lock:

1. ``prepare_turn``: the persona's state, the relationship with the sender, and the user's
   message stored at once with status ``pending`` (owned by this process, with a lease), so a
   server killed mid-turn never loses what it accepted (the message's embedding started
   before the conversation was looked up: ``start_embedding``);
2. ``express``: appraise the message and derive the persona's expression (streamed at once);
3. ``fire_triggers``: the persona's triggers whose conditions hold for this message fire
   (``goals.services``): their instructions, verbatim line, actions and goal changes;
4. ``load_context``: the rest of the prompt's inputs (history, lore, active goals, world
   events). Steps 1-4 run while the message's embedding is computed in another thread: none
   of them needs it, but intent triggers (step 3) wait for it and share it;
5. ``retrieve``: find the memories with that embedding (waiting for it if need be), then
   ``build_prompt``: the chat messages within the token budget, and the offline hints;
6. ``generate``: call the LLM (streaming deltas to ``on_chunk``), honouring cancellation and
   timeouts, keeping the lock and the lease fresh on long streams; a fired ``say`` trigger's
   line is the reply instead, with no LLM call;
7. ``store_turn``: at once (``write_turn``: one statement on PostgreSQL), the reply and the
   user message's final status.

``turn_result`` builds the result (the one place it is built). To extend a turn, add a field
to ``TurnRequest`` (it becomes a keyword of ``conversation_send_message``), a step to
``TURN_STEPS`` or a key in ``Turn.extra`` (merged into the result: a field of
``conversations.schemas.SendMessageOut``, the result's one definition).
"""

from __future__ import annotations

import contextvars
import json
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import F, QuerySet
from django.db.models.sql import InsertQuery, UpdateQuery
from django.utils import timezone

from conversations import prompts, selectors
from conversations.models import Conversation, Message
from llm import LLMStream, Provider, get_provider
from llm.actions import ActionBlockStream, block_instructions, chosen_actions, validate_definitions
from llm.stop import StopAtSequences
from lore.turn import check_greeting_index, prepare_lore
from personamcp import errors, tracing
from personamcp.exceptions import Cancelled, DomainError, ValidationFailed
from personamcp.locks import HeldLock, process_owner
from personas.models import TRAITS, Persona, PersonaState, Relationship
from personas.relationships import relationship_get_for_participant
from worlds.selectors import recent_event_lines

ChunkCallback = Callable[[dict], None]
LOCK_REFRESH_SECONDS = 10.0
DIED_REASON = "the server stopped before the reply was complete"


def conf(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def turn_ttl() -> int:
    """Seconds a turn's lock and lease last without being refreshed (longer than one LLM read)."""
    return int(max(120, 3 * settings.LLM_TIMEOUT))


def validate_content(content: str | None) -> None:
    """The one check of a message's text (turns and room lines): not empty, not too long."""
    max_chars = settings.PERSONAMCP["MAX_MESSAGE_CHARS"]
    if not content or not content.strip():
        raise ValidationFailed([{"field": "content", "message": "must not be empty"}])
    if len(content) > max_chars:
        raise ValidationFailed(
            [{"field": "content", "message": f"longer than {max_chars} characters"}]
        )


@dataclass
class TurnRequest:
    """What the caller asked for: the keywords of ``conversation_send_message``."""

    persona: Persona
    content: str
    sender: str
    sender_name: str | None = None
    conversation_id: str | None = None
    context: dict | None = None
    platform: str = "rpc"
    stream: bool = False
    on_chunk: ChunkCallback | None = None
    cancel_event: threading.Event | None = None
    max_tokens: int | None = None  # default: LLM_MAX_TOKENS (0: the backend's own)
    temperature: float | None = None
    stop: list[str] | None = None  # the reply ends before the first of these (not stored)
    greeting_index: int | None = None  # first turn only: which card greeting opens it (lore/)
    # Actions the client offers (``[{name, description, parameters}]``, llm.actions)
    actions_available: list[dict] | None = None
    # Called with ``{conversation_id, expression}`` as soon as the expression is known
    on_expression: ChunkCallback | None = None

    def __post_init__(self) -> None:
        validate_content(self.content)
        self.actions_available = validate_definitions(self.actions_available)
        self.sender = str(self.sender)[:255]
        self.sender_name = (self.sender_name or "").strip()[:255]

    @property
    def cancelled(self) -> bool:
        return self.cancel_event is not None and self.cancel_event.is_set()


@dataclass
class Turn:
    """The state of one turn, filled step by step."""

    request: TurnRequest
    conversation: Conversation
    started: float = field(default_factory=time.perf_counter)
    lock: HeldLock | None = None
    timing: dict[str, float | None] = field(
        default_factory=lambda: {"embedding_ms": 0.0, "retrieval_ms": 0.0, "persistence_ms": 0.0}
    )
    user_message: Message | None = None
    triggers_fired: list[dict] = field(default_factory=list)  # goals.schemas.TriggerFiredOut
    verbatim: str | None = None  # a fired trigger's ``say``: the reply, word for word
    appraisal: Any = None  # conversations.appraisal.Appraisal of the user's message
    expression: dict | None = None  # ``{emotion, intensity, gesture?}``
    actions: list[dict] = field(default_factory=list)  # chosen, offered and valid
    actions_dropped: list[dict] = field(default_factory=list)  # ``{name, reason}``, logged
    state: PersonaState | None = None
    relationship: Relationship | None = None
    scored: list[Any] = field(default_factory=list)  # memory.selectors.ScoredMemory
    memories: list[prompts.PromptMemory] = field(default_factory=list)
    history: list[tuple[str, str, str]] = field(default_factory=list)
    lore: Any = None  # lore.turn.TurnLore: card fields, lorebooks, macros, the greeting
    goals: list[str] = field(default_factory=list)  # active goals, for the prompt
    events: list[str] = field(default_factory=list)  # recent world events, for the prompt
    embedding: Future | None = None  # of the message: (vector, ms), started by prepare_turn
    # The turn's own context (its trace span), for work that runs beside a step.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    prompt: prompts.Prompt | None = None
    hints: dict[str, Any] = field(default_factory=dict)
    provider: Provider | None = None
    reply: str = ""
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0}
    )
    status: str = Message.Status.COMPLETE
    failure: DomainError | None = None
    reply_message: Message | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # more result keys, from added steps
    _last_refresh: float = field(default_factory=time.monotonic)

    @property
    def persona(self) -> Persona:
        return self.request.persona

    @property
    def display_name(self) -> str:
        r = self.request
        return r.sender_name or self.conversation.participant_name or r.sender

    def keep_alive(self, *, every: float = LOCK_REFRESH_SECONDS) -> None:
        """Extend the turn lock and the pending message's lease (at most every ``every`` s)."""
        if time.monotonic() - self._last_refresh < every:
            return
        self._last_refresh = time.monotonic()
        if self.lock is not None:
            self.lock.extend()
        if self.user_message is not None:
            Message.objects.filter(pk=self.user_message.pk, status=Message.Status.PENDING).update(
                lease_until=timezone.now() + timedelta(seconds=turn_ttl())
            )


# --- the steps ----------------------------------------------------------------------------


# Embeddings of turns' messages, started before the database work they do not depend on.
# onnxruntime and the tokenizer release the GIL, so the embedding runs while this thread
# loads the state and relationship and stores the message. Sized like the RPC worker pool:
# every turn in flight can have its embedding running.
_embedder: ThreadPoolExecutor | None = None
_embedder_lock = threading.Lock()


def start_embedding(request: TurnRequest) -> Future | None:
    """The embedding of the request's message, started now in the background for the memory
    search (None when turns retrieve no memories); call it in the turn's trace span."""
    if int(conf("CONVERSATION_MEMORY_LIMIT", 6)) <= 0:
        return None
    return _embed_in_background(request.content, contextvars.copy_context())


def _embed_in_background(text: str, context: contextvars.Context) -> Future:
    global _embedder
    if _embedder is None:
        with _embedder_lock:
            if _embedder is None:
                workers = int(settings.PERSONAMCP.get("WORKER_THREADS", 16))
                _embedder = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embed")
    from memory.embeddings import embed_one

    def timed() -> tuple[Any, float]:
        start = time.perf_counter()
        with tracing.span("turn.embedding"):
            vector = embed_one(text)
        return vector, ms_since(start)

    # In a copy of the turn's context: its span is the turn's child, beside turn.prepare.
    return _embedder.submit(context.copy().run, timed)


def write_turn(message: Message, *updates: tuple[QuerySet, dict[str, Any]]) -> None:
    """Insert ``message`` and apply ``updates`` (a queryset and its new values each) at once.

    On PostgreSQL that is one statement (the updates as data-modifying ``WITH`` clauses of the
    ``INSERT``), so one round trip with no BEGIN/COMMIT of its own; elsewhere (SQLite,
    in-process) one transaction.
    """
    connection = connections[router.db_for_write(Message)]
    if connection.vendor != "postgresql":
        with transaction.atomic(using=connection.alias):
            for queryset, values in updates:
                queryset.update(**values)
            message.save(force_insert=True, using=connection.alias)
        return
    sql, params = [], []
    for number, (queryset, values) in enumerate(updates):
        update = queryset.query.chain(UpdateQuery)
        update.add_update_values(values)
        update_sql, update_params = update.get_compiler(connection=connection).as_sql()
        sql.append(f"u{number} AS ({update_sql})")
        params.extend(update_params)
    opts = Message._meta
    insert = InsertQuery(Message)
    insert.insert_values(
        [f for f in opts.local_concrete_fields if f is not opts.auto_field], [message]
    )
    compiler = insert.get_compiler(connection=connection)
    compiler.returning_fields = [opts.pk]
    [(insert_sql, insert_params)] = compiler.as_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(sql)} {insert_sql}", [*params, *insert_params])
        message.pk = cursor.fetchone()[0]
    message._state.adding, message._state.db = False, connection.alias


def prepare_turn(turn: Turn) -> None:
    """Load the persona's state and relationship; store the user's message as ``pending``.

    The message's embedding (needed by ``retrieve``) starts first and runs meanwhile.
    """
    r = turn.request
    if turn.embedding is None:  # conversation_send_message started it before anything else
        turn.embedding = start_embedding(r)
    check_greeting_index(
        persona=r.persona, conversation=turn.conversation, greeting_index=r.greeting_index
    )
    turn.state = PersonaState.objects.filter(persona=r.persona).first() or PersonaState(
        persona=r.persona
    )
    turn.relationship = relationship_get_for_participant(persona=r.persona, participant=r.sender)
    start = time.perf_counter()
    conversation = turn.conversation
    turn.user_message = Message(
        conversation=conversation,
        role=Message.Role.USER,
        speaker=turn.display_name[:255],
        content=r.content,
        status=Message.Status.PENDING,
        owner=process_owner(),
        lease_until=timezone.now() + timedelta(seconds=turn_ttl()),
    )
    updates: dict[str, Any] = {
        "last_message_at": timezone.now(),
        "message_count": F("message_count") + 1,
    }
    name = turn.display_name
    if (
        name
        and name != conversation.participant_name
        and name != r.sender
        and r.sender == conversation.participant  # a room's conversation keeps its name
    ):
        updates["participant_name"] = name[:255]
    write_turn(turn.user_message, (Conversation.objects.filter(pk=conversation.pk), updates))
    turn.timing["persistence_ms"] += ms_since(start)


def retrieve(turn: Turn) -> None:
    """Search the persona's memories with the message's embedding (waiting for it if need be)."""
    limit = int(conf("CONVERSATION_MEMORY_LIMIT", 6))
    if limit <= 0:
        return
    from memory.selectors import memory_search

    if turn.embedding is None:
        turn.embedding = _embed_in_background(turn.request.content, turn.context)
    embedding, turn.timing["embedding_ms"] = turn.embedding.result()
    start = time.perf_counter()
    with tracing.span("turn.retrieval", limit=limit):
        turn.scored = list(
            memory_search(
                persona=turn.persona,
                query_embedding=embedding,
                limit=limit,
                include_shared=True,
                touch=True,
            )
        )
    turn.timing["retrieval_ms"] = ms_since(start)
    turn.memories = [
        prompts.PromptMemory(id=str(s.memory.id), content=s.memory.content, score=float(s.score))
        for s in turn.scored
    ]


def express(turn: Turn) -> None:
    """Appraise the message (``MOOD_APPRAISAL``: the lexicon, or the LLM) and derive the
    persona's expression; streaming clients hear it at once. The after-turn work reuses this
    appraisal to move the mood."""
    from conversations.appraisal import appraise, expression_of

    start = time.perf_counter()
    turn.appraisal = appraise(turn.request.content, method=str(conf("MOOD_APPRAISAL", "lexicon")))
    turn.expression = expression_of(
        turn.appraisal, mood=float(turn.state.mood), emotion=turn.state.emotion
    )
    turn.timing["appraisal_ms"] = ms_since(start)
    r = turn.request
    if r.stream and r.on_expression is not None:
        r.on_expression(
            {"conversation_id": str(turn.conversation.id), "expression": turn.expression}
        )


def fire_triggers(turn: Turn) -> None:
    """Fire the persona's triggers for this message; a ``say`` line becomes the reply."""
    from goals.services import Situation, triggers_fire

    start = time.perf_counter()
    turn.triggers_fired = triggers_fire(
        persona=turn.persona,
        situation=Situation(
            text=turn.request.content,
            mood=float(turn.state.mood),
            stage=turn.relationship.stage,
            conversation_id=str(turn.conversation.id),
            # intent triggers use the message's embedding started for the memory search
            embedding=(lambda: turn.embedding.result()[0]) if turn.embedding else None,
        ),
    )
    said = [f["then"]["say"] for f in turn.triggers_fired if f["then"].get("say")]
    if said:
        turn.verbatim = said[0]
    turn.extra["triggers_fired"] = turn.triggers_fired
    turn.timing["triggers_ms"] = ms_since(start)


def persona_card(persona: Persona) -> dict:
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


# What of the persona's state and of a relationship goes into a prompt (and the mood's change).
STATE_FIELDS = ("mood", "emotion", "energy", "social_battery", "stress")
RELATIONSHIP_FIELDS = ("stage", "affinity", "trust", "respect", "familiarity", "interactions")


def fields_of(obj: Any, names: tuple[str, ...]) -> dict:
    """``{name: obj.name}`` for these names."""
    return {name: getattr(obj, name) for name in names}


def state_dict(state: PersonaState) -> dict:
    return fields_of(state, STATE_FIELDS)


def relationship_dict(relationship: Relationship) -> dict:
    return fields_of(relationship, RELATIONSHIP_FIELDS)


def load_context(turn: Turn) -> None:
    """What the prompt needs besides the memories: the recent history, the card's lore and
    macros, the active goals (after the triggers, which may change them) and recent world
    events; loaded while the message's embedding is still running."""
    start = time.perf_counter()
    turn.history = selectors.prompt_history(
        conversation=turn.conversation,
        limit=int(conf("CONVERSATION_HISTORY_LIMIT", 40)),
        before_id=turn.user_message.pk if turn.user_message else None,
    )
    turn.lore = prepare_lore(  # card fields, lorebooks and macros (lore/)
        persona=turn.persona,
        persona_dict=persona_card(turn.persona),
        conversation=turn.conversation,
        history=turn.history,
        message=turn.request.content,
        user=turn.display_name,
    )
    turn.timing["lore_ms"] = turn.lore.lore_ms
    turn.goals = _goal_lines(turn.persona)
    turn.events = recent_event_lines(persona=turn.persona)
    turn.timing["prompt_ms"] = turn.timing.get("prompt_ms", 0.0) + ms_since(start)


def build_prompt(turn: Turn) -> None:
    """The chat messages within the token budget, and the hints of the offline responder
    (``load_context`` first if no step loaded it)."""
    if turn.lore is None:
        load_context(turn)
    r, lore = turn.request, turn.lore
    start = time.perf_counter()
    turn.prompt = prompts.build_prompt(
        prompts.PromptInput(
            persona=lore.persona,
            history=lore.history(
                [prompts.PromptTurn(*row) for row in turn.history], prompts.PromptTurn
            ),
            message=r.content,
            card=lore.pieces,
            sender_name=turn.display_name,
            goals=turn.goals,
            state=state_dict(turn.state),
            events=turn.events,
            relationship=relationship_dict(turn.relationship),
            context=r.context,
            memories=turn.memories,
            budget_tokens=int(conf("CONVERSATION_PROMPT_BUDGET", 3000)),
            instructions=[
                f["then"]["instruct"] for f in turn.triggers_fired if f["then"].get("instruct")
            ],
        )
    )
    used = set(turn.prompt.memory_ids)
    turn.hints = {
        "persona_name": turn.persona.name,
        "greeting": lore.greeting or lore.persona.get("greeting", turn.persona.greeting),
        "speaking_style": turn.persona.speaking_style,
        "mood": turn.state.mood,
        "emotion": turn.state.emotion,
        "memories": [m.content for m in turn.memories if m.id in used],
        "message": r.content,
        "sender_name": r.sender_name or turn.conversation.participant_name,
        "first_turn": not turn.history,
    }
    turn.timing["prompt_ms"] = turn.timing.get("prompt_ms", 0.0) + ms_since(start)


def _goal_lines(persona: Persona) -> list[str]:
    from goals.selectors import goals_active

    return [
        g.text + (f" (done when: {g.completion})" if g.completion else "")
        for g in goals_active(persona=persona)
    ]


def verbatim_stream(text: str) -> LLMStream:
    """A fired trigger's line as a stream (word by word), so streaming clients get chunks."""
    from llm import estimate_tokens

    result = LLMStream(iter(re.findall(r"\S+\s*", text)))
    result.usage = {"prompt_tokens": 0, "completion_tokens": estimate_tokens(text)}
    return result


def generate(turn: Turn) -> None:
    """Call the LLM; a backend failure or a cancel is recorded on the turn, not raised."""
    r = turn.request
    turn.provider = get_provider()
    start = time.perf_counter()
    turn.timing["first_chunk_ms"] = None
    llm_stream: LLMStream | StopAtSequences | ActionBlockStream | None = None
    offered = r.actions_available or []
    by_block = bool(offered) and turn.provider.is_llm and conf("LLM_TOOLS", "native") == "json"
    chooser: Any = None  # the stream whose tool_calls are the model's choice
    try:
        if turn.verbatim is not None:
            llm_stream = verbatim_stream(turn.verbatim)
        else:
            if by_block:  # the strict JSON block protocol, for models without tool calling
                system = turn.prompt.messages[0]
                system["content"] += "\n\n" + block_instructions(offered)
            llm_stream = chooser = turn.provider.stream(
                turn.prompt.messages,
                cancel_event=r.cancel_event,
                max_tokens=r.max_tokens or int(conf("LLM_MAX_TOKENS", 0)) or None,
                temperature=r.temperature,
                hints=turn.hints,
                tools=offered if offered and not by_block else None,
            )
            if by_block:
                llm_stream = chooser = ActionBlockStream(llm_stream)
        if r.stop:
            llm_stream = StopAtSequences(llm_stream, r.stop)
        for index, delta in enumerate(llm_stream):
            if turn.timing["first_chunk_ms"] is None:
                turn.timing["first_chunk_ms"] = ms_since(turn.started)
            if r.stream and r.on_chunk is not None:
                r.on_chunk(
                    {"conversation_id": str(turn.conversation.id), "index": index, "delta": delta}
                )
            turn.keep_alive()
        turn.reply = llm_stream.text
        turn.usage = dict(llm_stream.usage)
        if llm_stream.cancelled or r.cancelled:
            turn.status = Message.Status.CANCELLED
        else:
            _choose_actions(turn, list(getattr(chooser, "tool_calls", None) or []))
    except DomainError as exc:
        turn.reply = llm_stream.text if llm_stream is not None else ""
        if r.cancelled:
            turn.status = Message.Status.CANCELLED
        else:
            turn.status, turn.failure = Message.Status.FAILED, exc
    finally:
        if llm_stream is not None:
            llm_stream.close()
    turn.timing["llm_ms"] = ms_since(start)


def _choose_actions(turn: Turn, proposed: list[dict]) -> None:
    """The actions of this turn: what the model (or the offline rules) chose and what fired
    triggers do, kept only when offered and valid against the schema."""
    for fired in turn.triggers_fired:
        action = fired["then"].get("action")
        if action:
            proposed.append({"name": action["name"], "arguments": action.get("arguments", {})})
    if not proposed:
        return
    actions, turn.actions_dropped = chosen_actions(proposed, turn.request.actions_available or [])
    seen: set[str] = set()
    for action in actions:  # the same action twice (model and trigger) is done once
        key = json.dumps(action, sort_keys=True)
        if key not in seen:
            seen.add(key)
            turn.actions.append(action)


def _appraisal_json(appraisal: Any) -> dict | None:
    if appraisal is None:
        return None
    return {
        "valence": appraisal.valence,
        "arousal": appraisal.arousal,
        "emotion": appraisal.emotion,
        "method": appraisal.method,
    }


def _memories_used(turn: Turn) -> list[dict]:
    used = set(turn.prompt.memory_ids)
    return [
        {"id": m.id, "score": round(m.score, 4), "scores": _scores(s), "content": m.content}
        for m, s in zip(turn.memories, turn.scored, strict=True)
        if m.id in used
    ]


def _scores(scored: Any) -> dict:
    scores = getattr(scored, "scores", None) or {}
    return {k: round(float(v), 4) for k, v in scores.items()}


def turn_error_code(turn: Turn) -> int | None:
    """The JSON-RPC code the turn ended with, stored on its messages (the dashboard's errors)."""
    if turn.status == Message.Status.CANCELLED:
        return errors.lookup(Cancelled())[0]
    if turn.status == Message.Status.FAILED:
        return errors.lookup(turn.failure)[0] if turn.failure else errors.INTERNAL_ERROR
    return None


def store_turn(turn: Turn) -> None:
    """Store the reply and settle the user's message, at once (``write_turn``)."""
    start = time.perf_counter()
    provider = turn.provider
    user_status = (
        Message.Status.FAILED if turn.status == Message.Status.FAILED else Message.Status.COMPLETE
    )
    error = turn.failure.message if turn.failure else ""
    error_code = turn_error_code(turn)
    turn.reply_message = Message(
        conversation=turn.conversation,
        role=Message.Role.ASSISTANT,
        speaker=turn.persona.name,
        content=turn.reply,
        status=turn.status,
        prompt={
            **turn.prompt.as_json(),
            "provider": provider.name,
            "model": provider.model,
            "sender": turn.request.sender,  # who said it (rooms: many speakers)
            "triggers_fired": turn.triggers_fired,
            "verbatim": turn.verbatim is not None,
            "actions_available": turn.request.actions_available or [],
            "actions": turn.actions,
            "actions_dropped": turn.actions_dropped,
            "expression": turn.expression,
            "appraisal": _appraisal_json(turn.appraisal),
        },
        memories_used=_memories_used(turn),
        timings=dict(turn.timing),
        prompt_tokens=int(turn.usage.get("prompt_tokens") or 0),
        completion_tokens=int(turn.usage.get("completion_tokens") or 0),
        emotion=turn.state.emotion,
        provider=f"{provider.name}:{provider.model}"[:64],
        error=error,
        error_code=error_code,
    )
    write_turn(
        turn.reply_message,
        (
            Message.objects.filter(pk=turn.user_message.pk),
            {
                "status": user_status,
                "owner": "",
                "lease_until": None,
                "error": error,
                "error_code": error_code if user_status == Message.Status.FAILED else None,
            },
        ),
        (
            Conversation.objects.filter(pk=turn.conversation.pk),
            {"last_message_at": timezone.now(), "message_count": F("message_count") + 1},
        ),
    )
    turn.timing["persistence_ms"] += ms_since(start)


TURN_STEPS: tuple[Callable[[Turn], None], ...] = (
    prepare_turn,
    express,
    fire_triggers,
    load_context,
    retrieve,
    build_prompt,
    generate,
    store_turn,
)


def fail_pending(turn: Turn, reason: str, code: int = errors.INTERNAL_ERROR) -> None:
    """A step raised after the user's message was stored: settle it as ``failed``."""
    if turn.user_message is not None and turn.reply_message is None:
        Message.objects.filter(pk=turn.user_message.pk, status=Message.Status.PENDING).update(
            status=Message.Status.FAILED,
            owner="",
            lease_until=None,
            error=reason[:500],
            error_code=code,
        )


def turn_result(turn: Turn) -> dict:
    """The result of ``conversation_send_message``, built in one place: ``SendMessageOut``
    with the keys this turn set (``expression.gesture`` only when there is one)."""
    from conversations.schemas import SendMessageOut

    message = turn.reply_message
    result = SendMessageOut.model_validate(
        {
            "response": turn.reply,
            "conversation_id": str(turn.conversation.id),
            "message_id": message.id,
            "persona_id": str(turn.persona.id),
            "emotion": turn.state.emotion,
            "memories_used": message.memories_used,  # {id, score} of each (the model's fields)
            "lore_used": turn.prompt.lore_used,
            "usage": {
                k: int(turn.usage.get(k) or 0) for k in ("prompt_tokens", "completion_tokens")
            },
            "timing": {"total_ms": ms_since(turn.started), **turn.timing},  # total: _finish's
            "actions": turn.actions,
            "expression": turn.expression,
            **turn.extra,
        }
    )
    return result.model_dump(mode="json", exclude_unset=True)
