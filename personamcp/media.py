"""Uploaded images in, media files out, without letting either carry script.

Uploads: the client's file name and extension are never kept. The bytes must decode as one of
the allowed image types; the image is decoded fully and encoded again (which drops anything
appended to or hidden in the file: HTML after the IEND chunk, polyglot comments, text chunks)
and stored under a random name with the extension of the verified type.

Serving: ``serve_media`` sends only the allowed image types with their own ``Content-Type``,
anything else as an ``application/octet-stream`` attachment, and always with ``nosniff`` and a
sandboxing Content-Security-Policy, so no media file is ever rendered as a page of this origin.
"""

from __future__ import annotations

import io
import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.views.static import serve

from personamcp.exceptions import ValidationFailed

# Pillow format -> (extension, media type). Nothing else is accepted (no SVG: it is a document).
IMAGE_TYPES = {
    "PNG": ("png", "image/png"),
    "JPEG": ("jpg", "image/jpeg"),
    "GIF": ("gif", "image/gif"),
    "WEBP": ("webp", "image/webp"),
}
_BY_EXTENSION = {ext: media for ext, media in IMAGE_TYPES.values()} | {"jpeg": "image/jpeg"}
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_FRAMES = 200
MEDIA_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def _read(upload, field: str) -> bytes:
    if isinstance(upload, bytes | bytearray):
        raw = bytes(upload)
    else:
        if getattr(upload, "size", None) is not None and upload.size > MAX_IMAGE_BYTES:
            raise ValidationFailed([{"field": field, "message": "image larger than 5 MB"}])
        if hasattr(upload, "seek"):
            upload.seek(0)
        raw = upload.read(MAX_IMAGE_BYTES + 1)
    if len(raw) > MAX_IMAGE_BYTES:
        raise ValidationFailed([{"field": field, "message": "image larger than 5 MB"}])
    return raw


def clean_image(upload, *, field: str = "avatar") -> ContentFile:
    """Verify, re-encode and rename an uploaded image; raises ``ValidationFailed``.

    ``upload`` is a Django ``UploadedFile``/``File`` or raw bytes. Returns a ``ContentFile``
    named ``<random>.<ext>`` whose bytes were produced by the encoder, not by the client.
    """
    from PIL import Image, ImageSequence, UnidentifiedImageError

    raw = _read(upload, field)
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            probe.verify()
        image = Image.open(io.BytesIO(raw))
        kind = image.format
        if kind not in IMAGE_TYPES:
            raise ValidationFailed(
                [{"field": field, "message": f"unsupported image type {kind}; use PNG, JPEG, "
                  "GIF or WebP"}]
            )  # fmt: skip
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise ValidationFailed(
                [{"field": field, "message": "image larger than 4096 x 4096 pixels"}]
            )
        frames = getattr(image, "n_frames", 1)
        if frames > MAX_FRAMES:
            raise ValidationFailed([{"field": field, "message": f"more than {MAX_FRAMES} frames"}])
        # Only what drawing the image needs is carried over: no comments, EXIF, ICC or text.
        keep = {k: image.info[k] for k in ("transparency", "duration", "loop") if k in image.info}
        out = io.BytesIO()
        if kind == "JPEG":
            rgb = image.convert("RGB")
            rgb.info = {}
            rgb.save(out, format="JPEG", quality=90)
        elif frames > 1:  # animated GIF / WebP / APNG: every frame, re-encoded
            sequence = []
            for frame in ImageSequence.Iterator(image):
                copy = frame.convert("RGBA")
                copy.info = {}
                sequence.append(copy)
            sequence[0].save(
                out,
                format=kind,
                save_all=True,
                append_images=sequence[1:],
                loop=keep.get("loop", 0),
                duration=keep.get("duration", 100),
            )
        else:
            image.load()
            if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
                image = image.convert("RGBA")
            image.info = {}
            extra = {"transparency": keep["transparency"]} if "transparency" in keep else {}
            image.save(out, format=kind, **extra)
    except ValidationFailed:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationFailed([{"field": field, "message": "not a valid image"}]) from None
    extension = IMAGE_TYPES[kind][0]
    return ContentFile(out.getvalue(), name=f"{uuid.uuid4().hex}.{extension}")


def media_headers(response, path: str):
    """Headers that keep a media response from ever being a document of this origin."""
    name = PurePosixPath(path).name
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    media_type = _BY_EXTENSION.get(extension)
    safe_name = "".join(c for c in name if c.isalnum() or c in "._-") or "file"
    if media_type:
        response["Content-Type"] = media_type
        response["Content-Disposition"] = f'inline; filename="{safe_name}"'
    else:
        response["Content-Type"] = "application/octet-stream"
        response["Content-Disposition"] = f'attachment; filename="{safe_name}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = MEDIA_CSP
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def serve_media(request, path: str):
    """``/media/<path>``: a file under MEDIA_ROOT, never rendered as HTML (see module doc)."""
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    if response.status_code == 304:
        response["X-Content-Type-Options"] = "nosniff"
        return response
    return media_headers(response, path)
