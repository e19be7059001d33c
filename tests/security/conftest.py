"""Fixtures of the adversarial suites: attack images, staff clients, a live server helper."""

from __future__ import annotations

import io

import pytest


def image_bytes(fmt: str = "PNG", size=(8, 8), color=(200, 30, 30), **save) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    mode = "RGB" if fmt == "JPEG" else "RGBA"
    Image.new(mode, size, color + ((255,) if mode == "RGBA" else ())).save(out, format=fmt, **save)
    return out.getvalue()


HTML_PAYLOAD = b"<html><body><script>fetch('/api/personas/',{method:'POST'})</script></body></html>"


def polyglot_png() -> bytes:
    """A PNG that verifies as an image, with an HTML page appended after IEND."""
    return image_bytes("PNG") + HTML_PAYLOAD


def polyglot_jpeg() -> bytes:
    """A JPEG whose comment segment holds a script (survives a naive copy, not a re-encode)."""
    raw = image_bytes("JPEG")
    comment = b"<script>alert(document.domain)</script>"
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return raw[:2] + segment + raw[2:]


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture
def staff_client(db):
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-123456")
    client = Client()
    client.force_login(user)
    return client
