"""Cards and lorebooks at the LLM's wire: what a turn really sends (the fake server records it)."""

import copy

import pytest

from conversations.services import conversation_send_message
from lore import services as lore_services
from lore.models import Lorebook
from personamcp.exceptions import ValidationFailed
from personas import services
from tests.lore import cards as team

pytestmark = pytest.mark.django_db


@pytest.fixture
def mira(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return services.persona_import(card=copy.deepcopy(team.V2))


def _turn(persona, text, *, sender="ann", name="Ann", **kw):
    return conversation_send_message(
        persona=persona, content=text, sender=sender, sender_name=name, **kw
    )


def _sent(wire):
    return wire.requests[-1]["body"]["messages"]


def test_card_fields_macros_and_constant_lore_reach_the_llm(wire, mira):
    result = _turn(mira, "Hello there.")
    messages = _sent(wire)
    system = messages[0]["content"]
    # system_prompt override with {{original}} = the server's default line
    assert system.startswith(
        "You are Mira. Stay in character; never say you are an AI or a language model. "
        "Write as Mira, terse and wry."
    )
    assert "Mira keeps the lighthouse at Gull Point." in system  # {{char}} in the description
    assert "Mira always counts the ships in the harbour at dawn." in system  # constant entry
    assert (
        "Example dialogue of Mira:" in system and "Ann: Is the lamp lit?\nMira: Always." in system
    )
    assert "{{" not in "".join(m["content"] for m in messages)
    # greeting first, then the message, then post-history instructions last
    assert messages[1] == {"role": "assistant", "content": "Mind the steps, Ann."}
    assert messages[-2] == {"role": "user", "content": "Hello there."}
    assert messages[-1] == {
        "role": "system",
        "content": "Stay in Mira's voice; never break the fourth wall.",
    }
    book = Lorebook.objects.get(owner=mira)
    constant = book.entries.get(uid=5)
    assert result["lore_used"] == [
        {"lorebook_id": str(book.id), "entry_id": constant.pk, "keys_matched": []}
    ]


def test_keyword_lore_before_the_card_and_recursion_at_depth(wire, mira):
    _turn(mira, "Is the Lantern Guild afraid of krakens?")
    messages = _sent(wire)
    system = messages[0]["content"]
    guild = system.index("The Lantern Guild keeps every lighthouse on the coast.")
    assert guild < system.index("Mira keeps the lighthouse at Gull Point.")  # before_char
    # regex key, at depth 1 (just before the last chat message), as a system message
    kraken = "The kraken sleeps under the reef; sailors whisper about the Drowned Bell."
    at = next(i for i, m in enumerate(messages) if m["content"] == kraken)
    assert messages[at]["role"] == "system"
    assert messages[at + 1]["content"] == "Is the Lantern Guild afraid of krakens?"
    # recursion: the kraken entry names the Drowned Bell (delay_until_recursion)
    assert "The Drowned Bell rings when a ship is lost." in system


def test_secondary_key_logic_and_disabled_entries_at_the_wire(wire, mira):
    _turn(mira, "A ghost? The lamp is electric now. A storm from the west, three days.")
    system = _sent(wire)[0]["content"]
    assert "There is no ghost" not in system  # disabled
    assert "whale oil" not in system  # NOT ANY: "electric" blocks it
    assert "Storms here come from the west" in system  # AND ALL: west and days
    _turn(mira, "the lamp", sender="bob", name="Bob")
    system = _sent(wire)[0]["content"]
    assert "The lamp burns whale oil." in system
    assert "Storms here come" not in system


def test_scan_depth_reaches_back_three_messages(wire, mira):
    _turn(mira, "Gulls took my bread by the window.")
    assert "Gulls steal bread" in _sent(wire)[0]["content"]  # AND ANY
    for text in ("one", "two"):
        _turn(mira, text)
    # the gull line is now 5 messages back (3 user + 2 replies): out of scan depth 3
    _turn(mira, "three")
    assert "Gulls steal bread" not in _sent(wire)[0]["content"]


def test_case_sensitive_whole_word_entry(wire, mira):
    _turn(mira, "mira's mother?")
    assert "Mira's mother was also a keeper." not in _sent(wire)[0]["content"].split("Example")[0]


def test_alternate_greeting_by_index_and_bad_index(wire, mira):
    _turn(mira, "Hi", sender="carl", name="Carl", greeting_index=2)
    assert _sent(wire)[1] == {
        "role": "assistant",
        "content": "You're late. The lamp waits for no one.",
    }
    with pytest.raises(ValidationFailed) as info:
        _turn(mira, "Hi", sender="dora", name="Dora", greeting_index=9)
    assert info.value.errors[0]["field"] == "greeting_index"
    with pytest.raises(ValidationFailed):
        _turn(mira, "again", sender="carl", name="Carl", greeting_index=1)


def test_attached_world_book_and_token_budget(wire, mira, demo):
    world = lore_services.lorebook_create(
        book={
            "token_budget": 10,
            "entries": [
                {"keys": ["market"], "content": "M" * 36, "insertion_order": 1, "priority": 1},
                {"keys": ["market"], "content": "The market opens at dawn.", "priority": 9},
            ],
        },
        name="Town",
    )
    lore_services.lorebook_attach(lorebook=world, persona=demo["elias"])
    result = _turn(demo["elias"], "When does the market open?")
    system = _sent(wire)[0]["content"]
    assert "The market opens at dawn." in system and "M" * 36 not in system
    assert [u["keys_matched"] for u in result["lore_used"]] == [["market"]]
    # no greeting for a persona that did not come from a card
    assert _sent(wire)[1]["role"] == "user"


def test_room_book_and_group_only_greeting(wire, settings, tmp_path):
    from rooms.models import Room

    settings.MEDIA_ROOT = tmp_path
    quill = services.persona_import(card=copy.deepcopy(team.V3))
    room = Room.objects.create(name="Archive")
    world = lore_services.lorebook_create(
        book={"entries": [{"keys": ["archive"], "content": "The archive has nine floors."}]},
        name="Archive world",
    )
    lore_services.lorebook_attach(lorebook=world, room_id=str(room.id))
    _turn(quill, "Where is the archive?", sender=room.participant, name="Ann")
    messages = _sent(wire)
    assert "The archive has nine floors." in messages[0]["content"]
    assert messages[1]["content"] == "The scribe looks up from the group's table."
    # outside the room the room's book is not scanned
    _turn(quill, "Where is the archive?", sender="solo", name="Ann")
    assert "nine floors" not in _sent(wire)[0]["content"]


def test_macros_everywhere(wire, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    card = copy.deepcopy(team.V1)
    card["description"] = (
        "{{char}} rolls {{roll:1d1}}; picks {{pick:only}}; {{random:solo}}; "
        "{{// a note for authors}}today is {{weekday}}, {{date}} at {{time}}.\n\n{{trim}}\n\nEnd."
    )
    tom = services.persona_import(card=card)
    _turn(tom, "hi")
    system = _sent(wire)[0]["content"]
    assert "Old Tom rolls 1; picks only; solo; today is " in system
    assert "a note for authors" not in system and "{{" not in system
    assert ".End." in system


def test_long_description_is_cut_by_the_budget_not_refused(wire, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.CONVERSATION_PROMPT_BUDGET = 3000
    long = services.persona_import(card=team.long_card())
    _turn(long, "hello")
    system = _sent(wire)[0]["content"]
    assert "The lighthouse has many rooms." in system
    assert len(system) < 3000 * 4


def test_lore_used_is_in_the_turn_inspector(wire, mira, admin_client):
    from conversations.models import Message

    result = _turn(mira, "The Lantern Guild?")
    reply = Message.objects.get(pk=result["message_id"])
    assert reply.prompt["lore_used"] == result["lore_used"]
    page = admin_client.get(f"/admin/conversations/message/{reply.pk}/change/").content.decode()
    assert "Lore entries that fired" in page and "Lantern Guild" in page
