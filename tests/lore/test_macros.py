"""Prompt macros."""

import random
from datetime import datetime, timedelta

from lore.macros import MacroContext, render

NOW = datetime(2026, 12, 1, 15, 7)


def _ctx(**kw):
    base = dict(
        char="Mira",
        user="Ann",
        persona="A traveller.",
        description="{{char}} keeps the light.",
        scenario="A storm.",
        personality="Dry.",
        mes_examples="<START>\n{{user}}: hi\n{{char}}: hm",
        now=NOW,
        seed="conv-1",
        rng=random.Random(3),
    )
    base.update(kw)
    return MacroContext(**base)


def test_names_and_card_fields():
    text = "{{char}} greets {{USER}}. {{description}} {{scenario}} {{personality}} {{persona}}"
    assert (
        render(text, _ctx()) == "Mira greets Ann. Mira keeps the light. A storm. Dry. A traveller."
    )
    assert render("{{mesExamples}}", _ctx()) == "<START>\nAnn: hi\nMira: hm"


def test_original_and_unknown_macros():
    assert render("Before. {{original}} After.", _ctx(original="BASE")) == "Before. BASE After."
    assert render("{{getvar::x}} {{unknown}}", _ctx()) == "{{getvar::x}} {{unknown}}"


def test_time_date_weekday_idle():
    ctx = _ctx(last_message_at=NOW - timedelta(minutes=5))
    assert render("{{time}}|{{date}}|{{weekday}}|{{idle_duration}}", ctx) == (
        "3:07 PM|December 1, 2026|Tuesday|5 minutes"
    )
    assert render("{{idle_duration}}", _ctx(last_message_at=NOW - timedelta(days=3))) == "3 days"
    assert render("{{idle_duration}}", _ctx()) == "just now"


def test_random_and_pick():
    seen = {render("{{random:a,b,c}}", _ctx(rng=random.Random(s))) for s in range(30)}
    assert seen == {"a", "b", "c"}
    assert render("{{random::x, y::z}}", _ctx()) in {"x, y", "z"}
    picks = {render("{{pick:a,b,c,d}}", _ctx(rng=random.Random(s))) for s in range(10)}
    assert len(picks) == 1  # stable within a conversation
    others = {render("{{pick:a,b,c,d}}", _ctx(seed=f"c{s}")) for s in range(30)}
    assert len(others) > 1


def test_roll():
    values = {int(render("{{roll:d20}}", _ctx(rng=random.Random(s)))) for s in range(200)}
    assert min(values) >= 1 and max(values) <= 20 and len(values) > 10
    assert 5 <= int(render("{{roll:2d6+3}}", _ctx())) <= 15
    assert render("{{roll:banana}}", _ctx()) == "{{roll:banana}}"


def test_comments_and_trim():
    assert render("a{{// hidden\nnote}}b", _ctx()) == "ab"
    assert render("line one\n\n{{trim}}\n\nline two", _ctx()) == "line oneline two"
