"""The prompt builder: a pure function from plain data to chat messages within a token budget.

Nothing here touches the database. ``build_prompt`` takes the persona card, its state, the
relationship with the sender, the retrieved memories, the scene context, the recent history
and the new message, and returns the chat messages to send plus what was included or dropped.

Budget rules (tokens are estimated at ~4 characters each, see ``llm.estimate_tokens``):

1. The system message (card, style, mood, relationship) and the new user message always go in.
2. Scene context is capped at a quarter of the budget (longer values are shortened), recent
   world events at an eighth.
3. Memories go in best-first while they fit in half of what remains.
4. Recent history fills the rest, newest first, kept in chronological order.

Character cards and lorebooks (``card``: ``lore.prompting.CardPieces``) add: lore before and
after the character definition, the example dialogue (whole ``<START>`` blocks while they fit
in a quarter of what remains after the card), lore injected ``depth`` messages from the end of
the chat, and ``post_history_instructions`` after the new message. The card part of the system
message is capped at half the budget, so a very long description is shortened, never refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from llm import estimate_tokens

PER_MESSAGE_OVERHEAD = 4


@dataclass(frozen=True)
class PromptMemory:
    id: str
    content: str
    score: float = 0.0


@dataclass(frozen=True)
class PromptTurn:
    role: str  # "user" | "assistant"
    speaker: str
    content: str


@dataclass
class PromptInput:
    """Everything the prompt is made of, as plain values."""

    persona: dict[str, Any]  # name, description, personality{}, speaking_style, background,
    # goals[], interests[], greeting, system_prompt
    message: str
    sender_name: str = ""
    state: dict[str, Any] | None = None  # mood, emotion, energy, social_battery, stress
    relationship: dict[str, Any] | None = None  # stage, affinity, trust, respect, familiarity,
    # interactions
    memories: list[PromptMemory] = field(default_factory=list)
    context: dict[str, Any] | None = None
    history: list[PromptTurn] = field(default_factory=list)  # oldest first
    budget_tokens: int = 3000
    card: Any = None  # lore.prompting.CardPieces: card fields and activated lore
    goals: list[str] = field(default_factory=list)  # active goals, most important first
    instructions: list[str] = field(default_factory=list)  # this turn only (fired triggers)
    events: list[str] = field(default_factory=list)  # recent world events (worlds/), oldest first


@dataclass
class Prompt:
    messages: list[dict[str, str]]
    tokens: int
    memory_ids: list[str]
    history_included: int
    history_dropped: int
    memories_dropped: int
    lore_used: list[dict] = field(default_factory=list)
    examples_included: int = 0
    events: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "events": self.events,
            "lore_used": self.lore_used,
            "examples_included": self.examples_included,
            "messages": self.messages,
            "tokens": self.tokens,
            "memory_ids": self.memory_ids,
            "history_included": self.history_included,
            "history_dropped": self.history_dropped,
            "memories_dropped": self.memories_dropped,
        }


def _tokens(text: str) -> int:
    return estimate_tokens(text) + PER_MESSAGE_OVERHEAD


def _mood_words(mood: float) -> str:
    if mood >= 0.6:
        return "very happy"
    if mood >= 0.2:
        return "in a good mood"
    if mood > -0.2:
        return "calm"
    if mood > -0.6:
        return "in a bad mood"
    return "very upset"


def _level(value: float) -> str:
    return "high" if value >= 0.66 else "low" if value < 0.33 else "medium"


def persona_section(persona: dict[str, Any]) -> str:
    """The card part of the system message."""
    name = persona.get("name", "the persona")
    lines = [
        persona.get("system_prompt")
        or f"You are {name}. Stay in character; never say you are an AI or a language model."
    ]
    if persona.get("system_prompt"):
        lines.append(f"You are {name}.")
    if persona.get("description"):
        lines.append(f"Who you are: {persona['description']}")
    traits = persona.get("personality") or {}
    if traits:
        lines.append(
            "Personality (Big Five): "
            + ", ".join(f"{t} {_level(float(v))}" for t, v in traits.items())
        )
    if persona.get("speaking_style"):
        lines.append(f"Speaking style: {persona['speaking_style']}")
    if persona.get("background"):
        lines.append(f"Background: {persona['background']}")
    if persona.get("goals"):
        lines.append("Goals: " + "; ".join(persona["goals"]))
    if persona.get("interests"):
        lines.append("Interests: " + ", ".join(persona["interests"]))
    return "\n".join(lines)


def state_section(state: dict[str, Any] | None) -> str:
    if not state:
        return ""
    mood = float(state.get("mood", 0.0))
    return (
        f"Current mood: {_mood_words(mood)} ({mood:+.2f}), feeling {state.get('emotion', 'neutral')}; "
        f"energy {_level(float(state.get('energy', 0.8)))}, "
        f"social battery {_level(float(state.get('social_battery', 0.8)))}, "
        f"stress {_level(float(state.get('stress', 0.2)))}. Let this colour your reply."
    )


def relationship_section(relationship: dict[str, Any] | None, sender_name: str) -> str:
    if not relationship:
        return ""
    who = sender_name or "the speaker"
    return (
        f"Your relationship with {who}: {relationship.get('stage', 'stranger').replace('_', ' ')} "
        f"(affinity {float(relationship.get('affinity', 0)):+.2f}, "
        f"trust {float(relationship.get('trust', 0)):+.2f}, "
        f"respect {float(relationship.get('respect', 0)):+.2f}, "
        f"familiarity {float(relationship.get('familiarity', 0)):.2f}, "
        f"{int(relationship.get('interactions', 0))} previous interactions)."
    )


def goals_section(goals: list[str]) -> str:
    if not goals:
        return ""
    return "Your current goals (most important first):\n" + "\n".join(f"- {g}" for g in goals)


def _shorten(text: str, max_tokens: int) -> str:
    max_chars = max(0, max_tokens * 4)
    return text if len(text) <= max_chars else text[: max(0, max_chars - 1)] + "…"


def context_section(context: dict[str, Any] | None, max_tokens: int) -> str:
    if not context:
        return ""
    lines = ["Scene and situation (from the game or client):"]
    for key, value in context.items():
        rendered = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"- {key}: {rendered}")
    return _shorten("\n".join(lines), max_tokens)


def events_section(events: list[str], max_tokens: int) -> str:
    """What recently happened around the persona (``world.event``), oldest first."""
    if not events:
        return ""
    return _shorten(
        "Recent events you perceived (oldest first):\n" + "\n".join(f"- {e}" for e in events),
        max_tokens,
    )


def memory_line(memory: PromptMemory) -> str:
    return f"- [memory {memory.id}] {memory.content}"


def _card_section(data: PromptInput) -> str:
    """The persona section with the card's lore around it, within half the budget."""
    card = data.card
    section = persona_section(data.persona)
    if card is not None and (card.before_char or card.after_char):
        first, _, rest = section.partition("\n")
        section = "\n".join(part for part in (first, "\n".join(card.before_char), rest) if part)
        section += "\n" + "\n".join(card.after_char) if card.after_char else ""
    return _shorten(section, max(64, data.budget_tokens // 2))


def _examples(data: PromptInput, budget: int) -> tuple[str, int]:
    card = data.card
    if card is None or not (card.examples or card.before_examples or card.after_examples):
        return "", 0
    name = data.persona.get("name", "the persona")
    kept: list[str] = []
    used = estimate_tokens(f"Example dialogue of {name}:") + 2
    for lore in card.before_examples:
        used += estimate_tokens(lore) + 1
    for lore in card.after_examples:
        used += estimate_tokens(lore) + 1
    for block in card.examples:
        cost = estimate_tokens(block) + 2
        if used + cost > budget:
            break
        kept.append(block)
        used += cost
    parts = [*card.before_examples]
    if kept:
        parts.append(f"Example dialogue of {name}:\n" + "\n\n".join(kept))
    parts.extend(card.after_examples)
    return "\n".join(parts), len(kept)


def _inject(messages: list[dict[str, str]], card: Any) -> list[dict[str, str]]:
    """Depth lore (``depth`` messages from the end) and post-history instructions."""
    if card is None:
        return messages
    chat = messages[1:]
    for depth, role, text in sorted(card.depth, key=lambda d: -d[0]):
        at = max(0, len(chat) - depth)
        chat.insert(at, {"role": role, "content": text})
    if card.post_history:
        chat.append({"role": "system", "content": card.post_history})
    return [messages[0], *chat]


def build_prompt(data: PromptInput) -> Prompt:
    """Chat messages for one turn within ``data.budget_tokens`` (see the module docstring)."""
    sender = data.sender_name or "the speaker"
    header = "\n\n".join(
        part
        for part in (
            _card_section(data),
            state_section(data.state),
            relationship_section(data.relationship, data.sender_name),
            _shorten(goals_section(data.goals), max(16, data.budget_tokens // 8)),
            context_section(data.context, max(16, data.budget_tokens // 4)),
            events_section(data.events, max(16, data.budget_tokens // 8)),
        )
        if part
    )
    user_message = {"role": "user", "content": data.message}
    card = data.card
    extra_text = (card.post_history if card else "") + "".join(
        t for _, _, t in (card.depth if card else [])
    )
    used = _tokens(header) + _tokens(data.message) + estimate_tokens("\n\nThings you remember")
    used += estimate_tokens(extra_text)
    examples, examples_kept = _examples(data, max(0, data.budget_tokens - used) // 4)
    if examples:
        header += "\n\n" + examples
        used += _tokens(examples)
    remaining = max(0, data.budget_tokens - used)

    memory_budget = remaining // 2
    kept_memories: list[PromptMemory] = []
    memory_tokens = 0
    for memory in sorted(data.memories, key=lambda m: -m.score):
        cost = estimate_tokens(memory_line(memory)) + 1
        if memory_tokens + cost > memory_budget:
            continue
        kept_memories.append(memory)
        memory_tokens += cost
    system = header
    if kept_memories:
        system += "\n\nThings you remember (most relevant first):\n" + "\n".join(
            memory_line(m) for m in kept_memories
        )
    system += (
        f"\n\nYou are talking with {sender}. Reply in character, in your own voice, "
        "in a few sentences."
    )
    if data.instructions:
        system += "\n\nFor this reply: " + " ".join(data.instructions)
    remaining = max(
        0,
        data.budget_tokens - _tokens(system) - _tokens(data.message) - estimate_tokens(extra_text),
    )

    included: list[dict[str, str]] = []
    for turn in reversed(data.history):
        content = turn.content
        cost = _tokens(content)
        if cost > remaining:
            break
        included.append({"role": turn.role, "content": content})
        remaining -= cost
    included.reverse()
    messages = _inject([{"role": "system", "content": system}, *included, user_message], card)
    total = sum(_tokens(m["content"]) for m in messages)
    return Prompt(
        messages=messages,
        tokens=total,
        memory_ids=[m.id for m in kept_memories],
        history_included=len(included),
        history_dropped=len(data.history) - len(included),
        memories_dropped=len(data.memories) - len(kept_memories),
        lore_used=list(card.lore_used) if card is not None else [],
        examples_included=examples_kept,
        events=list(data.events),
    )
