"""Actions a client offers with a message (``actions_available``) and the ones a persona chooses.

An offered action is ``{name, description, parameters}`` where ``parameters`` is the JSON Schema
of its arguments. The persona chooses actions in one of three ways:

- **native tool calling** (``LLM_TOOLS=native``, the default): the actions are sent as the
  backend's ``tools`` (OpenAI ``tools`` / ``tool_calls``; Ollama ``tools`` /
  ``message.tool_calls``);
- **a strict JSON block** (``LLM_TOOLS=json``, for models without tool support): the system
  message describes the actions and the model ends its reply with one line
  ``<actions>[{"name": …, "arguments": {…}}]</actions>``, which is never shown or stored;
- **deterministic rules** in the offline responder (``offline_choose``): an action whose name
  (or a synonym of its verb) the message uses is chosen, its arguments read from the message.

Whatever proposed them, ``chosen_actions`` keeps only actions that were offered and whose
arguments are valid against their schema; the others are dropped and logged, never returned.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import jsonschema

from llm.base import HoldBackStream, LLMStream, estimate_tokens
from personamcp.exceptions import ValidationFailed

log = logging.getLogger("llm.actions")

MAX_ACTIONS = 32
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
BLOCK_OPEN, BLOCK_CLOSE = "<actions>", "</actions>"
EMPTY_SCHEMA = {"type": "object", "properties": {}}


# --- definitions --------------------------------------------------------------------------


def validate_definitions(defs: Any, *, field: str = "actions_available") -> list[dict]:
    """The offered actions, checked: a list of ``{name, description?, parameters?}`` with
    unique names and valid JSON Schemas of type object. Raises ``ValidationFailed`` naming the
    field (``actions_available.1.parameters``)."""
    if defs is None:
        return []
    if not isinstance(defs, list):
        raise ValidationFailed([{"field": field, "message": "must be a list"}])
    if len(defs) > MAX_ACTIONS:
        raise ValidationFailed([{"field": field, "message": f"at most {MAX_ACTIONS} actions"}])
    errors: list[dict] = []
    clean: list[dict] = []
    seen: set[str] = set()
    for i, item in enumerate(defs):
        where = f"{field}.{i}"
        if not isinstance(item, dict):
            errors.append({"field": where, "message": "must be an object"})
            continue
        unknown = set(item) - {"name", "description", "parameters"}
        for key in sorted(unknown):
            errors.append({"field": f"{where}.{key}", "message": "unknown field"})
        name = item.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append(
                {"field": f"{where}.name", "message": "required: letters, digits, _ . - (≤64)"}
            )
        elif name in seen:
            errors.append({"field": f"{where}.name", "message": "offered twice"})
        else:
            seen.add(name)
        description = item.get("description", "")
        if not isinstance(description, str) or len(description) > 1000:
            errors.append({"field": f"{where}.description", "message": "a string (≤1000)"})
        schema = item.get("parameters", EMPTY_SCHEMA)
        problem = schema_problem(schema)
        if problem:
            errors.append({"field": f"{where}.parameters", "message": problem})
        clean.append(
            {"name": name, "description": description or "", "parameters": schema or EMPTY_SCHEMA}
        )
    if errors:
        raise ValidationFailed(errors)
    return clean


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` is not a usable arguments schema (None when it is)."""
    if not isinstance(schema, dict):
        return "must be a JSON Schema object"
    if schema.get("type", "object") != "object":
        return 'the arguments schema must have "type": "object"'
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"not a valid JSON Schema: {exc.message}"[:300]
    return None


def as_tools(defs: list[dict]) -> list[dict]:
    """The offered actions as function tools (the same shape for OpenAI and Ollama)."""
    return [
        {
            "type": "function",
            "function": {
                "name": d["name"],
                "description": d["description"],
                "parameters": d["parameters"],
            },
        }
        for d in defs
    ]


# --- what was chosen ------------------------------------------------------------------------


def chosen_actions(proposed: list[dict], defs: list[dict]) -> tuple[list[dict], list[dict]]:
    """``(actions, dropped)``: the proposed ``{name, arguments}`` that were offered and whose
    arguments (an object, or a JSON string of one) satisfy the schema; the rest, with why."""
    offered = {d["name"]: d for d in defs}
    actions: list[dict] = []
    dropped: list[dict] = []
    for call in proposed:
        name = call.get("name") if isinstance(call, dict) else None
        arguments = call.get("arguments") if isinstance(call, dict) else None
        reason = None
        if name not in offered:
            reason = f"action {name!r} was not offered"
        else:
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments) if arguments.strip() else {}
                except json.JSONDecodeError:
                    reason = "arguments are not valid JSON"
            if arguments is None:
                arguments = {}
            if reason is None and not isinstance(arguments, dict):
                reason = "arguments are not an object"
            if reason is None:
                reason = arguments_problem(arguments, offered[name]["parameters"])
        if reason is not None:
            log.warning("dropped an action the model chose: %s", reason)
            dropped.append({"name": str(name)[:64], "reason": reason})
            continue
        actions.append({"name": name, "arguments": arguments})
    return actions, dropped


def arguments_problem(arguments: dict, schema: dict) -> str | None:
    """Why ``arguments`` fail ``schema`` (None when they are valid)."""
    validator = jsonschema.validators.validator_for(schema)(schema)
    problem = next(iter(validator.iter_errors(arguments)), None)
    if problem is None:
        return None
    where = "/".join(str(p) for p in problem.absolute_path) or "arguments"
    return f"arguments fail the schema at {where}: {problem.message}"[:300]


# --- the strict JSON block protocol ----------------------------------------------------------


def block_instructions(defs: list[dict]) -> str:
    """The system-message part that teaches a model without tool calling to act."""
    lines = [
        "You can also act in the world. The actions you may take, with the JSON Schema of "
        "their arguments:"
    ]
    for d in defs:
        lines.append(
            f"- {d['name']}: {d['description'] or 'no description'}; arguments: "
            + json.dumps(d["parameters"], ensure_ascii=False)
        )
    lines.append(
        "To act, end your reply with one last line exactly like "
        f'{BLOCK_OPEN}[{{"name": "<action>", "arguments": {{...}}}}]{BLOCK_CLOSE} '
        "(a JSON list of the actions you take). Write that line only when you act, and "
        "never mention it."
    )
    return "\n".join(lines)


class ActionBlockStream(HoldBackStream):
    """An ``LLMStream`` that hides the reply's ``<actions>…</actions>`` block: text that
    could begin the block is held back until it is known not to, everything from the block on
    is kept apart, and ``tool_calls`` is parsed from it once the stream is exhausted."""

    read_past_marker = True

    def __init__(self, inner: LLMStream):
        super().__init__(inner, [BLOCK_OPEN])
        self.tool_calls: list[dict] = []

    @property
    def text(self) -> str:
        return self.raw[: self.marker_at].rstrip() if self.marker_at is not None else self.raw

    @property
    def usage(self) -> dict:
        usage = dict(self.inner.usage)
        if not usage.get("completion_tokens"):
            usage["completion_tokens"] = estimate_tokens(self.raw)
        return usage

    def ended(self) -> None:
        """Parse ``tool_calls`` from the block (none when the reply has no block)."""
        if self.marker_at is None:
            return
        body = self.raw[self.marker_at + len(BLOCK_OPEN) :]
        body = body.split(BLOCK_CLOSE, 1)[0].strip()
        try:
            calls = json.loads(body)
        except json.JSONDecodeError:
            log.warning("the model's action block is not JSON: %r", body[:200])
            return
        if isinstance(calls, dict):
            calls = [calls]
        self.tool_calls = (
            [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
        )


# --- the offline responder's rules -----------------------------------------------------------

# Verbs an action's name may use, and the words of a message that ask for them.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "give": ("give", "hand", "pass", "spare", "lend", "let me have"),
    "sell": ("sell", "buy", "purchase"),
    "buy": ("buy", "sell", "purchase"),
    "attack": ("attack", "fight", "hit", "strike", "kill"),
    "open": ("open", "unlock"),
    "follow": ("follow", "come with"),
    "heal": ("heal", "cure", "mend"),
    "pour": ("pour", "drink", "ale", "beer", "wine"),
    "serve": ("serve", "pour", "drink", "ale", "beer", "food"),
    "trade": ("trade", "swap", "exchange", "barter"),
    "wave": ("wave", "greet"),
    "show": ("show", "let me see"),
    "play": ("play", "sing", "perform"),
}
GENERIC = frozenset({"item", "items", "do", "the", "a", "an", "to", "action", "npc", "player"})
NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "a couple of": 2, "a dozen": 12,
}  # fmt: skip
OBJECT_WORDS = ("item", "object", "thing", "what", "name", "goods", "product", "drink", "food")
DETERMINERS = r"(?:the|a|an|some|your|that|this|those|these|one of your|any)"
AMOUNT = r"(?:\d{1,6}|one|two|three|four|five|six|seven|eight|nine|ten|a couple of|a dozen)"
STOP_AFTER = r"(?=\s*(?:[.,!?;:]|\bplease\b|\bnow\b|\bfor me\b|\bfor\b|\bto me\b|\bif\b|$))"


def _words_of(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[\s_.\-]+", spaced.lower()) if w and w not in GENERIC]


def _cues(d: dict) -> list[str]:
    cues: list[str] = []
    for word in _words_of(d["name"]):
        cues.extend(SYNONYMS.get(word, (word,)))
    return cues


def _said(message: str, cue: str) -> re.Match | None:
    return re.search(rf"(?<![\w-]){re.escape(cue)}\w*", message, re.IGNORECASE)


def _object_after(message: str, at: int) -> str | None:
    """The thing asked for after the verb at ``at`` ("give me the healing potion, please")."""
    tail = message[at:]
    found = re.match(
        rf"\w+(?:\s+(?:me|us|him|her|them|over))?(?:\s+{DETERMINERS})?(?:\s+{AMOUNT}(?:\s+of(?:\s+{DETERMINERS})?)?)?\s+"
        rf"([A-Za-z][\w'\- ]{{0,40}}?){STOP_AFTER}",
        tail,
        re.IGNORECASE,
    )
    if found:
        return found.group(1).strip()
    return None


def _number(message: str) -> int | None:
    found = re.search(r"\b(\d{1,6})\b", message)
    if found:
        return int(found.group(1))
    lowered = message.lower()
    for words, value in NUMBER_WORDS.items():
        if re.search(rf"\b{words}\b", lowered):
            return value
    return None


def _argument(name: str, spec: dict, message: str, at: int, context: dict) -> Any:
    """A value for one property, read from the message (``_MISSING`` when none)."""
    enum = spec.get("enum")
    if isinstance(enum, list) and enum:
        for value in enum:
            if isinstance(value, str) and _said(message, value):
                return value
        return spec.get("default", _MISSING)
    kind = spec.get("type")
    if kind in ("integer", "number"):
        value = _number(message)
        if value is None:
            return spec.get("default", _MISSING)
        return value if kind == "integer" else float(value)
    if kind == "boolean":
        return spec.get("default", True)
    if kind == "string" or kind is None:
        lowered = name.lower()
        if lowered in ("target", "recipient", "to", "player", "who", "person"):
            return context.get("sender_name") or spec.get("default", _MISSING)
        if any(w in lowered for w in OBJECT_WORDS) or kind == "string":
            value = _object_after(message, at)
            if value:
                return value
        return spec.get("default", _MISSING)
    return spec.get("default", _MISSING)


_MISSING = object()


def offline_choose(message: str, defs: list[dict], context: dict | None = None) -> list[dict]:
    """The offline responder's deterministic choice: each offered action whose verb the
    message uses, with arguments read from the message; an action whose required arguments
    cannot be found, or fail the schema, is not chosen."""
    context = context or {}
    chosen: list[dict] = []
    for d in defs:
        hit = next((m for cue in _cues(d) if (m := _said(message, cue))), None)
        if hit is None:
            continue
        schema = d["parameters"]
        properties = schema.get("properties") or {}
        arguments: dict[str, Any] = {}
        for prop, spec in properties.items():
            if not isinstance(spec, dict):
                continue
            value = _argument(prop, spec, message, hit.start(), context)
            if value is not _MISSING:
                arguments[prop] = value
        if arguments_problem(arguments, schema) is None:
            chosen.append({"name": d["name"], "arguments": arguments})
    return chosen
