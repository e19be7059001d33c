"""The lore step of a turn: the persona's card fields, its lorebooks and the macros.

``prepare_lore`` is called by the turn pipeline before the prompt is built. It scans the
persona's lorebooks (its own, the attached ones and, in a room, the room's) against the recent
history plus the new message, renders the macros in every card field and lore entry, and picks
the greeting of a new conversation (``greeting_index``: 0 is ``first_mes``, n the n-th of
``alternate_greetings``; in a room the card's ``group_only_greetings`` come first).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from lore.engine import ScanMessage
from lore.macros import MacroContext, render
from lore.prompting import CardPieces, card_pieces
from personamcp.exceptions import ValidationFailed

DEFAULT_SYSTEM = "You are {name}. Stay in character; never say you are an AI or a language model."
GREETING_KEY = "greeting_index"


@dataclass
class TurnLore:
    pieces: CardPieces
    persona: dict[str, Any]  # the persona dict of the prompt, macros rendered
    greeting: str  # the conversation's greeting (rendered), "" when none
    lore_used: list[dict] = field(default_factory=list)
    lore_ms: float = 0.0

    def history(self, turns: list, turn_type: Any) -> list:
        """The prompt history with the greeting as the conversation's first assistant turn
        (``turn_type(role, speaker, content)`` makes one history item)."""
        if not self.greeting:
            return turns
        return [turn_type("assistant", self.persona.get("name", ""), self.greeting), *turns]


def _greetings(card: dict, persona, *, in_room: bool) -> list[str]:
    options = [persona.greeting or ""]
    options += [g for g in card.get("alternate_greetings") or [] if isinstance(g, str)]
    if in_room and card.get("group_only_greetings"):
        return [g for g in card["group_only_greetings"] if isinstance(g, str)] + options
    return options


def check_greeting_index(*, persona, conversation, greeting_index: int | None) -> None:
    """Validate and remember the chosen greeting of a conversation's first turn."""
    if greeting_index is None:
        return
    card = (persona.extra or {}).get("card") or {}
    in_room = conversation.participant.startswith("room:")
    options = _greetings(card, persona, in_room=in_room)
    if not 0 <= greeting_index < len(options) or not options[greeting_index]:
        raise ValidationFailed(
            [
                {
                    "field": "greeting_index",
                    "message": f"this persona has greetings 0..{len(options) - 1}",
                }
            ]
        )
    if conversation.message_count:
        raise ValidationFailed(
            [{"field": "greeting_index", "message": "only on a conversation's first turn"}]
        )
    conversation.context = {**(conversation.context or {}), GREETING_KEY: greeting_index}
    conversation.save(update_fields=["context"])


def prepare_lore(
    *,
    persona,
    persona_dict: dict[str, Any],
    conversation,
    history: list[tuple[str, str, str]],
    message: str,
    user: str,
) -> TurnLore:
    """Lore, card pieces and the greeting for one turn (see the module docstring)."""
    from lore.services import lore_select, lorebooks_for

    started = time.perf_counter()
    extra = persona.extra or {}
    card = extra.get("card") or {}
    in_room = conversation.participant.startswith("room:")
    room_id = conversation.participant[5:] if in_room else None
    ctx = MacroContext(
        char=persona.name,
        user=user,
        description=persona.description,
        scenario=persona.background,
        personality=persona.speaking_style,
        mes_examples=card.get("mes_example") or "",
        now=timezone.localtime(),
        last_message_at=timezone.localtime(conversation.last_message_at)
        if conversation.last_message_at
        else None,
        seed=str(conversation.id),
    )
    books = lorebooks_for(persona=persona, room_id=room_id)
    selection = None
    if books:
        scan = [ScanMessage(speaker, text) for _, speaker, text in history]
        scan.append(ScanMessage(user, message))
        selection = lore_select(books=books, messages=scan)
    name = persona_dict.get("name") or persona.name
    pieces = card_pieces(
        card={**card, "system_prompt": persona.system_prompt},
        selection=selection,
        ctx=ctx,
        default_system=DEFAULT_SYSTEM.format(name=name),
    )
    rendered = dict(persona_dict)
    for key in ("description", "speaking_style", "background", "greeting"):
        if isinstance(rendered.get(key), str):
            rendered[key] = render(rendered[key], ctx)
    rendered["system_prompt"] = pieces.system_prompt or ""
    greeting = ""
    chosen = (conversation.context or {}).get(GREETING_KEY)
    if chosen is None and card:
        chosen = 0  # a card's first message opens its conversations, as in SillyTavern
    # while the prompt still holds the whole conversation, it starts with the greeting
    if chosen is not None and len(history) >= conversation.message_count:
        options = _greetings(card, persona, in_room=in_room)
        if 0 <= chosen < len(options):
            greeting = render(options[chosen], ctx)
    return TurnLore(
        pieces=pieces,
        persona=rendered,
        greeting=greeting,
        lore_used=list(pieces.lore_used),
        lore_ms=round((time.perf_counter() - started) * 1000, 3),
    )
