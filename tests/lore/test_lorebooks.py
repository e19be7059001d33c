"""Lorebooks: storage round trips, World Info files, validation, the RPC and REST doors."""

import copy

import pytest

from lore import services
from lore.models import Lorebook, LoreEntry
from personamcp.exceptions import ValidationFailed
from tests.lore.cards import ENTRIES, V2

pytestmark = pytest.mark.django_db

BOOK = V2["data"]["character_book"]

WORLDINFO = {
    "name": "Harbour world",
    "entries": {
        "0": {
            "uid": 0,
            "key": ["harbour", "docks"],
            "keysecondary": ["fish"],
            "comment": "the harbour",
            "content": "The harbour smells of tar.",
            "constant": False,
            "vectorized": False,
            "selective": True,
            "selectiveLogic": 0,
            "addMemo": True,
            "order": 100,
            "position": 4,
            "disable": False,
            "excludeRecursion": False,
            "preventRecursion": True,
            "delayUntilRecursion": False,
            "probability": 100,
            "useProbability": True,
            "depth": 2,
            "group": "",
            "groupOverride": False,
            "groupWeight": 100,
            "scanDepth": None,
            "caseSensitive": None,
            "matchWholeWords": True,
            "useGroupScoring": None,
            "automationId": "",
            "role": 1,
            "sticky": 0,
            "cooldown": 0,
            "delay": 0,
            "displayIndex": 0,
            "characterFilter": {"isExclude": False, "names": [], "tags": []},
        },
        "7": {
            "uid": 7,
            "key": [],
            "keysecondary": [],
            "comment": "always",
            "content": "Gulls everywhere.",
            "constant": True,
            "selective": False,
            "order": 10,
            "position": 0,
            "disable": True,
            "addMemo": False,
        },
    },
}


def test_character_book_round_trip_is_exact():
    lorebook = services.lorebook_create(book=copy.deepcopy(BOOK))
    assert lorebook.entries.count() == len(ENTRIES)
    again = services.lorebook_export(
        lorebook=Lorebook.objects.get(pk=lorebook.pk), fmt="character_book"
    )
    assert again == BOOK


def test_character_book_without_optional_fields_stays_without_them():
    book = {
        "extensions": {},
        "entries": [
            {"keys": ["a"], "content": "x", "extensions": {}, "enabled": True, "insertion_order": 1}
        ],
    }
    lorebook = services.lorebook_create(book=copy.deepcopy(book))
    assert services.lorebook_export(lorebook=lorebook, fmt="character_book") == book


def test_worldinfo_import_maps_every_option_and_exports_back_unchanged():
    lorebook = services.lorebook_import(data=copy.deepcopy(WORLDINFO))
    assert lorebook.name == "Harbour world"
    first = lorebook.entries.get(uid=0)
    assert first.keys == ["harbour", "docks"] and first.secondary_keys == ["fish"]
    assert first.extensions["position"] == 4 and first.extensions["depth"] == 2
    assert first.extensions["role"] == 1 and first.extensions["prevent_recursion"] is True
    assert first.extensions["match_whole_words"] is True
    assert lorebook.entries.get(uid=7).enabled is False
    exported = services.lorebook_export(lorebook=lorebook, fmt="worldinfo")
    assert exported["entries"]["0"] == WORLDINFO["entries"]["0"]
    for key, value in WORLDINFO["entries"]["7"].items():
        assert exported["entries"]["7"][key] == value
    assert exported["name"] == "Harbour world"
    # and it imports again to the same book
    again = services.lorebook_export(
        lorebook=services.lorebook_import(data=exported), fmt="worldinfo"
    )
    assert again == exported


def test_worldinfo_as_character_book_has_extensions_and_st_positions():
    lorebook = services.lorebook_import(data=copy.deepcopy(WORLDINFO))
    book = services.lorebook_export(lorebook=lorebook, fmt="character_book")
    assert "extensions" in book and all("extensions" in e for e in book["entries"])
    by_id = {e["id"]: e for e in book["entries"]}
    assert by_id[0]["position"] == "after_char" and by_id[0]["extensions"]["position"] == 4
    assert by_id[7]["position"] == "before_char" and by_id[7]["enabled"] is False


@pytest.mark.parametrize(
    ("book", "field"),
    [
        (
            {
                "entries": [
                    {"keys": ["ok"], "content": "a"},
                    {"keys": ["/(/"], "content": "b", "use_regex": True},
                ]
            },
            "data.entries.1.keys.0",
        ),
        ({"entries": [{"keys": "harbour", "content": "a"}]}, "data.entries.0.keys"),
        ({"entries": {"0": {"key": ["x"], "content": 5}}}, "data.entries.0.content"),
        (
            {"recursive_scanning": True, "extensions": {"max_recursion_steps": 0}, "entries": []},
            "data.extensions.max_recursion_steps",
        ),
        (
            {"entries": [{"keys": ["a"], "content": "x", "extensions": {"selectiveLogic": 7}}]},
            "data.entries.0.extensions.selectiveLogic",
        ),
    ],
)
def test_bad_books_name_the_field_and_store_nothing(book, field):
    with pytest.raises(ValidationFailed) as info:
        services.lorebook_import(data=book)
    assert info.value.errors[0]["field"] == field
    assert Lorebook.objects.count() == 0 and LoreEntry.objects.count() == 0


def test_update_replaces_entries_and_refreshes_the_compiled_cache():
    lorebook = services.lorebook_create(
        book={"entries": [{"keys": ["moon"], "content": "m"}]}, name="b"
    )
    test = services.lorebook_test(lorebook=lorebook, text="the moon")
    assert len(test["activated"]) == 1
    services.lorebook_update(
        lorebook=lorebook, changes={"entries": [{"keys": ["sun"], "content": "s"}]}
    )
    lorebook.refresh_from_db()
    assert services.lorebook_test(lorebook=lorebook, text="the moon")["activated"] == []
    assert len(services.lorebook_test(lorebook=lorebook, text="the sun")["activated"]) == 1


@pytest.mark.django_db(transaction=True)
def test_rpc_crud_attach_and_export(rpc, demo):
    created = rpc(
        "lorebook.create",
        {
            "name": "Coast",
            "entries": [{"keys": ["reef"], "content": "Sharp reef."}],
            "scan_depth": 4,
        },
    )["result"]
    assert created["name"] == "Coast" and created["scan_depth"] == 4
    assert created["entries"][0]["keys"] == ["reef"] and created["entries"][0]["entry_id"]
    book_id = created["id"]
    got = rpc("lorebook.get", {"lorebook_id": book_id})["result"]
    assert got == created
    updated = rpc("lorebook.update", {"lorebook_id": book_id, "token_budget": 50})["result"]
    assert updated["token_budget"] == 50 and updated["entries"][0]["keys"] == ["reef"]
    attached = rpc("lorebook.attach", {"lorebook_id": book_id, "persona_id": "elias"})["result"]
    assert attached["persona_ids"] == [str(demo["elias"].id)]
    listed = rpc("lorebook.list", {"persona_id": "elias"})["result"]
    assert [b["id"] for b in listed["lorebooks"]] == [book_id]
    assert rpc("lorebook.list", {"persona_id": "pip"})["result"]["lorebooks"] == []
    exported = rpc("lorebook.export", {"lorebook_id": book_id})["result"]["data"]
    assert next(iter(exported["entries"].values()))["key"] == ["reef"]
    cb = rpc("lorebook.export", {"lorebook_id": book_id, "format": "character_book"})["result"][
        "data"
    ]
    assert cb["entries"][0]["content"] == "Sharp reef." and "extensions" in cb
    detached = rpc("lorebook.detach", {"lorebook_id": book_id, "persona_id": "elias"})["result"]
    assert detached["persona_ids"] == []
    assert rpc("lorebook.delete", {"lorebook_id": book_id})["result"] == {"deleted": True}
    missing = rpc("lorebook.get", {"lorebook_id": book_id})
    assert missing["error"]["code"] == -32007  # the generic not-found code


@pytest.mark.django_db(transaction=True)
def test_rpc_import_bad_regex_is_invalid_params_naming_the_field(rpc):
    response = rpc(
        "lorebook.import", {"data": {"entries": {"0": {"key": ["/[a-/"], "content": "x"}}}}
    )
    assert response["error"]["code"] == -32602
    assert response["error"]["data"]["errors"][0]["field"] == "data.entries.0.keys.0"
    assert Lorebook.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_rpc_unknown_param_rejected(rpc):
    response = rpc("lorebook.create", {"name": "x", "entries": [], "scan_dept": 3})
    assert response["error"]["code"] == -32602
    assert response["error"]["data"]["errors"][0]["field"] == "scan_dept"


@pytest.mark.django_db(transaction=True)
def test_rest_parity_with_rpc(api_as, rpc, demo):
    client = api_as("write")
    created = client.post(
        "/api/lorebooks/",
        {"name": "Coast", "entries": [{"keys": ["reef"], "content": "r"}]},
        format="json",
    )
    assert created.status_code == 201, created.content
    book_id = created.json()["id"]
    assert (
        client.get(f"/api/lorebooks/{book_id}/").json()
        == rpc("lorebook.get", {"lorebook_id": book_id})["result"]
    )
    patched = client.patch(
        f"/api/lorebooks/{book_id}/", {"recursive_scanning": True}, format="json"
    )
    assert patched.json()["recursive_scanning"] is True
    attach = client.post(
        f"/api/lorebooks/{book_id}/attach/", {"persona_id": "elias"}, format="json"
    )
    assert attach.json()["persona_ids"] == [str(demo["elias"].id)]
    listed = client.get("/api/lorebooks/?persona_id=elias").json()
    assert [b["id"] for b in listed["lorebooks"]] == [book_id]
    exported = client.get(f"/api/lorebooks/{book_id}/export/?format=character_book")
    assert exported.status_code == 200 and exported.json()["data"]["entries"][0]["keys"] == ["reef"]
    wi = client.get(f"/api/lorebooks/{book_id}/export/").json()["data"]
    imported = client.post("/api/lorebooks/import/", {"data": wi, "name": "Copy"}, format="json")
    assert imported.status_code == 201 and imported.json()["name"] == "Copy"
    bad = client.post(
        "/api/lorebooks/import/",
        {"data": {"entries": [{"keys": ["/(/"], "content": "x", "use_regex": True}]}},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["data"]["errors"][0]["field"] == "data.entries.0.keys.0"
    assert client.delete(f"/api/lorebooks/{book_id}/").json()["deleted"] is True


@pytest.mark.django_db(transaction=True)
def test_attach_to_a_room(rpc, demo):
    from rooms.models import Room

    room = Room.objects.create(name="Tavern")
    book = rpc("lorebook.create", {"name": "World", "entries": []})["result"]
    attached = rpc("lorebook.attach", {"lorebook_id": book["id"], "room_id": str(room.id)})[
        "result"
    ]
    assert attached["room_ids"] == [str(room.id)]
    listed = rpc("lorebook.list", {"room_id": str(room.id)})["result"]["lorebooks"]
    assert [b["id"] for b in listed] == [book["id"]]
    missing = rpc(
        "lorebook.attach",
        {"lorebook_id": book["id"], "room_id": "00000000-0000-0000-0000-000000000000"},
    )
    assert missing["error"]["code"] == -32005


def test_admin_test_box_shows_which_entries_fire_and_why(admin_client):
    lorebook = services.lorebook_create(book=copy.deepcopy(BOOK))
    url = f"/admin/lore/lorebook/{lorebook.pk}/test/"
    assert admin_client.get(url).status_code == 200
    page = admin_client.post(
        url, {"history": "", "text": "A kraken took the ship!"}
    ).content.decode()
    assert "kraken" in page and "recursion" in page and "Drowned Bell" in page
    assert "constant" in page
    change = admin_client.get(f"/admin/lore/lorebook/{lorebook.pk}/change/").content.decode()
    assert "Test this text" in change and "Lantern Guild" in change


def test_admin_imports_a_worldinfo_file(admin_client):
    import json

    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("harbour.json", json.dumps(WORLDINFO).encode(), "application/json")
    response = admin_client.post("/admin/lore/lorebook/import/", {"file": upload, "name": ""})
    assert response.status_code == 302
    assert Lorebook.objects.get().entries.count() == 2
    bad = SimpleUploadedFile(
        "bad.json", b'{"entries": {"0": {"key": ["/(/"]}}}', "application/json"
    )
    page = admin_client.post("/admin/lore/lorebook/import/", {"file": bad, "name": "x"})
    assert page.status_code == 200 and "data.entries.0.keys.0" in page.content.decode()
    assert Lorebook.objects.count() == 1
