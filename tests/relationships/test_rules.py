"""The documented stage rules and interaction updates of relationships."""

from __future__ import annotations

import pytest

from personas.relationships import (
    relationship_compatibility,
    relationship_get,
    relationship_record_interaction,
    relationship_stage,
)


@pytest.mark.parametrize(
    ("axes", "stage"),
    [
        ({"affinity": -0.6, "trust": -0.4, "respect": 0, "familiarity": 0.5}, "enemy"),
        ({"affinity": -0.3, "trust": 0, "respect": 0, "familiarity": 0.5}, "rival"),
        ({"affinity": 0.1, "trust": -0.3, "respect": 0.4, "familiarity": 0.5}, "rival"),
        ({"affinity": 0.7, "trust": 0.6, "respect": 0.2, "familiarity": 0.7}, "close_friend"),
        ({"affinity": 0.7, "trust": 0.6, "respect": 0.2, "familiarity": 0.4}, "friend"),
        ({"affinity": 0.4, "trust": 0.1, "respect": 0.2, "familiarity": 0.4}, "acquaintance"),
        ({"affinity": 0.0, "trust": 0.0, "respect": 0.0, "familiarity": 0.0}, "stranger"),
    ],
)
def test_stage_rules(axes, stage):
    assert relationship_stage(**axes) == stage


def test_two_interactions_make_an_acquaintance():
    assert (
        relationship_stage(affinity=0, trust=0, respect=0, familiarity=0.05, interactions=2)
        == "acquaintance"
    )


def test_unknown_relationship_is_neutral_default(demo):
    rel = relationship_get(persona=demo["alice"], other_id="@bob:example.org")
    assert rel.pk is None and rel.stage == "stranger" and rel.interactions == 0
    assert rel.other_kind == "participant"


def test_persona_other_is_resolved_by_slug(demo):
    rel = relationship_get(persona=demo["alice"], other_id="rook")
    assert rel.other_id == str(demo["rook"].id) and rel.other_kind == "persona"


def test_pleasant_interactions_progress_to_friend_and_close_friend(demo):
    alice = demo["alice"]
    stages = []
    for _ in range(40):
        rel = relationship_record_interaction(persona=alice, other_id="bob", quality=0.9)
        stages.append(rel.stage)
    assert stages[0] == "stranger" and "acquaintance" in stages and "friend" in stages
    assert stages[-1] == "close_friend"
    assert rel.interactions == 40 and rel.last_interaction_at is not None
    assert 0 < rel.familiarity <= 1 and rel.affinity <= 1


def test_hostile_interactions_make_an_enemy(demo):
    for _ in range(30):
        rel = relationship_record_interaction(persona=demo["rook"], other_id="guard", quality=-1)
    assert rel.stage == "enemy" and rel.affinity >= -1 and rel.trust < -0.3


def test_context_is_noted(demo):
    rel = relationship_record_interaction(
        persona=demo["alice"], other_id="bob", quality=0.2, context="helped with the barrels"
    )
    assert "helped with the barrels" in rel.notes


def test_compatibility(demo):
    alice_pip = relationship_compatibility(persona=demo["alice"], other=demo["pip"])
    alice_rook = relationship_compatibility(persona=demo["alice"], other=demo["rook"])
    assert 0 <= alice_rook["overall"] < alice_pip["overall"] <= 1
    assert alice_pip["prediction"]
