"""The team's own test cards (written for these tests from the V1/V2/V3 specs).

- ``V1``: a flat TavernAI-era card;
- ``V2``: a card whose ``character_book`` uses every entry option, with root-level V1 mirror
  fields, tags in mixed case, SillyTavern ``extensions`` (``depth_prompt``, ``talkativeness``,
  ``world``, ``fav``) and fields no spec knows;
- ``V3``: a card with assets (``embeded://`` URIs for CHARX) and V3-only fields;
- ``long_card()``: a V2 card with a 40,000-character description.

PNG and CHARX forms are built here with PIL and zipfile directly, never with the code under
test.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import zipfile

from PIL import Image
from PIL.PngImagePlugin import PngInfo

V1 = {
    "name": "Old Tom",
    "description": "{{char}} is a ferryman on the grey river. He has rowed for forty years.",
    "personality": "gruff, superstitious, kind underneath",
    "scenario": "{{user}} needs to cross the river at dusk.",
    "first_mes": "Coin first, {{user}}. The river doesn't row itself.",
    "mes_example": "<START>\n{{user}}: Is it safe?\n{{char}}: Nothing on water is safe. Sit down.",
    "talkativeness": "0.4",
    "fav": False,
}

ENTRIES = [
    {
        "id": 1,
        "keys": ["Lantern Guild", "guild"],
        "content": "The Lantern Guild keeps every lighthouse on the coast.",
        "extensions": {
            "position": 0,
            "depth": 4,
            "probability": 100,
            "useProbability": True,
            "selectiveLogic": 0,
            "exclude_recursion": False,
            "prevent_recursion": False,
            "delay_until_recursion": False,
            "display_index": 0,
            "group": "",
            "group_override": False,
            "group_weight": 100,
            "scan_depth": None,
            "case_sensitive": None,
            "match_whole_words": None,
            "automation_id": "",
            "role": 0,
            "vectorized": False,
        },
        "enabled": True,
        "insertion_order": 100,
        "case_sensitive": False,
        "name": "guild",
        "priority": 10,
        "comment": "the guild",
        "selective": False,
        "secondary_keys": [],
        "constant": False,
        "position": "before_char",
        "use_regex": False,
    },
    {
        "id": 2,
        "keys": ["storm"],
        "content": "Storms here come from the west and last three days.",
        "extensions": {"position": 1, "selectiveLogic": 3},
        "enabled": True,
        "insertion_order": 200,
        "selective": True,
        "secondary_keys": ["west", "days"],
        "position": "after_char",
        "comment": "AND ALL",
    },
    {
        "id": 3,
        "keys": ["/\\bkrak(en|ens)\\b/i"],
        "content": "The kraken sleeps under the reef; sailors whisper about the Drowned Bell.",
        "extensions": {"position": 4, "depth": 1, "role": 0},
        "enabled": True,
        "insertion_order": 300,
        "use_regex": True,
        "comment": "regex, at depth, recursion source",
    },
    {
        "id": 4,
        "keys": ["Drowned Bell"],
        "content": "The Drowned Bell rings when a ship is lost.",
        "extensions": {"position": 1, "delay_until_recursion": True},
        "enabled": True,
        "insertion_order": 310,
        "comment": "only by recursion",
    },
    {
        "id": 5,
        "keys": [],
        "content": "{{char}} always counts the ships in the harbour at dawn.",
        "extensions": {"position": 1},
        "enabled": True,
        "insertion_order": 50,
        "constant": True,
        "comment": "constant",
    },
    {
        "id": 6,
        "keys": ["Mira"],
        "content": "Mira's mother was also a keeper.",
        "extensions": {"position": 1, "match_whole_words": True},
        "enabled": True,
        "insertion_order": 120,
        "case_sensitive": True,
        "comment": "case sensitive, whole words",
    },
    {
        "id": 7,
        "keys": ["ghost"],
        "content": "There is no ghost. It is the wind.",
        "extensions": {"position": 1},
        "enabled": False,
        "insertion_order": 130,
        "comment": "disabled",
    },
    {
        "id": 8,
        "keys": ["lamp"],
        "content": "The lamp burns whale oil.",
        "extensions": {"position": 1, "selectiveLogic": 2},
        "enabled": True,
        "insertion_order": 140,
        "selective": True,
        "secondary_keys": ["electric"],
        "comment": "NOT ANY",
    },
    {
        "id": 9,
        "keys": ["tide"],
        "content": "Low tide uncovers the old causeway.",
        "extensions": {"position": 1, "selectiveLogic": 1},
        "enabled": True,
        "insertion_order": 150,
        "selective": True,
        "secondary_keys": ["moon", "night"],
        "comment": "NOT ALL",
    },
    {
        "id": 10,
        "keys": ["gull"],
        "content": "Gulls steal bread from the keeper's window.",
        "extensions": {"position": 1, "selectiveLogic": 0},
        "enabled": True,
        "insertion_order": 160,
        "selective": True,
        "secondary_keys": ["bread", "window"],
        "comment": "AND ANY",
    },
]

V2 = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "name": "Mira",
    "description": "{{char}} keeps the lighthouse at Gull Point.",
    "personality": "quiet, dry humour",
    "scenario": "A storm is coming to Gull Point.",
    "first_mes": "Mind the steps, {{user}}.",
    "mes_example": "<START>\n{{user}}: Is the lamp lit?\n{{char}}: Always.",
    "avatar": "none",
    "chat": "Mira - 2026-11-30",
    "talkativeness": "0.6",
    "fav": True,
    "tags": ["Sea", "NPC", "slow burn"],
    "create_date": "2026-11-30 @12h 01m 02s 003ms",
    "data": {
        "name": "Mira",
        "description": "{{char}} keeps the lighthouse at Gull Point.",
        "personality": "quiet, dry humour",
        "scenario": "A storm is coming to Gull Point.",
        "first_mes": "Mind the steps, {{user}}.",
        "mes_example": "<START>\n{{user}}: Is the lamp lit?\n{{char}}: Always.",
        "creator_notes": "Written by the Persona-MCP team for tests.",
        "system_prompt": "{{original}} Write as {{char}}, terse and wry.",
        "post_history_instructions": "Stay in {{char}}'s voice; never break the fourth wall.",
        "alternate_greetings": [
            "Another storm, {{user}}. Tea?",
            "You're late. The lamp waits for no one.",
        ],
        "character_book": {
            "name": "Gull Point",
            "description": "the lighthouse world",
            "scan_depth": 3,
            "token_budget": 400,
            "recursive_scanning": True,
            "extensions": {"max_recursion_steps": 3},
            "entries": ENTRIES,
        },
        "tags": ["Sea", "NPC", "slow burn"],
        "creator": "persona-mcp team",
        "character_version": "1.2",
        "extensions": {
            "talkativeness": "0.6",
            "fav": True,
            "world": "Gull Point",
            "depth_prompt": {
                "prompt": "{{char}} smells of lamp oil.",
                "depth": 4,
                "role": "system",
            },
            "regex_scripts": [],
        },
        "x_unknown_field": {"kept": [1, 2, 3]},
    },
}

V3 = {
    "spec": "chara_card_v3",
    "spec_version": "3.0",
    "data": {
        "name": "Quill",
        "description": "A clockwork scribe.",
        "personality": "precise",
        "scenario": "The archive at night.",
        "first_mes": "State your request.",
        "mes_example": "",
        "creator_notes": "",
        "system_prompt": "",
        "post_history_instructions": "",
        "alternate_greetings": [],
        "group_only_greetings": ["The scribe looks up from the group's table."],
        "tags": ["Steampunk"],
        "creator": "persona-mcp team",
        "character_version": "3",
        "extensions": {},
        "nickname": "Q",
        "creator_notes_multilingual": {"en": "", "fr": "Un scribe mécanique."},
        "source": ["persona-mcp-tests"],
        "creation_date": 1764547200,
        "modification_date": 1764633600,
        "assets": [
            {
                "type": "icon",
                "uri": "embeded://assets/icon/images/main.png",
                "name": "main",
                "ext": "png",
            },
            {
                "type": "background",
                "uri": "embeded://assets/background/images/archive.png",
                "name": "archive",
                "ext": "png",
            },
            {"type": "emotion", "uri": "ccdefault:", "name": "neutral", "ext": "png"},
        ],
    },
}


def long_card() -> dict:
    card = copy.deepcopy(V2)
    text = "The lighthouse has many rooms. " * 1400
    card["data"]["description"] = text[:40_000]
    card["data"]["name"] = "Long Mira"
    card["data"].pop("character_book")
    return card


def image_bytes(color=(10, 20, 30), size=(8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def b64json(card: dict) -> str:
    return base64.b64encode(json.dumps(card).encode()).decode()


def card_png(
    *, chara: dict | None = None, ccv3: dict | None = None, raw: dict | None = None
) -> bytes:
    """A PNG with ``chara`` / ``ccv3`` tEXt chunks (``raw``: keyword -> literal chunk text)."""
    info = PngInfo()
    if chara is not None:
        info.add_text("chara", b64json(chara))
    if ccv3 is not None:
        info.add_text("ccv3", b64json(ccv3))
    for keyword, text in (raw or {}).items():
        info.add_text(keyword, text)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (40, 50, 60)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def charx(card: dict, assets: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("card.json", json.dumps(card))
        for path, data in (assets or {}).items():
            zf.writestr(path, data)
    return buf.getvalue()


V3_ASSETS = {
    "assets/icon/images/main.png": image_bytes((200, 10, 10)),
    "assets/background/images/archive.png": image_bytes((10, 200, 10), (16, 9)),
}
