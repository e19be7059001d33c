"""Intent detection for triggers: what a message means, not only the words it uses.

Offline (``TRIGGER_INTENT=embedding``, the default) a message expresses an intent when its
sentence embedding (``memory.embeddings``) is close enough to one of the intent's example
phrases: the trigger's own ``intent_examples``, else the built-in examples of a common intent
(``INTENTS``, read from ``intents.json``), else the intent's name read as a phrase
(``ask_for_work`` → "ask for work").
The threshold is the trigger's ``intent_threshold`` or ``TRIGGER_INTENT_THRESHOLD`` (0.45),
and the intent must also be about as close as the closest other built-in intent (within
``MARGIN``), so "Any work around here?" asks for work rather than to buy something.

With ``TRIGGER_INTENT=llm`` and a language model configured, one short completion per message
names the intents it expresses (all candidate intents in one question); any failure falls back
to the embeddings.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings

log = logging.getLogger(__name__)

# The built-in intents and their example phrases are data: ``intents.json`` beside this module.
INTENTS: dict[str, list[str]] = json.loads(
    Path(__file__).with_name("intents.json").read_text("utf-8")
)

LLM_PROMPT = (
    "You classify the intent of a message said to a character in a game. For each intent "
    "below, decide whether the message expresses it. Answer only with JSON: "
    '{"intents": [the names of the intents it expresses]}.\n\nIntents:\n'
)


def examples_of(intent: str, examples: list[str] | None = None) -> list[str]:
    if examples:
        return list(examples)
    return INTENTS.get(_key(intent)) or [re.sub(r"[_\-]+", " ", intent).strip()]


MARGIN = 0.05
_catalog: dict[str, tuple[list[str], np.ndarray]] = {}
_catalog_lock = threading.Lock()


def default_threshold() -> float:
    return float(getattr(settings, "TRIGGER_INTENT_THRESHOLD", 0.45))


def _key(intent: str) -> str:
    return intent.strip().lower().replace(" ", "_").replace("-", "_")


def catalog() -> tuple[list[str], np.ndarray]:
    """The built-in intents' example vectors (computed once per process and model)."""
    from memory.embeddings import embed, model_name

    name = model_name()
    with _catalog_lock:
        found = _catalog.get(name)
        if found is None:
            owners = [k for k, examples in INTENTS.items() for _ in examples]
            vectors = np.asarray(embed([e for ex in INTENTS.values() for e in ex]), np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
            found = _catalog[name] = (owners, vectors)
        return found


@dataclass
class IntentQuery:
    """One intent a trigger asks about."""

    intent: str
    examples: list[str]
    threshold: float


@dataclass
class IntentScorer:
    """Scores of one text against intents, computed once per text (lazily, cached).

    ``embedding``: the text's embedding when the caller already has it or is computing it
    (a turn's message is embedded in the background for the memory search): called once, at
    the first intent scored, so the text is never embedded twice.
    """

    text: str
    embedding: Callable[[], np.ndarray] | None = None
    _vector: np.ndarray | None = None
    _llm: dict[str, bool] | None = None
    _llm_asked: bool = False
    queries: list[IntentQuery] = field(default_factory=list)

    _rivals: dict[str, float] | None = None

    def _text_vector(self) -> np.ndarray:
        if self._vector is None:
            if self.embedding is not None:
                vector = np.asarray(self.embedding(), dtype=np.float32)
            else:
                from memory.embeddings import embed_one

                vector = np.asarray(embed_one(self.text), dtype=np.float32)
            self._vector = vector / (np.linalg.norm(vector) + 1e-12)
        return self._vector

    def similarity(self, examples: list[str]) -> float:
        from memory.embeddings import embed_one  # cached: a trigger's examples cost once

        vectors = np.asarray([embed_one(e) for e in examples], dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
        return float(np.max(vectors @ self._text_vector()))

    def rival(self, intent: str) -> float:
        """The best score of the built-in intents other than ``intent``."""
        if self._rivals is None:
            owners, vectors = catalog()
            scores = vectors @ self._text_vector()
            self._rivals = {}
            for owner, score in zip(owners, scores, strict=True):
                self._rivals[owner] = max(self._rivals.get(owner, -1.0), float(score))
        own = _key(intent)
        return max((v for k, v in self._rivals.items() if k != own), default=-1.0)

    def _ask_llm(self) -> dict[str, bool] | None:
        """One completion naming the intents of the text, for every query at once."""
        if self._llm_asked:
            return self._llm
        self._llm_asked = True
        from llm import get_provider
        from personamcp.exceptions import DomainError

        provider = get_provider()
        if not provider.is_llm or not self.queries:
            return None
        names = {q.intent for q in self.queries}
        listing = "\n".join(
            f"- {q.intent}: e.g. " + " / ".join(q.examples[:3]) for q in self.queries
        )
        try:
            raw = provider.complete(
                [
                    {"role": "system", "content": LLM_PROMPT + listing},
                    {"role": "user", "content": self.text},
                ],
                max_tokens=80,
                temperature=0.0,
            )
            match = re.search(r"\{.*\}", raw, re.S)
            found = json.loads(match.group(0)).get("intents") if match else None
            if not isinstance(found, list):
                raise ValueError(f"not an intent list: {raw[:200]!r}")
            said = {str(x).strip() for x in found}
            self._llm = {name: name in said for name in names}
        except (DomainError, ValueError, TypeError, AttributeError) as exc:
            log.info("LLM intent detection failed (%s); using embeddings", exc)
            self._llm = None
        return self._llm

    def score(self, query: IntentQuery) -> tuple[bool, float, str]:
        """``(expressed, score, method)`` of one intent."""
        if str(getattr(settings, "TRIGGER_INTENT", "embedding")) == "llm":
            answers = self._ask_llm()
            if answers is not None and query.intent in answers:
                expressed = answers[query.intent]
                return expressed, 1.0 if expressed else 0.0, "llm"
        score = self.similarity(query.examples)
        expressed = score >= query.threshold and score >= self.rival(query.intent) - MARGIN
        return expressed, round(score, 4), "embedding"
