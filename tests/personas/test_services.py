import pytest

from personamcp.exceptions import ValidationFailed
from personas import selectors, services
from personas.exceptions import DuplicateSlug, PersonaNotFound
from personas.models import Persona, PersonaState

pytestmark = pytest.mark.django_db


def test_create_makes_state_and_derives_slug():
    persona = services.persona_create(name="Greta Stone", tags=["Fantasy", "smith"])
    assert persona.slug == "greta-stone"
    assert PersonaState.objects.filter(persona=persona).exists()
    assert sorted(t.name for t in persona.tags.all()) == ["fantasy", "smith"]


def test_derived_slug_gets_a_suffix_when_taken():
    services.persona_create(name="Twin")
    assert services.persona_create(name="Twin").slug == "twin-2"


def test_explicit_duplicate_slug_is_a_conflict_and_writes_nothing():
    services.persona_create(name="One", slug="same")
    with pytest.raises(DuplicateSlug):
        services.persona_create(name="Two", slug="same")
    assert Persona.objects.filter(name="Two").count() == 0
    assert PersonaState.objects.count() == 1


def test_out_of_range_trait_is_rejected_naming_the_field():
    with pytest.raises(ValidationFailed) as exc:
        services.persona_create(name="X", personality={"openness": 1.5})
    assert exc.value.errors[0]["field"] == "openness"
    assert not Persona.objects.exists()


def test_update_changes_only_given_fields():
    persona = services.persona_create(name="A", description="old", personality={"openness": 0.1})
    services.persona_update(persona=persona, description="new", personality={"extraversion": 0.9})
    persona.refresh_from_db()
    assert (persona.description, persona.openness, persona.extraversion) == ("new", 0.1, 0.9)


def test_update_to_taken_slug_is_a_conflict():
    services.persona_create(name="A", slug="a")
    b = services.persona_create(name="B", slug="b")
    with pytest.raises(DuplicateSlug):
        services.persona_update(persona=b, slug="a")
    assert Persona.objects.get(pk=b.pk).slug == "b"


def test_get_by_id_or_slug_and_not_found():
    persona = services.persona_create(name="Finder")
    assert selectors.persona_get(persona_id=str(persona.id)) == persona
    assert selectors.persona_get(persona_id="finder") == persona
    with pytest.raises(PersonaNotFound):
        selectors.persona_get(persona_id="nobody")


def test_list_filters_and_paginates(demo):
    page, cursor = selectors.persona_list(limit=3)
    assert len(page) == 3 and cursor
    rest, end = selectors.persona_list(limit=3, cursor=cursor)
    assert len(rest) == 1 and end is None
    assert {p.slug for p in page + rest} == set(demo)
    assert [p.slug for p in selectors.persona_list(tags=["bard"])[0]] == ["pip"]
    assert [p.slug for p in selectors.persona_list(search="innkeeper")[0]] == ["alice"]


def test_bad_cursor_is_a_validation_error():
    with pytest.raises(ValidationFailed) as exc:
        selectors.persona_list(cursor="not-a-cursor")
    assert exc.value.errors[0]["field"] == "cursor"


def test_delete_removes_state():
    persona = services.persona_create(name="Gone")
    services.persona_delete(persona=persona)
    assert not Persona.objects.exists() and not PersonaState.objects.exists()


def test_state_update_clamps():
    persona = services.persona_create(name="Moody")
    state = services.persona_state_update(persona=persona, mood=3, energy=-1, emotion="joy")
    assert (state.mood, state.energy, state.emotion) == (1.0, 0.0, "joy")


def test_seed_demo_is_idempotent(demo):
    from django.core.management import call_command

    call_command("seed_demo")
    assert Persona.objects.count() == 4
    traits = {p.slug: p.extraversion for p in Persona.objects.all()}
    assert traits["pip"] > 0.9 and traits["elias"] < 0.3
