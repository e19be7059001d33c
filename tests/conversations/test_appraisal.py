"""Mood appraisal (lexicon), emotion labels, baseline and decay."""

from __future__ import annotations

import pytest

from conversations.appraisal import (
    Appraisal,
    appraise_lexicon,
    baseline_mood,
    decayed,
    next_state,
)

CALM = {"mood": 0.0, "emotion": "neutral", "energy": 0.8, "social_battery": 0.8, "stress": 0.2}
TRAITS = {
    "openness": 0.5,
    "conscientiousness": 0.5,
    "extraversion": 0.5,
    "agreeableness": 0.5,
    "neuroticism": 0.5,
}


def test_positive_negative_and_neutral_messages():
    assert appraise_lexicon("Thank you, this stew is wonderful!").valence > 0.4
    assert appraise_lexicon("I hate you, you stupid liar").valence < -0.4
    neutral = appraise_lexicon("The road goes north to the mill.")
    assert neutral.valence == 0 and neutral.emotion == "neutral"


def test_negation_flips_and_intensifiers_strengthen():
    assert appraise_lexicon("this is not good").valence < 0
    assert appraise_lexicon("very good").valence > appraise_lexicon("good").valence


def test_emphasis_raises_arousal():
    assert appraise_lexicon("I HATE THIS!!!").arousal > appraise_lexicon("i hate this").arousal


def test_baseline_follows_personality():
    sunny = {**TRAITS, "extraversion": 0.9, "agreeableness": 0.9, "neuroticism": 0.1}
    gloomy = {**TRAITS, "extraversion": 0.1, "agreeableness": 0.2, "neuroticism": 0.9}
    assert baseline_mood(sunny) > 0 > baseline_mood(gloomy)


def test_decay_halves_distance_per_half_life():
    assert decayed(1.0, 0.0, 6, 6) == pytest.approx(0.5)
    assert decayed(1.0, 0.0, 0, 6) == 1.0
    assert decayed(-0.8, 0.2, 600, 6) == pytest.approx(0.2, abs=1e-6)


def test_next_state_moves_mood_and_stress():
    kind = next_state(
        state=CALM, personality=TRAITS, appraisal=Appraisal(0.8, 0.6, "happy"), hours_since_update=0
    )
    rude = next_state(
        state=CALM,
        personality=TRAITS,
        appraisal=Appraisal(-0.8, 0.7, "angry"),
        hours_since_update=0,
    )
    assert kind.mood > 0.1 and kind.emotion == "happy"
    assert rude.mood < -0.1 and rude.emotion == "angry" and rude.stress > CALM["stress"]
    assert kind.energy < CALM["energy"]


def test_neurotic_personas_react_more():
    calm_p = {**TRAITS, "neuroticism": 0.0}
    touchy = {**TRAITS, "neuroticism": 1.0}
    hit = Appraisal(-0.9, 0.8, "angry")
    assert (
        next_state(state=CALM, personality=touchy, appraisal=hit, hours_since_update=0).mood
        < next_state(state=CALM, personality=calm_p, appraisal=hit, hours_since_update=0).mood
    )


def test_old_mood_decays_before_the_new_appraisal():
    upset = {**CALM, "mood": -0.9}
    later = next_state(
        state=upset,
        personality=TRAITS,
        appraisal=Appraisal(0, 0.3, "neutral"),
        hours_since_update=48,
    )
    assert abs(later.mood - baseline_mood(TRAITS)) < 0.05
