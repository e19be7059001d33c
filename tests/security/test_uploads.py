"""Upload attacks: whatever a client uploads as an avatar, only a re-encoded image is stored,
under a name the server chose, and media are never served as a document of this origin."""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.conftest import persona_admin_form
from tests.security.conftest import HTML_PAYLOAD, image_bytes, polyglot_jpeg, polyglot_png

pytestmark = pytest.mark.django_db


def _stored(persona) -> tuple[str, bytes]:
    persona.refresh_from_db()
    with persona.avatar.open("rb") as f:
        return persona.avatar.name, f.read()


def _assert_clean_image(name: str, data: bytes, fmt: str, ext: str) -> None:
    assert name.startswith("avatars/") and name.endswith(f".{ext}"), name
    assert b"<script" not in data and b"<html" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == fmt


def _upload(api, slug: str, name: str, data: bytes, content_type: str = "text/html"):
    return api.post(
        f"/api/personas/{slug}/avatar/",
        {"avatar": SimpleUploadedFile(name, data, content_type=content_type)},
        format="multipart",
    )


def test_rest_polyglot_png_named_html_is_stored_as_reencoded_png(demo, api_as, media_root):
    api = api_as("write", personas=[demo["alice"]])
    response = _upload(api, "alice", "x.html", polyglot_png())
    assert response.status_code == 200, response.content
    name, data = _stored(demo["alice"])
    _assert_clean_image(name, data, "PNG", "png")
    assert not name.endswith("x.html") and "html" not in name
    assert response.json()["avatar_url"].endswith(name.removeprefix("avatars/"))


def test_rest_jpeg_with_script_comment_is_reencoded(demo, api_as, media_root):
    response = _upload(api_as("write"), "rook", "face.svg", polyglot_jpeg(), "image/svg+xml")
    assert response.status_code == 200, response.content
    name, data = _stored(demo["rook"])
    _assert_clean_image(name, data, "JPEG", "jpg")


@pytest.mark.parametrize(
    "name,data",
    [
        ("x.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("x.html", HTML_PAYLOAD),
        ("x.png", b"\x89PNG\r\n\x1a\n" + HTML_PAYLOAD),  # PNG signature, no image
        ("x.bmp", image_bytes("BMP")),
        ("x.tiff", image_bytes("TIFF")),
    ],
)
def test_rest_non_images_and_other_types_are_refused(demo, api_as, media_root, name, data):
    response = _upload(api_as("write"), "alice", name, data)
    assert response.status_code == 400
    assert response.json()["error"]["data"]["errors"][0]["field"] == "avatar"
    demo["alice"].refresh_from_db()
    assert not demo["alice"].avatar
    assert not any(media_root.rglob("*.*"))


def test_rest_decompression_bomb_is_refused(demo, api_as, media_root):
    # 20000 x 20000 pixels of one colour: a few kB on the wire, 1.6 GB decoded.
    bomb = image_bytes("PNG", size=(20000, 20000), color=(0, 0, 0), optimize=True)
    assert len(bomb) < 5 * 1024 * 1024
    response = _upload(api_as("write"), "alice", "bomb.png", bomb, "image/png")
    assert response.status_code == 400


def test_rest_animated_gif_keeps_its_frames(demo, api_as, media_root):
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    response = _upload(api_as("write"), "alice", "a.gif", out.getvalue() + HTML_PAYLOAD)
    assert response.status_code == 200, response.content
    name, data = _stored(demo["alice"])
    _assert_clean_image(name, data, "GIF", "gif")
    with Image.open(io.BytesIO(data)) as image:
        assert image.n_frames == 3


def test_admin_upload_is_reencoded_and_renamed(demo, staff_client, media_root):
    alice = demo["alice"]
    data = persona_admin_form(name=alice.name, slug=alice.slug)
    data["avatar"] = SimpleUploadedFile("evil.png", polyglot_png(), content_type="text/html")
    response = staff_client.post(f"/admin/personas/persona/{alice.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    name, stored = _stored(alice)
    _assert_clean_image(name, stored, "PNG", "png")
    assert "evil" not in name


def test_admin_add_with_avatar_is_reencoded(db, staff_client, media_root):
    from personas.models import Persona

    data = persona_admin_form()
    data["avatar"] = SimpleUploadedFile("p.jpg", polyglot_jpeg(), content_type="image/jpeg")
    response = staff_client.post("/admin/personas/persona/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    name, stored = _stored(Persona.objects.get(slug="admin-made"))
    _assert_clean_image(name, stored, "JPEG", "jpg")
    assert "p.jpg" not in name


def _card_png(extra: bytes = b"") -> bytes:
    from PIL.PngImagePlugin import PngInfo

    card = {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Polly Glot"}}
    info = PngInfo()
    info.add_text("chara", base64.b64encode(json.dumps(card).encode()).decode())
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, format="PNG", pnginfo=info)
    return out.getvalue() + extra


@pytest.mark.django_db(transaction=True)
async def test_rpc_card_png_import_stores_a_reencoded_avatar(rpc_connect, make_key, media_root):
    from asgiref.sync import sync_to_async

    from personas.models import Persona

    client = await rpc_connect(token=await sync_to_async(make_key)("write"))
    png = _card_png(HTML_PAYLOAD)
    persona = await client.result("persona.import", {"png_base64": base64.b64encode(png).decode()})
    assert persona["name"] == "Polly Glot"
    stored = await sync_to_async(_stored)(await Persona.objects.aget(id=persona["id"]))
    _assert_clean_image(*stored, "PNG", "png")
    assert b"chara" not in stored[1]  # the card's text chunk is not kept in the avatar


def test_media_are_served_as_images_with_nosniff(demo, api_as, client, media_root):
    assert _upload(api_as("write"), "alice", "a.png", image_bytes("PNG")).status_code == 200
    name, _ = _stored(demo["alice"])
    response = client.get(f"/media/{name}")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline;")
    assert "sandbox" in response["Content-Security-Policy"]


@pytest.mark.parametrize("name", ["old.html", "page.htm", "x.svg", "x.xhtml", "x", "x.png.html"])
def test_planted_media_files_are_never_served_as_documents(client, media_root, name):
    """A file that got into MEDIA_ROOT some other way (before this fix, or by hand)."""
    (media_root / "avatars").mkdir()
    (media_root / "avatars" / name).write_bytes(HTML_PAYLOAD)
    response = client.get(f"/media/avatars/{name}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_media_path_traversal_is_404(client, media_root):
    for path in ("/media/../manage.py", "/media/%2e%2e/manage.py", "/media//etc/passwd"):
        assert client.get(path).status_code in (400, 404)
