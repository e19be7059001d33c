"""The pure prompt builder: every ingredient appears when present, the budget holds."""

from __future__ import annotations

from conversations.prompts import PromptInput, PromptMemory, PromptTurn, build_prompt
from llm import estimate_tokens

PERSONA = {
    "name": "Alice Thornbury",
    "description": "Warm-hearted innkeeper of the Wayward Goose.",
    "personality": {
        "openness": 0.6,
        "conscientiousness": 0.8,
        "extraversion": 0.75,
        "agreeableness": 0.9,
        "neuroticism": 0.25,
    },
    "speaking_style": "Warm, motherly; calls people 'love'.",
    "background": "Took over the inn from her father.",
    "goals": ["keep the inn full"],
    "interests": ["cooking", "gossip"],
    "greeting": "Come in, dear!",
    "system_prompt": "",
}


def full_input(**overrides) -> PromptInput:
    data = {
        "persona": PERSONA,
        "message": "Any rooms free tonight?",
        "sender_name": "Bob",
        "state": {
            "mood": 0.7,
            "emotion": "happy",
            "energy": 0.2,
            "social_battery": 0.9,
            "stress": 0.1,
        },
        "relationship": {
            "stage": "close_friend",
            "affinity": 0.8,
            "trust": 0.7,
            "respect": 0.5,
            "familiarity": 0.9,
            "interactions": 31,
        },
        "memories": [
            PromptMemory("m-17", "Bob paid his tab in silver.", 0.9),
            PromptMemory("m-4", "Bob fears spiders.", 0.5),
        ],
        "context": {"scene": "tavern at night", "location": "the bar", "game_state": {"hp": 3}},
        "history": [
            PromptTurn("user", "Bob", "Evening, Alice."),
            PromptTurn("assistant", "Alice", "Evening, love!"),
        ],
        "budget_tokens": 3000,
    }
    data.update(overrides)
    return PromptInput(**data)


def test_every_ingredient_appears():
    prompt = build_prompt(full_input())
    system = prompt.messages[0]
    assert system["role"] == "system"
    text = system["content"]
    for expected in (
        "Alice Thornbury",
        "Warm-hearted innkeeper",
        "calls people 'love'",
        "Took over the inn",
        "keep the inn full",
        "cooking",
        "agreeableness high",
        "very happy",
        "happy",
        "energy low",
        "close friend",
        "Bob",
        "[memory m-17] Bob paid his tab in silver.",
        "[memory m-4]",
        "tavern at night",
        "the bar",
        '{"hp": 3}',
    ):
        assert expected in text, expected
    assert prompt.messages[1:] == [
        {"role": "user", "content": "Evening, Alice."},
        {"role": "assistant", "content": "Evening, love!"},
        {"role": "user", "content": "Any rooms free tonight?"},
    ]
    assert prompt.memory_ids == ["m-17", "m-4"]
    assert prompt.history_included == 2 and prompt.history_dropped == 0


def test_memories_are_ordered_best_first():
    prompt = build_prompt(
        full_input(memories=[PromptMemory("low", "a", 0.1), PromptMemory("high", "b", 0.8)])
    )
    text = prompt.messages[0]["content"]
    assert text.index("[memory high]") < text.index("[memory low]")


def test_custom_system_prompt_comes_first():
    prompt = build_prompt(full_input(persona={**PERSONA, "system_prompt": "You are a pirate."}))
    assert prompt.messages[0]["content"].startswith("You are a pirate.")


def test_absent_ingredients_leave_no_trace():
    prompt = build_prompt(PromptInput(persona={"name": "Rook"}, message="Hi"))
    text = prompt.messages[0]["content"]
    assert "Rook" in text
    for absent in ("mood", "relationship", "remember", "Scene"):
        assert absent not in text
    assert prompt.messages[-1] == {"role": "user", "content": "Hi"}
    assert len(prompt.messages) == 2


def test_budget_keeps_newest_history_and_is_respected():
    history = [
        PromptTurn("user" if i % 2 == 0 else "assistant", "x", f"message number {i} " * 20)
        for i in range(200)
    ]
    prompt = build_prompt(full_input(history=history, budget_tokens=1500))
    assert prompt.tokens <= 1500
    assert 0 < prompt.history_included < 200
    assert prompt.history_dropped == 200 - prompt.history_included
    kept = prompt.messages[1:-1]
    assert kept[-1]["content"] == history[-1].content  # newest kept
    assert kept[0]["content"] == history[200 - len(kept)].content  # contiguous, in order
    bigger = build_prompt(full_input(history=history, budget_tokens=3000))
    assert bigger.history_included > prompt.history_included


def test_budget_drops_memories_beyond_their_share():
    memories = [PromptMemory(f"m{i}", "remembered thing " * 30, 1 - i / 100) for i in range(50)]
    prompt = build_prompt(full_input(memories=memories, budget_tokens=1200, history=[]))
    assert prompt.tokens <= 1200
    assert 0 < len(prompt.memory_ids) < 50
    assert prompt.memories_dropped == 50 - len(prompt.memory_ids)
    assert prompt.memory_ids == [f"m{i}" for i in range(len(prompt.memory_ids))]  # best first


def test_huge_context_is_shortened_to_its_share():
    prompt = build_prompt(full_input(context={"scene": "x" * 50000}, budget_tokens=2000))
    assert estimate_tokens(prompt.messages[0]["content"]) < 2000
    assert prompt.tokens <= 2000 + estimate_tokens("Any rooms free tonight?") + 50


def test_pure_same_input_same_output():
    assert build_prompt(full_input()).messages == build_prompt(full_input()).messages
