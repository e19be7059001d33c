"""How a persona appraises a world event: rules offline, the LLM appraiser when configured.

The rules give each known event type a valence (-1..1), an arousal (0..1), an emotion, the
quality of the interaction with the actor (-1..1, what moves the relationship) and a default
importance. The persona's role scales them: the target feels the whole of it, a witness half,
the actor itself nothing but the arousal. The relationship with the actor colours it: a good
deed from someone liked counts more (valence times ``1 + affinity/2``), a bad one from someone
trusted hurts more (times ``1 + trust/2``). Unknown types (``custom``...) are appraised from
their description by the lexicon.

With ``MOOD_APPRAISAL=llm`` the persona's own account of the event (the text of its memory)
goes to ``conversations.appraisal.appraise_llm``; the quality follows its valence. When the
LLM cannot answer, the rules apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from conversations.appraisal import Appraisal, appraise_lexicon, appraise_llm, emotion_label


@dataclass(frozen=True)
class Rule:
    valence: float
    arousal: float
    emotion: str
    quality: float
    importance: float | None


RULES: dict[str, Rule] = {
    "gift": Rule(0.6, 0.5, "grateful", 0.6, 0.6),
    "help": Rule(0.5, 0.4, "grateful", 0.5, 0.5),
    "heal": Rule(0.6, 0.4, "grateful", 0.6, 0.6),
    "praise": Rule(0.5, 0.5, "happy", 0.4, 0.4),
    "trade": Rule(0.2, 0.3, "content", 0.2, 0.3),
    "arrive": Rule(0.05, 0.35, "curious", 0.05, 0.2),
    "leave": Rule(-0.05, 0.25, "neutral", 0.0, 0.2),
    "attack": Rule(-0.8, 0.9, "afraid", -0.8, 0.85),
    "threat": Rule(-0.6, 0.8, "afraid", -0.6, 0.7),
    "insult": Rule(-0.5, 0.6, "angry", -0.5, 0.5),
    "theft": Rule(-0.6, 0.7, "angry", -0.7, 0.7),
    "death": Rule(-0.7, 0.7, "sad", 0.0, 0.9),
}
ALIASES = {"steal": "theft", "give": "gift", "hit": "attack", "greet": "arrive"}
ROLE_WEIGHT = {"target": 1.0, "witness": 0.5, "actor": 0.0}


@dataclass(frozen=True)
class EventAppraisal:
    appraisal: Appraisal  # what moves the mood (``conversations.appraisal.next_state``)
    quality: float  # of the interaction with the actor, -1..1
    importance: float | None  # default importance of the memory (None: the heuristic)


def rule_for(event_type: str) -> Rule | None:
    key = event_type.strip().lower()
    return RULES.get(ALIASES.get(key, key))


def _clamp(value: float, low: float = -1.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


def appraise_event(
    *,
    event_type: str,
    text: str,
    role: str,
    affinity: float = 0.0,
    trust: float = 0.0,
    method: str = "lexicon",
) -> EventAppraisal:
    """The appraisal of one event by one persona (``role``: target, witness or actor) whose
    relationship with the actor has this ``affinity`` and ``trust``; ``text`` is the persona's
    own account (appraised by the LLM with ``method="llm"``, by the lexicon for unknown
    types)."""
    weight = ROLE_WEIGHT.get(role, 0.5)
    rule = rule_for(event_type)
    if method == "llm" and role != "actor":
        felt = appraise_llm(text)
        if felt.method == "llm":
            quality = _clamp(felt.valence * weight)
            return EventAppraisal(felt, quality, rule.importance if rule else None)
    if rule is None:
        felt = appraise_lexicon(text)
        valence, arousal, emotion, quality = felt.valence, felt.arousal, felt.emotion, felt.valence
        importance = None
    else:
        valence, arousal, emotion = rule.valence, rule.arousal, rule.emotion
        quality, importance = rule.quality, rule.importance
    if valence > 0:
        valence *= 1 + max(0.0, affinity) / 2
    elif valence < 0:
        valence *= 1 + max(0.0, trust) / 2
    valence = round(_clamp(valence * weight), 3)
    quality = round(_clamp(quality * weight), 3)
    # Someone else's good fortune does not make a witness grateful; a witnessed attack
    # frightens it all the same.
    if role == "actor" or abs(valence) < 0.1 or (role == "witness" and valence > 0):
        emotion = emotion_label(valence, arousal)
    return EventAppraisal(
        Appraisal(valence, round(arousal, 3), emotion, "rules"), quality, importance
    )
