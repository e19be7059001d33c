"""Mood: appraisal of a message and decay toward the persona's baseline.

Mood is a valence in -1..1. Each persona has a baseline derived from its Big Five traits
(extraverted, agreeable, emotionally stable personas sit a little above zero). Between turns the
mood decays exponentially toward the baseline with a half-life of ``MOOD_HALF_LIFE_HOURS``.
After a turn the message is appraised (valence -1..1, arousal 0..1, an emotion label) by a
small lexicon, or by the LLM when ``MOOD_APPRAISAL=llm``; the mood moves toward the
appraisal by ``MOOD_SENSITIVITY`` scaled by the persona's neuroticism (touchier personas react
more). Energy drains a little with each exchange and recovers with time; stress follows
negative appraisals.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)

POSITIVE = {
    "thank": 0.6,
    "thanks": 0.6,
    "love": 0.8,
    "lovely": 0.7,
    "great": 0.6,
    "good": 0.4,
    "wonderful": 0.8,
    "amazing": 0.8,
    "happy": 0.6,
    "glad": 0.5,
    "nice": 0.4,
    "kind": 0.5,
    "beautiful": 0.6,
    "friend": 0.4,
    "friends": 0.4,
    "brilliant": 0.7,
    "awesome": 0.7,
    "delicious": 0.6,
    "excellent": 0.7,
    "please": 0.2,
    "welcome": 0.4,
    "congratulations": 0.8,
    "fun": 0.5,
    "enjoy": 0.5,
    "like": 0.3,
    "appreciate": 0.6,
    "perfect": 0.7,
    "sweet": 0.5,
    "warm": 0.3,
    "laugh": 0.5,
    "smile": 0.5,
    "best": 0.6,
    "hero": 0.6,
    "trust": 0.4,
    "gift": 0.6,
    "gifts": 0.6,
    "generous": 0.6,
}
NEGATIVE = {
    "hate": -0.8,
    "stupid": -0.7,
    "idiot": -0.8,
    "awful": -0.7,
    "terrible": -0.7,
    "bad": -0.4,
    "angry": -0.6,
    "sad": -0.5,
    "ugly": -0.6,
    "liar": -0.7,
    "useless": -0.7,
    "boring": -0.4,
    "shut": -0.5,
    "kill": -0.8,
    "die": -0.7,
    "dead": -0.5,
    "fool": -0.6,
    "disgusting": -0.8,
    "worst": -0.7,
    "annoying": -0.5,
    "thief": -0.6,
    "steal": -0.5,
    "stole": -0.5,
    "cheat": -0.6,
    "threat": -0.6,
    "hurt": -0.5,
    "sorry": -0.1,
    "afraid": -0.4,
    "scared": -0.4,
    "lost": -0.3,
    "rude": -0.6,
    "pathetic": -0.7,
    "horrible": -0.7,
    "miserable": -0.6,
    "betray": -0.8,
}
NEGATORS = {"not", "no", "never", "don't", "dont", "isn't", "isnt", "wasn't", "aren't", "can't"}
INTENSIFIERS = {"very": 1.5, "really": 1.4, "so": 1.3, "extremely": 1.8, "truly": 1.4}
_TOKEN = re.compile(r"[a-z']+|[!?]")


@dataclass(frozen=True)
class Appraisal:
    valence: float  # -1..1
    arousal: float  # 0..1
    emotion: str
    method: str = "lexicon"


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def emotion_label(valence: float, arousal: float) -> str:
    """A label from the circumplex quadrant (Russell 1980) of valence and arousal."""
    if abs(valence) < 0.1:
        return "curious" if arousal >= 0.5 else "neutral"
    if valence > 0:
        return "excited" if arousal >= 0.5 else "content" if valence < 0.5 else "happy"
    if arousal >= 0.5:
        return "angry" if valence <= -0.5 else "annoyed"
    return "sad" if valence <= -0.4 else "uneasy"


def appraise_lexicon(text: str) -> Appraisal:
    """Valence from a small lexicon with negation and intensifiers; arousal from emphasis."""
    tokens = _TOKEN.findall(text.lower())
    total, hits = 0.0, 0
    for i, tok in enumerate(tokens):
        base = tok.rstrip("'s")
        score = POSITIVE.get(tok, POSITIVE.get(base, NEGATIVE.get(tok, NEGATIVE.get(base))))
        if score is None:
            continue
        window = tokens[max(0, i - 3) : i]
        if any(w in NEGATORS for w in window):
            score = -0.6 * score
        for w in window:
            score *= INTENSIFIERS.get(w, 1.0)
        total += score
        hits += 1
    valence = _clamp(math.tanh(total / max(1.0, math.sqrt(hits))) if hits else 0.0, -1.0, 1.0)
    exclaim = tokens.count("!")
    caps = sum(1 for w in re.findall(r"\b[A-Z]{3,}\b", text))
    arousal = _clamp(0.25 + 0.15 * exclaim + 0.15 * caps + 0.3 * abs(valence), 0.0, 1.0)
    if "?" in tokens and abs(valence) < 0.1:
        arousal = max(arousal, 0.5)
    return Appraisal(round(valence, 3), round(arousal, 3), emotion_label(valence, arousal))


APPRAISAL_PROMPT = (
    "Rate the emotional tone of the following message as felt by the person it is addressed "
    'to. Answer only with JSON: {"valence": number from -1 to 1, "arousal": number from 0 to 1, '
    '"emotion": one word}.'
)


def appraise_llm(text: str) -> Appraisal:
    """Ask the configured LLM; falls back to the lexicon on any error or odd answer."""
    from llm import get_provider
    from personamcp.exceptions import DomainError

    provider = get_provider()
    if not provider.is_llm:
        return appraise_lexicon(text)
    try:
        raw = provider.complete(
            [{"role": "system", "content": APPRAISAL_PROMPT}, {"role": "user", "content": text}],
            max_tokens=60,
            temperature=0.0,
        )
        match = re.search(r"\{.*\}", raw, re.S)
        data = json.loads(match.group(0)) if match else {}
        valence = _clamp(float(data["valence"]), -1.0, 1.0)
        arousal = _clamp(float(data.get("arousal", 0.4)), 0.0, 1.0)
        emotion = str(data.get("emotion") or emotion_label(valence, arousal))[:32].lower()
        return Appraisal(valence, arousal, emotion, method="llm")
    except (DomainError, ValueError, KeyError, TypeError) as exc:
        log.info("LLM appraisal failed (%s); using the lexicon", exc)
        return appraise_lexicon(text)


def appraise(text: str, *, method: str = "lexicon") -> Appraisal:
    """Appraise a message with the configured method (``lexicon`` or ``llm``)."""
    return appraise_llm(text) if method == "llm" else appraise_lexicon(text)


# A gesture a game can play for each emotion label of ``emotion_label`` (none for neutral).
GESTURES = {
    "happy": "smile",
    "excited": "cheer",
    "content": "nod",
    "curious": "tilt_head",
    "angry": "clench_fists",
    "annoyed": "frown",
    "sad": "look_down",
    "uneasy": "step_back",
}


def expression_of(appraisal: Appraisal, *, mood: float, emotion: str = "") -> dict:
    """What the persona's face and body show in reply to a message: ``{emotion, intensity
    0..1, gesture?}``. A message with a clear tone shows the appraisal's emotion, as strong as
    its valence and arousal; a neutral one shows the persona's standing mood, faintly."""
    if abs(appraisal.valence) >= 0.1:
        label = appraisal.emotion
        intensity = 0.65 * abs(appraisal.valence) + 0.35 * appraisal.arousal
    else:
        label = emotion or emotion_label(mood, appraisal.arousal)
        intensity = 0.5 * abs(mood) + 0.2 * appraisal.arousal
    out = {"emotion": label, "intensity": round(_clamp(intensity, 0.0, 1.0), 3)}
    gesture = GESTURES.get(label)
    if gesture:
        out["gesture"] = gesture
    return out


def baseline_mood(personality: dict[str, float]) -> float:
    """The mood a persona returns to when nothing happens, from its Big Five traits."""
    e = personality.get("extraversion", 0.5)
    a = personality.get("agreeableness", 0.5)
    n = personality.get("neuroticism", 0.5)
    return round(_clamp(0.3 * (e - 0.5) + 0.3 * (a - 0.5) - 0.5 * (n - 0.5), -0.5, 0.5), 3)


def decayed(value: float, target: float, hours: float, half_life_hours: float) -> float:
    """``value`` moved toward ``target`` after ``hours`` of exponential decay."""
    if hours <= 0 or half_life_hours <= 0:
        return value
    return target + (value - target) * 0.5 ** (hours / half_life_hours)


@dataclass(frozen=True)
class StateChange:
    mood: float
    emotion: str
    energy: float
    social_battery: float
    stress: float


def next_state(
    *,
    state: dict[str, float | str],
    personality: dict[str, float],
    appraisal: Appraisal,
    hours_since_update: float,
    half_life_hours: float = 6.0,
    sensitivity: float = 0.35,
) -> StateChange:
    """The persona's state after decaying for ``hours_since_update`` and one appraised turn."""
    base = baseline_mood(personality)
    mood = decayed(float(state["mood"]), base, hours_since_update, half_life_hours)
    energy = decayed(float(state["energy"]), 0.8, hours_since_update, half_life_hours)
    battery = decayed(float(state["social_battery"]), 0.8, hours_since_update, half_life_hours)
    stress = decayed(float(state["stress"]), 0.2, hours_since_update, half_life_hours)
    reactivity = sensitivity * (0.6 + 0.8 * personality.get("neuroticism", 0.5))
    mood = mood + reactivity * (appraisal.valence - mood) * max(0.3, abs(appraisal.valence))
    extraversion = personality.get("extraversion", 0.5)
    # Talking drains introverts' social battery and slightly charges extraverts'.
    battery += 0.02 * (extraversion - 0.5) * 2 - 0.01
    energy -= 0.01 + 0.02 * appraisal.arousal
    if appraisal.valence < 0:
        stress += 0.2 * -appraisal.valence * (0.5 + personality.get("neuroticism", 0.5))
    else:
        stress -= 0.05 * appraisal.valence
    emotion = (
        appraisal.emotion
        if abs(appraisal.valence) >= 0.1
        else emotion_label(mood, appraisal.arousal)
    )
    return StateChange(
        mood=round(_clamp(mood, -1.0, 1.0), 4),
        emotion=emotion,
        energy=round(_clamp(energy, 0.0, 1.0), 4),
        social_battery=round(_clamp(battery, 0.0, 1.0), 4),
        stress=round(_clamp(stress, 0.0, 1.0), 4),
    )
