"""A real server: an 8 MiB card PNG imported over /mcp (WebSocket) and exported back."""

from __future__ import annotations

import base64
import io
import json
import os

import pytest
import websockets
from asgiref.sync import sync_to_async
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.lore import cards as team

pytestmark = pytest.mark.django_db(transaction=True)
MiB = 1024 * 1024


def _big_card_png() -> bytes:
    """A card PNG of just under 8 MiB: noise pixels (they do not compress) and a V2 chunk."""
    side = 1640
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    info = PngInfo()
    info.add_text("chara", team.b64json(team.V2))
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info, compress_level=1)
    return buf.getvalue()


async def test_an_8_mib_card_png_over_mcp(live_server_proc, make_key, settings, tmp_path):
    key = await sync_to_async(make_key)("write")
    server = live_server_proc(
        {
            "PERSONAMCP_MAX_FRAME_BYTES": str(16 * MiB),
            "PERSONAMCP_MEDIA_ROOT": str(tmp_path / "media"),
        }
    )
    png = _big_card_png()
    assert 7 * MiB < len(png) <= 8 * MiB
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "persona.import",
        "params": {"png_base64": base64.b64encode(png).decode()},
    }
    headers = {"Authorization": f"Bearer {key}"}
    async with websockets.connect(server.ws, max_size=None, additional_headers=headers) as ws:
        await ws.send(json.dumps(request))
        answer = json.loads(await ws.recv())
        assert "result" in answer, answer
        persona = answer["result"]
        assert persona["name"] == "Mira" and persona["avatar_url"]
        await ws.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 2,
                    "method": "persona.export",
                    "params": {"persona_id": persona["id"], "format": "ccv2", "as": "png"},
                }
            )
        )
        exported = json.loads(await ws.recv())["result"]
        image = Image.open(io.BytesIO(base64.b64decode(exported["data_base64"])))
        assert json.loads(base64.b64decode(image.text["chara"])) == team.V2
        assert max(image.size) <= 1536  # the avatar, not the 8 MiB original
