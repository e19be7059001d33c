"""The World Info engine as a pure function: every entry option and scan rule."""

import random

import pytest

from lore.engine import (
    AND_ALL,
    AND_ANY,
    NOT_ALL,
    NOT_ANY,
    LoreError,
    ScanMessage,
    ScanSettings,
    compile_entries,
    select_entries,
    settings_from_book,
)


def _entry(uid, keys, content=None, **fields):
    ext = fields.pop("extensions", {})
    return {
        "id": uid,
        "keys": keys,
        "content": content or f"lore {uid}",
        "enabled": True,
        "insertion_order": fields.pop("insertion_order", 100),
        "extensions": ext,
        **fields,
    }


def _fired(entries, *texts, settings=None, **kw):
    settings = settings or ScanSettings()
    compiled = compile_entries(entries, lorebook_id="book", settings=settings)
    messages = [ScanMessage("Ann" if i % 2 == 0 else "Mira", t) for i, t in enumerate(texts)]
    return select_entries(compiled, messages, settings, **kw)


def _ids(selection):
    return [a.entry.id for a in selection.activated]


def test_keys_match_case_insensitively_by_default_and_report_the_key():
    sel = _fired([_entry(1, ["Dragon", "wyrm"]), _entry(2, ["castle"])], "I saw a DRAGON")
    assert _ids(sel) == [1]
    assert sel.activated[0].keys_matched == ["Dragon"]
    assert sel.used() == [{"lorebook_id": "book", "entry_id": 1, "keys_matched": ["Dragon"]}]


def test_case_sensitive_entry_needs_exact_case():
    entries = [_entry(1, ["Rose"], case_sensitive=True), _entry(2, ["rose"])]
    assert _ids(_fired(entries, "a rose")) == [2]
    assert _ids(_fired(entries, "Rose")) == [1, 2]


def test_case_sensitive_from_extensions_and_book_default():
    entries = [_entry(1, ["Rose"], extensions={"case_sensitive": True})]
    assert _ids(_fired(entries, "rose")) == []
    assert (
        _ids(_fired([_entry(2, ["Rose"])], "rose", settings=ScanSettings(case_sensitive=True)))
        == []
    )


def test_whole_words_rejects_a_key_inside_another_word():
    entries = [_entry(1, ["cat"], extensions={"match_whole_words": True}), _entry(2, ["cat"])]
    assert _ids(_fired(entries, "the category")) == [2]
    assert _ids(_fired(entries, "the cat sat")) == [1, 2]


def test_whole_words_multiword_key_matches_as_written_and_punctuated_keys_use_boundaries():
    ext = {"match_whole_words": True}
    entries = [_entry(1, ["old tower"], extensions=ext), _entry(2, ["Dr."], extensions=ext)]
    assert _ids(_fired(entries, "the old tower fell")) == [1]
    assert _ids(_fired(entries, "ask Dr. Lee")) == [2]
    assert _ids(_fired(entries, "Drought")) == []


def test_regex_keys_javascript_style_with_flags():
    entries = [
        _entry(1, ["/gr[ae]y\\s+wolf/"], use_regex=True, case_sensitive=True),
        _entry(2, ["/gr[ae]y\\s+wolf/i"], use_regex=True, case_sensitive=True),
        _entry(3, ["/(?<n>ha)\\k<n>/"], use_regex=True),
    ]
    assert _ids(_fired(entries, "a Grey   Wolf")) == [2]
    assert _ids(_fired(entries, "a grey wolf, haha")) == [1, 2, 3]


def test_a_slash_key_is_a_regex_even_without_use_regex():
    assert _ids(_fired([_entry(1, ["/^hello/m"])], "x\nhello")) == [1]


def test_bad_regex_names_the_field():
    with pytest.raises(LoreError) as info:
        compile_entries([_entry(1, ["ok"]), _entry(2, ["fine", "/(unclosed/"], use_regex=True)])
    assert info.value.field == "entries.1.keys.1"
    with pytest.raises(LoreError) as info:
        compile_entries([_entry(1, ["/x/q"])])
    assert "flag" in info.value.message


@pytest.mark.parametrize(
    ("logic", "text", "fires"),
    [
        (AND_ANY, "sword and shield", True),
        (AND_ANY, "sword alone", False),
        (AND_ALL, "sword shield helm", True),
        (AND_ALL, "sword shield", False),
        (NOT_ANY, "sword alone", True),
        (NOT_ANY, "sword and helm", False),
        (NOT_ALL, "sword and helm", True),
        (NOT_ALL, "sword shield helm", False),
    ],
)
def test_selective_logic(logic, text, fires):
    entry = _entry(
        1,
        ["sword"],
        selective=True,
        secondary_keys=["shield", "helm"],
        extensions={"selectiveLogic": logic},
    )
    sel = _fired([entry], text)
    assert (_ids(sel) == [1]) is fires
    if fires and logic in (AND_ANY, AND_ALL):
        assert sel.activated[0].secondary_matched


def test_secondary_keys_ignored_when_not_selective():
    entry = _entry(1, ["sword"], selective=False, secondary_keys=["shield"])
    assert _ids(_fired([entry], "sword")) == [1]


def test_constant_fires_without_keys_and_disabled_never_fires():
    entries = [
        _entry(1, [], constant=True),
        _entry(2, ["moon"], enabled=False),
        _entry(3, [], constant=True, enabled=False),
    ]
    sel = _fired(entries, "the moon")
    assert _ids(sel) == [1]
    assert sel.activated[0].reason == "constant"


def test_scan_depth_limits_which_messages_are_scanned():
    entries = [_entry(1, ["harbor"])]
    history = ["the harbor", "hm", "ok", "and then?"]
    assert _ids(_fired(entries, *history, settings=ScanSettings(scan_depth=2))) == []
    assert _ids(_fired(entries, *history, settings=ScanSettings(scan_depth=3))) == [1]
    # depth 0: only the new message
    assert _ids(_fired(entries, "harbor", "x", settings=ScanSettings(scan_depth=0))) == []
    # an entry's own scan depth overrides the book's
    deep = [_entry(2, ["harbor"], extensions={"scan_depth": 5})]
    assert _ids(_fired(deep, *history, settings=ScanSettings(scan_depth=0))) == [2]


def test_names_are_part_of_the_scan_unless_disabled():
    entries = [_entry(1, ["Mira"])]
    assert _ids(_fired(entries, "hi", "hello")) == [1]  # "Mira: hello"
    assert _ids(_fired(entries, "hi", "hello", settings=ScanSettings(include_names=False))) == []


def test_insertion_order_sorts_kept_entries_and_budget_drops_lowest_priority():
    entries = [
        _entry(1, ["a"], "x" * 40, insertion_order=300, priority=1),
        _entry(2, ["a"], "y" * 40, insertion_order=100, priority=5),
        _entry(3, ["a"], "z" * 40, insertion_order=200, priority=9),
        _entry(4, [], "c" * 40, constant=True, insertion_order=50, priority=0),
    ]
    sel = _fired(entries, "a", settings=ScanSettings(token_budget=30))
    # 10 tokens each: the constant first, then priorities 9 and 5; priority 1 is dropped
    assert _ids(sel) == [4, 2, 3]
    assert [a.entry.id for a in sel.dropped] == [1]
    assert sel.tokens == 30


def test_priority_defaults_to_insertion_order_for_the_budget():
    entries = [
        _entry(1, ["a"], "x" * 40, insertion_order=10),
        _entry(2, ["a"], "y" * 40, insertion_order=20),
    ]
    sel = _fired(entries, "a", settings=ScanSettings(token_budget=10))
    assert _ids(sel) == [2]


def test_positions_depth_and_role():
    entries = [
        _entry(1, ["a"], position="before_char"),
        _entry(2, ["a"], position="after_char"),
        _entry(3, ["a"], extensions={"position": 4, "depth": 2, "role": 1}),
        _entry(4, ["a"], extensions={"position": 5}),
    ]
    sel = _fired(entries, "a")
    assert [a.entry.position for a in sel.activated] == [
        "before_char",
        "after_char",
        "at_depth",
        "before_examples",
    ]
    at_depth = sel.by_position("at_depth")[0]
    assert (at_depth.entry.depth, at_depth.entry.role) == (2, "user")


def test_recursion_chains_entries_and_marks_the_step():
    entries = [
        _entry(1, ["king"], "The king lives in Avalon."),
        _entry(2, ["avalon"], "Avalon is an island ruled by the Lady."),
        _entry(3, ["lady"], "The Lady keeps a sword."),
    ]
    flat = _fired(entries, "tell me of the king")
    assert _ids(flat) == [1]
    sel = _fired(entries, "tell me of the king", settings=ScanSettings(recursive_scanning=True))
    assert _ids(sel) == [1, 2, 3]
    assert [(a.reason, a.step) for a in sel.activated] == [
        ("key", 0),
        ("recursion", 1),
        ("recursion", 2),
    ]
    assert sel.activated[1].keys_matched == ["avalon"]


def test_recursion_options_exclude_prevent_delay():
    entries = [
        _entry(1, ["king"], "The king met the queen and the knight and the bard."),
        _entry(2, ["queen"], extensions={"exclude_recursion": True}),
        _entry(
            3, ["knight"], "The knight mentions the wizard.", extensions={"prevent_recursion": True}
        ),
        _entry(4, ["wizard"]),
        _entry(5, ["bard"], extensions={"delay_until_recursion": True}),
    ]
    settings = ScanSettings(recursive_scanning=True)
    assert _ids(_fired(entries, "the king", settings=settings)) == [1, 3, 5]
    # delayed entry does not fire from the chat itself
    assert _ids(_fired(entries, "the bard", settings=settings)) == []


def test_a_cycle_fires_each_entry_once():
    entries = [_entry(1, ["alpha"], "see beta"), _entry(2, ["beta"], "see alpha")]
    sel = _fired(entries, "alpha", settings=ScanSettings(recursive_scanning=True))
    assert _ids(sel) == [1, 2] and not sel.recursion_capped


def test_a_chain_longer_than_the_bound_stops_and_says_so():
    chain = [_entry(i, [f"k{i}"], f"then k{i + 1}") for i in range(30)]
    sel = _fired(chain, "k0", settings=ScanSettings(recursive_scanning=True, max_recursion_steps=5))
    assert _ids(sel) == list(range(6))
    assert sel.recursion_steps == 5 and sel.recursion_capped


def test_unbounded_recursion_setting_is_refused_naming_the_field():
    for bad in (0, -1, 10_000):
        with pytest.raises(LoreError) as info:
            settings_from_book(
                {"recursive_scanning": True, "extensions": {"max_recursion_steps": bad}}
            )
        assert info.value.field == "extensions.max_recursion_steps"
    with pytest.raises(LoreError) as info:
        settings_from_book({"scan_depth": -2})
    assert info.value.field == "scan_depth"


def test_probability_rolls_with_the_given_rng():
    entry = _entry(1, ["a"], extensions={"probability": 50, "useProbability": True})
    outcomes = {bool(_ids(_fired([entry], "a", rng=random.Random(seed)))) for seed in range(20)}
    assert outcomes == {True, False}
    never = _entry(2, ["a"], extensions={"probability": 0, "useProbability": True})
    assert _ids(_fired([never], "a")) == []
    ignored = _entry(3, ["a"], extensions={"probability": 0, "useProbability": False})
    assert _ids(_fired([ignored], "a")) == [3]


def test_bad_option_types_name_the_field():
    with pytest.raises(LoreError) as info:
        compile_entries([_entry(1, "notalist")])
    assert info.value.field == "entries.0.keys"
    with pytest.raises(LoreError) as info:
        compile_entries([_entry(1, ["a"], extensions={"selectiveLogic": 9})])
    assert info.value.field == "entries.0.extensions.selectiveLogic"


def test_the_key_index_finds_exactly_what_testing_every_key_finds():
    """The fast path (candidates by anchors) against a test of every key of every entry."""
    from lore.engine import _Buffer, _matched

    rng = random.Random(11)
    words = ["Rose", "rose", "cat", "category", "Dr.", "old tower", "wolf", "wolves", "ab", "x"]
    regexes = ["/wol(f|ves)/i", "/^Ro/", "/c.t/", "/(a|b)+/", "/[A-Z]ose/"]
    for case in range(200):
        entries = []
        for i in range(12):
            keys = rng.sample(words, 2)
            if rng.random() < 0.3:
                keys = [rng.choice(regexes)]
            entries.append(
                _entry(
                    i,
                    keys,
                    case_sensitive=rng.random() < 0.3,
                    extensions={"match_whole_words": rng.random() < 0.4},
                )
            )
        compiled = compile_entries(entries)
        text = " ".join(
            rng.choice([*words, "the", "a", "Category", "ROSE", "tower"]) for _ in range(6)
        )
        expected = [
            e.id for e in compiled if _matched(e.keys, _Buffer(f"Ann: {text}"), e.case_sensitive)
        ]
        selection = select_entries(compiled, [ScanMessage("Ann", text)], ScanSettings())
        assert sorted(a.entry.id for a in selection.activated) == expected, (case, text)
