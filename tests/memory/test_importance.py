"""The importance scorers: a documented heuristic and an LLM scorer with fallback."""

from __future__ import annotations

import pytest

from memory.importance import importance_heuristic, score_importance


def test_grief_scores_far_above_small_talk():
    assert importance_heuristic("my mother died yesterday") >= 0.7
    assert importance_heuristic("ok") <= 0.05
    assert importance_heuristic("my mother died yesterday") - importance_heuristic("ok") > 0.6


@pytest.mark.parametrize(
    "high, low",
    [
        ("I promised Bob I would repay the 30 gold I owe him by Friday", "The bread was fine"),
        ("I am terrified, my husband was arrested last night", "hello there"),
        ("We got married in the spring and I have never been so happy", "thanks!"),
    ],
)
def test_clear_pairs_are_ordered(high, low):
    assert importance_heuristic(high) > importance_heuristic(low) + 0.3


def test_scores_stay_in_unit_range():
    text = "died killed murdered funeral war fire cancer terrified furious my mother promise! " * 5
    assert 0.0 <= importance_heuristic(text) <= 1.0
    assert importance_heuristic("") == 0.0


def test_offline_provider_uses_the_heuristic(settings):
    settings.LLM_PROVIDER = "offline"
    assert score_importance("my mother died yesterday") == (
        importance_heuristic("my mother died yesterday"),
        "heuristic",
    )


def test_llm_rating_is_mapped_to_unit_range(fake_llm):
    fake_llm.reply = "10"
    assert score_importance("the dragon burned the village") == (1.0, "llm")
    fake_llm.reply = "4"
    assert score_importance("bought bread") == (pytest.approx(1 / 3, abs=1e-3), "llm")
    prompt = fake_llm.requests[-1]["body"]["messages"][0]["content"]
    assert "bought bread" in prompt


def test_llm_failure_falls_back_to_the_heuristic(fake_llm):
    fake_llm.mode = "error"
    value, method = score_importance("my mother died yesterday")
    assert method == "heuristic"
    assert value == importance_heuristic("my mother died yesterday")


def test_llm_answer_without_a_number_falls_back(fake_llm):
    fake_llm.reply = "I cannot rate that."
    assert score_importance("ok")[1] == "heuristic"
