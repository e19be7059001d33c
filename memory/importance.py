"""How much a memory matters, in [0, 1].

``importance_heuristic`` is fast (microseconds, no model) and deterministic. It starts from a
base of 0.25 and adds evidence:

- **life events** (death, birth, illness, marriage, divorce, accidents, crime, war, losing or
  getting a job, debts owed): +0.35 for the first such word, +0.08 for each further one;
- **strong emotion** (afraid, furious, heartbroken, love, hate, crying...): +0.15, +0.05 more
  for a second;
- **close people** (mother, father, wife, son, best friend...): +0.1;
- **commitments and secrets** (promise, owe, swear, secret, never tell, deadline): +0.12;
- **names, numbers, dates and time words** (yesterday, tomorrow, a capitalised name, 3 coins):
  +0.05 each kind, at most +0.1;
- emphasis (``!`` or a word in capitals): +0.03.

Small talk is pushed down: texts of at most two words score at most 0.1 and pure
acknowledgements ("ok", "thanks", "lol", "hi") score 0.02; a text of only small-talk words stays
below 0.2. The result is clamped to [0, 1] and rounded to three decimals.
Examples: "ok" -> 0.02, "nice weather today" -> ~0.3, "my mother died yesterday" -> ~0.75.

``importance_llm`` asks the configured LLM provider for a 1-10 rating and maps it to [0, 1];
``score_importance`` uses it when an LLM provider other than ``offline`` is configured and falls
back to the heuristic on any failure.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

WORD_RE = re.compile(r"[A-Za-z']+|\d+")

# The heuristic's vocabularies are data: ``importance_words.json`` beside this module.
_WORDS = json.loads(Path(__file__).with_name("importance_words.json").read_text("utf-8"))
LIFE_EVENTS = frozenset(_WORDS["life_events"])
EMOTIONS = frozenset(_WORDS["emotions"])
CLOSE_PEOPLE = frozenset(_WORDS["close_people"])
COMMITMENTS = frozenset(_WORDS["commitments"])
TIME_WORDS = frozenset(_WORDS["time_words"])
SMALL_TALK = frozenset(_WORDS["small_talk"])


def importance_heuristic(text: str) -> float:
    """Score ``text`` in [0, 1] from word evidence (see the module docstring for the rules)."""
    words = WORD_RE.findall(text or "")
    lower = [w.lower() for w in words]
    if not lower:
        return 0.0
    if all(w in SMALL_TALK for w in lower) and len(lower) <= 3:
        return 0.02
    score = 0.25
    events = sum(1 for w in lower if w in LIFE_EVENTS)
    if events:
        score += 0.35 + 0.08 * min(events - 1, 3)
    emotions = sum(1 for w in lower if w in EMOTIONS)
    if emotions:
        score += 0.15 + (0.05 if emotions > 1 else 0.0)
    if any(w in CLOSE_PEOPLE for w in lower) or "best friend" in " ".join(lower):
        score += 0.1
    if any(w in COMMITMENTS for w in lower):
        score += 0.12
    specifics = 0
    if any(w in TIME_WORDS for w in lower) or any(w.isdigit() for w in lower):
        specifics += 1
    if any(w[:1].isupper() and i > 0 and w.lower() not in SMALL_TALK for i, w in enumerate(words)):
        specifics += 1
    score += 0.05 * specifics
    if "!" in text or any(len(w) > 2 and w.isupper() for w in words):
        score += 0.03
    if all(w in SMALL_TALK for w in lower):
        score = min(score, 0.18)
    if len(lower) <= 2:
        score = min(score, 0.1)
    return round(max(0.0, min(1.0, score)), 3)


_PROMPT = (
    "On a scale of 1 to 10, where 1 is purely mundane (e.g. brushing teeth, saying ok) and 10 "
    "is extremely poignant (e.g. a death in the family, a break-up, a betrayal), rate the likely "
    "poignancy of this memory. Answer with one number only.\nMemory: {text}\nRating:"
)


def importance_llm(text: str) -> float:
    """Ask the configured LLM to rate ``text`` 1-10; returns the rating mapped to [0, 1].

    Raises on any provider failure or an answer without a number in 1..10.
    """
    from llm import get_provider

    provider = get_provider()
    answer = provider.complete(
        [{"role": "user", "content": _PROMPT.format(text=text[:2000])}],
        max_tokens=4,
        temperature=0.0,
    )
    match = re.search(r"\d+(?:\.\d+)?", str(answer))
    if not match:
        raise ValueError(f"no rating in LLM answer {answer!r}")
    rating = float(match.group())
    if not 1.0 <= rating <= 10.0:
        raise ValueError(f"rating {rating} outside 1..10")
    return round((rating - 1.0) / 9.0, 3)


def llm_configured() -> bool:
    return settings.LLM_PROVIDER != "offline"


def score_importance(text: str) -> tuple[float, str]:
    """``(importance, method)``: the LLM when configured, else (or on failure) the heuristic."""
    if llm_configured():
        try:
            return importance_llm(text), "llm"
        except Exception as exc:  # any provider/parse failure: the heuristic is always there
            log.warning("LLM importance scoring failed, using the heuristic: %s", exc)
    return importance_heuristic(text), "heuristic"
