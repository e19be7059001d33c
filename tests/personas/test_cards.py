"""Character cards V1/V2/V3, lossless, in JSON, PNG and CHARX, through every door."""

import base64
import copy
import io
import json
import zipfile

import pytest
from PIL import Image

from lore.models import Lorebook, LoreEntry
from personamcp.exceptions import ValidationFailed
from personas import services
from personas.cards import persona_to_card, validate_exported_card
from personas.models import Persona
from tests.lore import cards as team

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _chunks(png: bytes) -> dict:
    image = Image.open(io.BytesIO(png))
    image.load()
    return {k: json.loads(base64.b64decode(v)) for k, v in image.text.items()}


def test_v1_card_keeps_root_fields_and_exports_a_valid_v2():
    persona = services.persona_import(card=copy.deepcopy(team.V1))
    assert (persona.name, persona.speaking_style) == ("Old Tom", team.V1["personality"])
    card = persona_to_card(persona, fmt="ccv2")
    assert validate_exported_card(card) == []
    for key, value in team.V1.items():
        assert card[key] == value, key
    assert card["data"]["mes_example"] == team.V1["mes_example"]
    assert validate_exported_card(persona_to_card(persona)) == []


def test_v2_round_trip_is_exact_field_by_field():
    persona = services.persona_import(card=copy.deepcopy(team.V2))
    exported = persona_to_card(Persona.objects.get(pk=persona.pk), fmt="ccv2")
    for key in team.V2:
        assert exported[key] == team.V2[key], key
    for key in team.V2["data"]:
        assert exported["data"][key] == team.V2["data"][key], key
    assert exported == team.V2
    assert validate_exported_card(exported) == []


def test_v2_card_book_becomes_the_personas_own_lorebook():
    persona = services.persona_import(card=copy.deepcopy(team.V2))
    book = Lorebook.objects.get(owner=persona)
    assert book.name == "Gull Point" and book.entries.count() == len(team.ENTRIES)
    assert book.recursive_scanning is True and book.scan_depth == 3


def test_ccv3_export_of_a_v2_card_passes_the_v3_rules():
    persona = services.persona_import(card=copy.deepcopy(team.V2))
    card = persona_to_card(persona, fmt="ccv3")
    assert card["spec"] == "chara_card_v3" and validate_exported_card(card) == []
    assert all("use_regex" in e for e in card["data"]["character_book"]["entries"])
    assert card["data"]["alternate_greetings"] == team.V2["data"]["alternate_greetings"]
    assert isinstance(card["data"]["creation_date"], int)


def test_native_persona_export_has_every_required_field_and_our_extension(demo):
    card = persona_to_card(demo["elias"], fmt="ccv2")
    assert validate_exported_card(card) == []
    assert card["data"]["extensions"]["persona_mcp"]["slug"] == "elias"
    assert card["name"] == card["data"]["name"]  # V1 mirror at the root


def test_big_five_and_goals_survive_a_round_trip(demo):
    card = persona_to_card(demo["elias"])
    Persona.objects.filter(slug="elias").delete()
    again = services.persona_import(card=card)
    assert again.slug == "elias"
    assert again.personality["openness"] == pytest.approx(0.9)
    assert "complete the Great Catalogue" in again.goals


def test_tags_as_written_until_the_persona_changes_them():
    persona = services.persona_import(card=copy.deepcopy(team.V2))
    assert sorted(t.name for t in persona.tags.all()) == ["npc", "sea", "slow burn"]
    assert persona_to_card(persona)["data"]["tags"] == ["Sea", "NPC", "slow burn"]
    services.persona_update(persona=persona, tags=["harbour"])
    assert persona_to_card(persona)["data"]["tags"] == ["harbour"]


def test_v3_charx_with_assets_round_trips(media):
    raw = team.charx(team.V3, team.V3_ASSETS)
    persona = services.persona_import(charx=raw)
    assert persona.avatar  # the main icon
    exported = persona_to_card(Persona.objects.get(pk=persona.pk), fmt="ccv3")
    assert exported == team.V3
    charx = zipfile.ZipFile(io.BytesIO(services_export(persona, "charx")))
    assert json.loads(charx.read("card.json")) == team.V3
    for path, data in team.V3_ASSETS.items():
        assert charx.read(path) == data


def services_export(persona, as_):
    from personas.cards import persona_export

    result = persona_export(persona, fmt="ccv3", as_=as_)
    return base64.b64decode(result["data_base64"])


def test_png_prefers_v3_and_exports_both_chunks():
    other = copy.deepcopy(team.V2)
    other["data"]["name"] = "V2 name"
    png = team.card_png(chara=other, ccv3=copy.deepcopy(team.V3))
    persona = services.persona_import(png=png)
    assert persona.name == "Quill" and persona.avatar
    chunks = _chunks(services_export(persona, "png"))
    assert chunks["chara"]["spec"] == "chara_card_v2" and chunks["ccv3"]["spec"] == "chara_card_v3"
    assert chunks["ccv3"]["data"]["assets"] == team.V3["data"]["assets"]
    assert (
        validate_exported_card(chunks["chara"]) == []
        and validate_exported_card(chunks["ccv3"]) == []
    )


def test_exported_png_imports_back_to_the_same_card():
    persona = services.persona_import(card=copy.deepcopy(team.V2))
    png = services_export(persona, "png")
    persona.delete()
    again = persona_to_card(services.persona_import(png=png), fmt="ccv2")
    # the V3 chunk (preferred) carries use_regex on every entry, as V3 requires
    for entry, original in zip(
        again["data"]["character_book"]["entries"], team.ENTRIES, strict=True
    ):
        if "use_regex" not in original:
            assert entry.pop("use_regex") is False
    assert again == team.V2


def test_png_export_without_avatar_generates_an_image(demo):
    png = services_export(demo["pip"], "png")
    image = Image.open(io.BytesIO(png))
    assert image.size == (400, 600) and set(image.text) == {"chara", "ccv3"}


def test_long_card_imports_whole():
    card = team.long_card()
    persona = services.persona_import(card=card)
    assert len(persona.description) == 40_000
    assert (
        persona_to_card(persona, fmt="ccv2")["data"]["description"] == card["data"]["description"]
    )


def _nothing_stored(media, before=0):
    assert Persona.objects.count() == before
    assert Lorebook.objects.count() == 0 and LoreEntry.objects.count() == 0
    assert not list((media / "cards").rglob("*")) if (media / "cards").exists() else True


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"png": team.card_png(chara=team.V2)[:200]}, "png_base64", "broken"),
        ({"png": b"GIF89a not a png"}, "png_base64", "not a PNG"),
        ({"png": team.card_png(raw={"chara": "%%% not base64 %%%"})}, "png_base64", "base64 JSON"),
        (
            {"png": team.card_png(raw={"ccv3": base64.b64encode(b"[1, 2").decode()})},
            "png_base64",
            "base64 JSON",
        ),
        ({"png": team.image_bytes()}, "png_base64", "no character card"),
        ({"charx": b"PK\x03\x04 broken"}, "charx_base64", "not a CHARX"),
        ({"charx": team.charx({"spec": "chara_card_v3"}, {})}, "card.data", "object"),
        ({"card": {"spec": "chara_card_v2", "data": {"name": ""}}}, "card.data.name", "required"),
        (
            {"card": {"spec": "chara_card_v2", "data": {"name": "x", "tags": "a,b"}}},
            "card.data.tags",
            "list",
        ),
        ({"card": {"spec": "chara_card_v9", "data": {}}}, "card.spec", "chara_card_v2"),
    ],
)
def test_bad_cards_name_the_field_and_store_nothing(kwargs, field, words, media):
    with pytest.raises(ValidationFailed) as info:
        services.persona_import(**kwargs)
    error = info.value.errors[0]
    assert error["field"] == field and words in error["message"], error
    _nothing_stored(media)


def test_zip_bomb_charx_is_refused_before_anything_is_stored(media):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        card = copy.deepcopy(team.V3)
        card["data"]["assets"] = [
            {
                "type": "icon",
                "uri": "embeded://assets/icon/images/main.png",
                "name": "main",
                "ext": "png",
            }
        ]
        zf.writestr("card.json", json.dumps(card))
        zf.writestr("assets/icon/images/main.png", b"\0" * (40 * 1024 * 1024))
    with pytest.raises(ValidationFailed) as info:
        services.persona_import(charx=buf.getvalue())
    assert info.value.errors[0]["field"] == "charx_base64"
    _nothing_stored(media)


def test_bad_regex_or_endless_recursion_in_the_card_book_stores_nothing(media):
    card = copy.deepcopy(team.V2)
    card["data"]["character_book"]["entries"][3]["keys"] = ["/([unclosed/"]
    with pytest.raises(ValidationFailed) as info:
        services.persona_import(card=card)
    assert info.value.errors[0]["field"] == "card.data.character_book.entries.3.keys.0"
    card = copy.deepcopy(team.V2)
    card["data"]["character_book"]["extensions"]["max_recursion_steps"] = 0
    with pytest.raises(ValidationFailed) as info:
        services.persona_import(card=card)
    assert (
        info.value.errors[0]["field"] == "card.data.character_book.extensions.max_recursion_steps"
    )
    _nothing_stored(media)


def test_asset_missing_from_the_charx_is_named(media):
    with pytest.raises(ValidationFailed) as info:
        services.persona_import(charx=team.charx(team.V3, {}))
    assert "embeded://assets/icon/images/main.png" in info.value.errors[0]["message"]
    _nothing_stored(media)


# --- the doors ------------------------------------------------------------------------------


def test_rest_multipart_png_charx_and_json(api_as):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = api_as("write")
    for name, raw in (
        ("mira.png", team.card_png(chara=team.V2)),
        ("quill.charx", team.charx(team.V3, team.V3_ASSETS)),
        ("tom.json", json.dumps(team.V1).encode()),
    ):
        response = client.post(
            "/api/personas/import/", {"file": SimpleUploadedFile(name, raw)}, format="multipart"
        )
        assert response.status_code == 201, (name, response.content)
    assert sorted(Persona.objects.values_list("name", flat=True)) == ["Mira", "Old Tom", "Quill"]
    bad = client.post(
        "/api/personas/import/", {"file": SimpleUploadedFile("x.txt", b"hello")}, format="multipart"
    )
    assert bad.status_code == 400 and bad.json()["error"]["data"]["errors"][0]["field"] == "file"


def test_rest_export_format_and_as(api_as):
    client = api_as("write")
    created = client.post("/api/personas/import/", {"card": team.V2}, format="json")
    assert created.status_code == 201
    pid = created.json()["id"]
    v2 = client.get(f"/api/personas/{pid}/export/?format=ccv2")
    assert v2.status_code == 200 and v2.json()["card"] == team.V2
    v3 = client.get(f"/api/personas/{pid}/export/?format=ccv3")
    assert v3.json()["card"]["spec"] == "chara_card_v3"
    png = client.get(f"/api/personas/{pid}/export/?format=ccv2&as=png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert _chunks(png.content)["chara"] == team.V2
    charx = client.get(f"/api/personas/{pid}/export/?as=charx")
    assert charx["Content-Type"] == "application/zip"
    assert (
        json.loads(zipfile.ZipFile(io.BytesIO(charx.content)).read("card.json"))["spec"]
        == "chara_card_v3"
    )
    bad = client.get(f"/api/personas/{pid}/export/?format=ccv9")
    assert bad.status_code == 400 and bad.json()["error"]["data"]["errors"][0]["field"] == "format"


def test_rest_export_format_works_with_drfs_url_format_override_off(api_as, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "URL_FORMAT_OVERRIDE": None}
    client = api_as("write")
    pid = client.post("/api/personas/import/", {"card": team.V1}, format="json").json()["id"]
    assert (
        client.get(f"/api/personas/{pid}/export/?format=ccv2").json()["card"]["spec"]
        == "chara_card_v2"
    )


@pytest.mark.django_db(transaction=True)
def test_rpc_import_png_and_charx_and_export_as_png(rpc_http):
    rpc = rpc_http
    png = team.card_png(chara=team.V2)
    result = rpc("persona.import", {"png_base64": base64.b64encode(png).decode()})["result"]
    assert result["name"] == "Mira"
    charx = team.charx(team.V3, team.V3_ASSETS)
    quill = rpc("persona.import", {"charx_base64": base64.b64encode(charx).decode()})["result"]
    assert quill["avatar_url"]
    out = rpc("persona.export", {"persona_id": result["id"], "format": "ccv2", "as": "png"})[
        "result"
    ]
    assert out["media_type"] == "image/png"
    assert _chunks(base64.b64decode(out["data_base64"]))["chara"] == team.V2
    as_json = rpc("persona.export", {"persona_id": quill["id"]})["result"]
    assert as_json["card"] == team.V3
    bad = rpc("persona.import", {"png_base64": "!!!"})
    assert (
        bad["error"]["code"] == -32602
        and bad["error"]["data"]["errors"][0]["field"] == "png_base64"
    )


# --- the admin ------------------------------------------------------------------------------


def test_admin_upload_form_imports_a_card_and_names_bad_fields(admin_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    assert "Import card" in admin_client.get("/admin/personas/persona/").content.decode()
    url = "/admin/personas/persona/import-card/"
    upload = SimpleUploadedFile("mira.png", team.card_png(chara=team.V2), "image/png")
    response = admin_client.post(url, {"file": upload})
    assert response.status_code == 302
    persona = Persona.objects.get(name="Mira")
    assert response["Location"].endswith(f"/admin/personas/persona/{persona.pk}/change/")
    assert Lorebook.objects.filter(owner=persona).exists()
    bad = SimpleUploadedFile("bad.png", team.card_png(raw={"chara": "@@"}), "image/png")
    page = admin_client.post(url, {"file": bad}).content.decode()
    assert "file: the chara chunk is not base64 JSON" in page
    assert Persona.objects.count() == 1


def test_admin_export_actions(admin_client):
    mira = services.persona_import(card=copy.deepcopy(team.V2))
    tom = services.persona_import(card=copy.deepcopy(team.V1))
    url = "/admin/personas/persona/"
    one = admin_client.post(url, {"action": "export_card_png", "_selected_action": [mira.pk]})
    assert one["Content-Type"] == "image/png" and _chunks(one.content)["chara"] == team.V2
    both = admin_client.post(
        url, {"action": "export_card_json_v2", "_selected_action": [mira.pk, tom.pk]}
    )
    archive = zipfile.ZipFile(io.BytesIO(both.content))
    assert sorted(archive.namelist()) == sorted([f"{mira.slug}.json", f"{tom.slug}.json"])
    assert json.loads(archive.read(f"{mira.slug}.json")) == team.V2
    charx = admin_client.post(url, {"action": "export_card_charx", "_selected_action": [tom.pk]})
    assert json.loads(zipfile.ZipFile(io.BytesIO(charx.content)).read("card.json"))["spec"] == (
        "chara_card_v3"
    )
