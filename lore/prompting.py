"""What a character card and its lorebooks add to one turn's prompt, as plain values.

Pure (no database): ``card_pieces`` takes the persona's card fields, the activated lore
entries and the macro context and returns the rendered pieces the prompt builder places:

- ``system_prompt``: the card's ``system_prompt`` override with ``{{original}}`` replaced by
  the server's default instruction (``None``: no override);
- ``before_char`` / ``after_char``: lore around the character definition;
- ``examples``: the ``mes_example`` dialogue split into ``<START>`` blocks (the builder keeps
  as many whole blocks as the budget allows), with ``before_examples`` / ``after_examples``
  lore around them;
- ``post_history``: ``post_history_instructions`` (``{{original}}``: empty), placed after the
  history; plus author's-note lore (``an_top`` / ``an_bottom``);
- ``depth``: ``(depth, role, text)`` injections, ``depth`` messages from the end of the chat.

Every text that reaches the LLM goes through the macros (``lore.macros.render``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lore.engine import Selection
from lore.macros import MacroContext, render

_START = re.compile(r"<START>", re.IGNORECASE)
DEFAULT_AN_DEPTH = 4


@dataclass
class CardPieces:
    system_prompt: str | None = None
    before_char: list[str] = field(default_factory=list)
    after_char: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    before_examples: list[str] = field(default_factory=list)
    after_examples: list[str] = field(default_factory=list)
    post_history: str = ""
    depth: list[tuple[int, str, str]] = field(default_factory=list)
    lore_used: list[dict] = field(default_factory=list)


def example_blocks(mes_example: str) -> list[str]:
    """``<START>``-separated example dialogues, each stripped, empty ones dropped."""
    if not mes_example or not mes_example.strip():
        return []
    return [b.strip() for b in _START.split(mes_example) if b.strip()]


def card_pieces(
    *,
    card: dict[str, Any],
    selection: Selection | None,
    ctx: MacroContext,
    default_system: str,
) -> CardPieces:
    """The rendered pieces of the card (``system_prompt``, ``mes_example``,
    ``post_history_instructions``) and of the activated lore."""
    pieces = CardPieces()
    override = card.get("system_prompt") or ""
    if override.strip():
        ctx.original = default_system
        pieces.system_prompt = render(override, ctx).strip()
    ctx.original = ""
    pieces.examples = [render(b, ctx) for b in example_blocks(card.get("mes_example") or "")]
    post = card.get("post_history_instructions") or ""
    if post.strip():
        pieces.post_history = render(post, ctx).strip()
    if selection is None:
        return pieces
    an: list[str] = []
    for activation in selection.activated:
        entry = activation.entry
        text = render(entry.content, ctx).strip()
        if not text:
            continue
        position = entry.position
        if position == "before_char":
            pieces.before_char.append(text)
        elif position == "before_examples":
            pieces.before_examples.append(text)
        elif position == "after_examples":
            pieces.after_examples.append(text)
        elif position == "at_depth":
            pieces.depth.append((entry.depth, entry.role, text))
        elif position in ("an_top", "an_bottom"):
            an.append(text)
        else:  # after_char, and outlets (no outlet macro here: after the card)
            pieces.after_char.append(text)
    if an:
        pieces.depth.append((DEFAULT_AN_DEPTH, "system", "\n".join(an)))
    pieces.lore_used = selection.used()
    return pieces
