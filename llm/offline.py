"""The built-in offline responder: deterministic, in the persona's voice, not a language model.

It composes a reply from the hints the turn pipeline passes (greeting, speaking style, mood,
memories) and says what it is in ``info()``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator

from llm.base import LLMStream, Provider, Request, estimate_tokens, messages_tokens

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
_STOP = frozenset(
    [
        "about",
        "above",
        "after",
        "again",
        "also",
        "been",
        "before",
        "being",
        "could",
        "does",
        "doing",
        "down",
        "from",
        "have",
        "having",
        "here",
        "into",
        "just",
        "like",
        "more",
        "most",
        "much",
        "only",
        "other",
        "over",
        "same",
        "should",
        "some",
        "such",
        "than",
        "that",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "under",
        "until",
        "very",
        "want",
        "what",
        "when",
        "where",
        "which",
        "while",
        "will",
        "with",
        "would",
        "your",
        "yours",
        "you're",
        "i'm",
        "it's",
        "that's",
        "tell",
        "know",
        "think",
        "really",
        "please",
        "seen",
        "near",
        "said",
        "going",
        "make",
        "made",
        "come",
        "came",
        "take",
        "took",
        "went",
        "give",
        "gave",
        "look",
        "looked",
        "well",
        "still",
        "even",
        "ever",
        "back",
        "away",
        "maybe",
        "perhaps",
        "something",
        "anything",
        "nothing",
        "everything",
        "somebody",
        "anyone",
    ]
)


def _keywords(text: str, limit: int = 2) -> list[str]:
    words = [w.lower().strip("'-") for w in _WORD.findall(text)]
    seen: dict[str, int] = {}
    for i, w in enumerate(words):
        if w not in _STOP and w not in seen:
            seen[w] = i
    return sorted(seen, key=lambda w: (-len(w), seen[w]))[:limit]


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


class OfflineProvider(Provider):
    """A deterministic responder for running without any LLM. Not a language model.

    It composes a reply from the persona's greeting (first turn), its speaking style (forms of
    address in quotes, exclamations, brevity), its mood, the words of the message and the best
    retrieved memory. The same input gives the same reply.
    """

    name = "offline"
    is_llm = False

    @property
    def model(self) -> str:
        return "offline-responder"

    def info(self) -> dict:
        return {
            "provider": self.name,
            "model": self.model,
            "is_llm": False,
            "note": "built-in offline responder, not a language model: replies are composed "
            "from the persona's card, mood and memories; set LLM_PROVIDER to ollama or openai "
            "for real conversations",
        }

    def reply(self, messages: list[dict], hints: dict | None = None) -> str:
        """The full reply text for these messages and hints."""
        hints = hints or {}
        user = hints.get("message") or next(
            (m["content"] for m in reversed(messages) if m.get("role") == "user"), ""
        )
        seed = hashlib.sha256(
            json.dumps([hints.get("persona_name", ""), user, len(messages)]).encode()
        ).digest()
        rng = random.Random(seed)
        style = (hints.get("speaking_style") or "").lower()
        quoted = re.findall(r"'([^']{1,20})'|\"([^\"]{1,20})\"", hints.get("speaking_style") or "")
        address = [a or b for a, b in quoted]
        mood = float(hints.get("mood") or 0.0)
        name = hints.get("sender_name") or ""
        parts: list[str] = []
        if hints.get("first_turn") and hints.get("greeting"):
            parts.append(hints["greeting"])
        elif mood > 0.3:
            parts.append(
                rng.choice(["Ah, good to hear from you.", "Well now, that's nice.", "Splendid."])
            )
        elif mood < -0.3:
            parts.append(rng.choice(["Hmph.", "If you must.", "Not the best of days, this."]))
        else:
            parts.append(rng.choice(["I see.", "Hm, let me think.", "Right then."]))
        words = _keywords(user)
        if words:
            topic = " and ".join(words)
            if user.rstrip().endswith("?"):
                parts.append(
                    rng.choice(
                        [
                            f"You ask about {topic}? I can only tell you what I know.",
                            f"{topic.capitalize()}, you say? That's a fair question.",
                        ]
                    )
                )
            else:
                parts.append(
                    rng.choice(
                        [
                            f"So it's {topic} on your mind.",
                            f"{topic.capitalize()}, is it? Tell me more.",
                        ]
                    )
                )
        memories = hints.get("memories") or []
        if memories:
            parts.append(f"I remember this: {_short(memories[0])}")
        if address:
            lead = rng.choice(address)
            parts[-1] = parts[-1].rstrip(".!?") + f", {lead}."
        elif name and not name.startswith(("session:", "apikey:")):
            parts[-1] = parts[-1].rstrip(".!?") + f", {name}."
        if "short" in style or "terse" in style:
            parts = parts[:2]
        text = " ".join(parts)
        if "exclamation" in style or "exuberant" in style:
            text = text.replace(".", "!")
        return text

    def open(self, request: Request) -> LLMStream:
        messages, hints, cancel_event = request.messages, request.hints, request.cancel_event
        text = self.reply(messages, hints)
        pieces = re.findall(r"\S+\s*", text)
        if request.max_tokens:
            pieces = pieces[: request.max_tokens]
        result = LLMStream(iter(()))

        def chunks() -> Iterator[str]:
            for piece in pieces:
                if cancel_event is not None and cancel_event.is_set():
                    result.cancelled = True
                    return
                yield piece
            result.usage = {
                "prompt_tokens": messages_tokens(messages),
                "completion_tokens": estimate_tokens(result.text),
            }

        result._chunks = chunks()
        if request.tools:  # deterministic rules: an action whose verb the message uses
            from llm.actions import offline_choose

            user = hints.get("message") or next(
                (m["content"] for m in reversed(messages) if m.get("role") == "user"), ""
            )
            result.tool_calls = offline_choose(user, request.tools, hints)
        return result
