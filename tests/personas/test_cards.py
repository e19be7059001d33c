import base64
import io
import json

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from personas import services
from personas.cards import persona_to_card
from personas.models import Persona

pytestmark = pytest.mark.django_db

V2 = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Mira",
        "description": "A lighthouse keeper.",
        "personality": "Quiet, dry humour.",
        "scenario": "A storm is coming.",
        "first_mes": "Mind the steps.",
        "mes_example": "<START>{{char}}: Lamp's lit.",
        "creator_notes": "keep me",
        "system_prompt": "Stay terse.",
        "tags": ["sea", "npc"],
        "creator": "someone",
        "extensions": {"depth_prompt": {"depth": 4, "prompt": "x"}},
    },
}


def _card_png(card: dict, keyword: str = "chara") -> bytes:
    info = PngInfo()
    info.add_text(keyword, base64.b64encode(json.dumps(card).encode()).decode())
    buf = io.BytesIO()
    Image.new("RGB", (6, 6), (10, 20, 30)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def test_import_v2_maps_fields_and_keeps_unknown_ones():
    persona = services.persona_import(card=V2)
    assert (persona.name, persona.greeting, persona.background) == (
        "Mira",
        "Mind the steps.",
        "A storm is coming.",
    )
    assert persona.speaking_style == "Quiet, dry humour."
    assert persona.extra["card"]["mes_example"].startswith("<START>")
    exported = persona_to_card(persona, fmt="ccv2")["data"]
    assert exported["creator_notes"] == "keep me"
    assert exported["extensions"]["depth_prompt"]["depth"] == 4
    assert sorted(exported["tags"]) == ["npc", "sea"]


def test_export_import_round_trip_keeps_big_five_and_goals(demo):
    card = persona_to_card(demo["elias"])
    assert card["spec"] == "chara_card_v3"
    Persona.objects.filter(slug="elias").delete()
    again = services.persona_import(card=card)
    assert again.slug == "elias"
    assert again.personality == pytest.approx(
        {
            "openness": 0.9,
            "conscientiousness": 0.95,
            "extraversion": 0.2,
            "agreeableness": 0.6,
            "neuroticism": 0.4,
        }
    )
    assert "complete the Great Catalogue" in again.goals


def test_png_card_becomes_persona_with_avatar(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    persona = services.persona_import(png=_card_png(V2))
    assert persona.name == "Mira" and persona.avatar.name.startswith("avatars/")


async def test_rpc_import_and_export(rpc_connect, make_key, transactional_db):
    from asgiref.sync import sync_to_async

    key = await sync_to_async(make_key)("write")
    client = await rpc_connect(token=key)
    png = base64.b64encode(_card_png(V2, "ccv3")).decode()
    created = await client.result("persona.import", {"png_base64": png})
    assert created["name"] == "Mira" and created["avatar_url"]
    exported = await client.result(
        "persona.export", {"persona_id": created["slug"], "format": "ccv2"}
    )
    assert exported["card"]["spec"] == "chara_card_v2"
    assert exported["card"]["data"]["first_mes"] == "Mind the steps."
    bad = await client.call("persona.import", {"card": {"spec": "nope"}})
    assert bad["error"]["code"] == -32602
    assert bad["error"]["data"]["errors"][0]["field"] == "card.spec"
    not_png = await client.call("persona.import", {"png_base64": base64.b64encode(b"xx").decode()})
    assert not_png["error"]["data"]["errors"][0]["field"] == "png_base64"


def test_rest_import_and_export(api_as, demo):
    client = api_as("write")
    created = client.post("/api/personas/import/", {"card": V2}, format="json")
    assert created.status_code == 201, created.json()
    card = client.get(f"/api/personas/{created.json()['slug']}/export/").json()["card"]
    assert card["spec"] == "chara_card_v3" and card["data"]["name"] == "Mira"
    missing = client.post("/api/personas/import/", {}, format="json")
    assert missing.status_code == 400
