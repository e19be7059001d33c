"""Prompt macros (SillyTavern's ``{{…}}`` syntax), replaced wherever text reaches the LLM.

A pure module. ``render(text, ctx)`` replaces:

- ``{{char}}`` the persona's name, ``{{user}}`` the speaker's name, ``{{persona}}`` the
  speaker's own persona description (empty when unknown);
- ``{{description}}``, ``{{scenario}}``, ``{{personality}}``, ``{{mesExamples}}`` the card's
  fields, ``{{original}}`` the text a card's ``system_prompt`` / ``post_history_instructions``
  replaces (the server's default);
- ``{{time}}`` (``3:07 PM``), ``{{date}}`` (``December 1, 2026``), ``{{weekday}}`` (``Tuesday``),
  ``{{idle_duration}}`` (time since the previous message: ``a few seconds``, ``5 minutes``…);
- ``{{random:a,b,c}}`` / ``{{random::a::b}}`` one item at random, on every use;
  ``{{pick:a,b,c}}`` / ``{{pick::a::b}}`` one item, stable for the same conversation and place;
  ``{{roll:d20}}`` / ``{{roll:2d6+1}}`` a dice roll;
- ``{{// comment}}`` removed; ``{{trim}}`` removes itself and the blank space around it.

Macro names are case-insensitive. Unknown macros are left as written (a card may use another
front end's macros). Card fields are themselves rendered before they are substituted, once.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

_MACRO = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_COMMENT = re.compile(r"\{\{//.*?\}\}", re.DOTALL)
_TRIM = re.compile(r"\s*\{\{trim\}\}\s*", re.IGNORECASE)
_DICE = re.compile(r"^\s*(\d*)\s*d\s*(\d+)\s*(?:([+-])\s*(\d+))?\s*$", re.IGNORECASE)
MAX_DICE = 100
MAX_SIDES = 1_000_000


@dataclass
class MacroContext:
    char: str = ""
    user: str = ""
    persona: str = ""
    original: str = ""
    description: str = ""
    scenario: str = ""
    personality: str = ""
    mes_examples: str = ""
    now: datetime | None = None
    last_message_at: datetime | None = None
    seed: str = ""  # the conversation id: makes {{pick}} stable within it
    rng: random.Random = field(default_factory=random.Random)


def _days(seconds: int) -> int:
    return round(seconds / 86400)


# (one, many, how many in ``seconds``, below which count it is said so); from top to bottom.
_SPANS = (
    ("a minute", "minutes", lambda s: round(s / 60), 45),
    ("an hour", "hours", lambda s: round(s / 3600), 22),
    ("a day", "days", _days, 26),
    ("a month", "months", lambda s: round(_days(s) / 30.4), 11),
    ("a year", "years", lambda s: round(_days(s) / 365), math.inf),
)


def _humanize(delta: timedelta) -> str:
    """Roughly how long, in words (the style of moment.js ``humanize``)."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 45:
        return "a few seconds"
    for one, many, count, below in _SPANS:
        n = count(seconds)
        if n < 2:
            return one
        if n < below:
            return f"{n} {many}"
    raise AssertionError("unreachable: the last span has no bound")


def _choices(argument: str) -> list[str]:
    if argument.startswith(":"):  # {{random::a::b}}
        return argument[1:].split("::")
    # {{random:a,b}}; "\," is a literal comma
    parts = re.split(r"(?<!\\),", argument)
    return [p.replace("\\,", ",") for p in parts]


def roll(expression: str, rng: random.Random) -> str | None:
    """``d20``, ``3d6``, ``2d8+3``, ``20`` (one d20); ``None`` when it is not dice."""
    text = expression.strip()
    if text.isdigit():
        text = f"d{text}"
    match = _DICE.match(text)
    if not match:
        return None
    count = int(match.group(1) or 1)
    sides = int(match.group(2))
    if not (1 <= count <= MAX_DICE and 1 <= sides <= MAX_SIDES):
        return None
    total = sum(rng.randint(1, sides) for _ in range(count))
    if match.group(3):
        modifier = int(match.group(4))
        total += modifier if match.group(3) == "+" else -modifier
    return str(total)


def _card_value(value: str, ctx: MacroContext, depth: int) -> str:
    return _render(value, ctx, depth + 1) if depth < 1 and "{{" in value else value


def _render(text: str, ctx: MacroContext, depth: int) -> str:
    if not text or "{{" not in text:
        return text
    text = _COMMENT.sub("", text)
    now = ctx.now or datetime.now()
    counter = {"n": 0}

    def replace(match: re.Match) -> str:
        counter["n"] += 1
        body = match.group(1)
        name, sep, argument = body.partition(":")
        key = name.strip().lower()
        if not sep:
            simple = {
                "char": ctx.char,
                "user": ctx.user,
                "persona": ctx.persona,
                "original": ctx.original,
                "time": now.strftime("%I:%M %p").lstrip("0"),
                "date": f"{now.strftime('%B')} {now.day}, {now.year}",
                "weekday": now.strftime("%A"),
                "newline": "\n",
            }
            if key in simple:
                return simple[key]
            cards = {
                "description": ctx.description,
                "scenario": ctx.scenario,
                "personality": ctx.personality,
                "mesexamples": ctx.mes_examples,
            }
            if key in cards:
                return _card_value(cards[key], ctx, depth)
            if key == "idle_duration":
                if ctx.last_message_at is None:
                    return "just now"
                return _humanize(now - ctx.last_message_at)
            if key == "trim":
                return match.group(0)  # handled after substitution
            return match.group(0)
        if key == "random":
            options = _choices(argument)
            return ctx.rng.choice(options) if options else ""
        if key == "pick":
            options = _choices(argument)
            if not options:
                return ""
            digest = hashlib.sha256(f"{ctx.seed}|{counter['n']}|{body}".encode()).digest()
            return options[int.from_bytes(digest[:8], "big") % len(options)]
        if key == "roll":
            result = roll(argument, ctx.rng)
            return match.group(0) if result is None else result
        return match.group(0)

    text = _MACRO.sub(replace, text)
    return _TRIM.sub("", text)


def render(text: str, ctx: MacroContext) -> str:
    """``text`` with every known macro replaced (see the module docstring)."""
    return _render(text, ctx, 0)
