"""Character cards: Character Card V1 / V2 / V3 import and export, lossless.

Containers: JSON, PNG (``tEXt`` chunks ``chara`` = V2 and ``ccv3`` = V3, base64 JSON; V3 is
preferred when both are present) and CHARX (a zip with ``card.json`` and the assets that its
``embeded://`` URIs name).

Mapping onto a Persona: ``description`` → description, ``personality`` → speaking_style,
``scenario`` → background, ``first_mes`` → greeting, ``system_prompt`` → system_prompt,
``tags`` → tags, ``character_book`` → the persona's own lorebook (``lore``). Everything else is
kept verbatim in ``Persona.extra``: ``card`` (the other ``data`` fields: ``mes_example``,
``post_history_instructions``, ``alternate_greetings``, ``extensions``, unknown fields…),
``root`` (root-level fields of V1/V2 files: the V1 mirror fields and front-end extras),
``tags`` (the tags as written), ``spec``/``spec_version`` and ``assets`` (stored asset files by
URI). Export rebuilds the card from the persona's current columns plus what was kept, so an
import → export round trip gives back every field unchanged. Big Five traits, goals and
interests travel in ``data.extensions.persona_mcp`` when they are not the defaults (or when the
imported card had that extension).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import io
import json
import zipfile
from typing import Any

from personamcp.exceptions import ValidationFailed
from personas.models import TRAITS, Persona


def _level(value: float) -> str:
    if value >= 0.75:
        return "very high"
    if value >= 0.6:
        return "high"
    if value > 0.4:
        return "moderate"
    if value > 0.25:
        return "low"
    return "very low"


def persona_card_text(persona: Persona) -> str:
    """The persona's card as plain text: description, personality, style, background, goals."""
    lines = [f"Name: {persona.name}"]
    if persona.description:
        lines.append(f"Description: {persona.description}")
    traits = ", ".join(f"{t} {_level(v)}" for t, v in persona.personality.items())
    lines.append(f"Personality (Big Five): {traits}")
    if persona.speaking_style:
        lines.append(f"Speaking style: {persona.speaking_style}")
    if persona.background:
        lines.append(f"Background: {persona.background}")
    if persona.goals:
        lines.append("Goals: " + "; ".join(persona.goals))
    if persona.interests:
        lines.append("Interests: " + ", ".join(persona.interests))
    if persona.system_prompt:
        lines.append(persona.system_prompt)
    return "\n".join(lines)


CARD_FIELD_MAP = {
    "description": "description",
    "personality": "speaking_style",
    "scenario": "background",
    "first_mes": "greeting",
    "system_prompt": "system_prompt",
}
V1_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
# Every field of a V2 card's data (the spec marks them required; exports always carry them).
V2_REQUIRED: dict[str, Any] = {
    "name": "",
    "description": "",
    "personality": "",
    "scenario": "",
    "first_mes": "",
    "mes_example": "",
    "creator_notes": "",
    "system_prompt": "",
    "post_history_instructions": "",
    "alternate_greetings": [],
    "tags": [],
    "creator": "",
    "character_version": "",
    "extensions": {},
}
V3_ONLY = (
    "nickname",
    "creator_notes_multilingual",
    "source",
    "group_only_greetings",
    "creation_date",
    "modification_date",
    "assets",
)
STRING_FIELDS = (
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "creator",
    "nickname",
)
LIST_OF_STRINGS = ("alternate_greetings", "group_only_greetings", "tags", "source")
_MAPPED = {"name", "tags", "character_book", *CARD_FIELD_MAP}
_OURS = "persona_mcp"
MAX_TAGS = 20
MAX_TAG_CHARS = 40
# CHARX limits (a zip bomb stops at these, before anything is stored).
CHARX_MAX_FILES = 512
CHARX_MAX_TOTAL = 64 * 1024 * 1024
CHARX_MAX_FILE = 32 * 1024 * 1024
CHARX_MAX_RATIO = 200
MAX_CARD_JSON = 16 * 1024 * 1024


def _error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": field, "message": message}])


# --- reading -----------------------------------------------------------------------------


def normalize_card(card: Any, *, field: str = "card") -> tuple[str, str | None, dict, dict]:
    """``(spec, spec_version, data, root)`` of a V1, V2 or V3 card; raises ``ValidationFailed``.

    ``root`` holds the root-level fields other than ``spec``, ``spec_version`` and ``data``
    (V1: every field is at the root, and ``data`` is built from them).
    """
    if not isinstance(card, dict):
        raise _error(field, "must be a JSON object")
    spec = card.get("spec")
    if spec is None and "data" not in card:
        data = {k: v for k, v in card.items() if k in V1_FIELDS}
        root = dict(card)
        if "tags" in card:
            data["tags"] = card["tags"]
        return "v1", None, data, root
    if spec not in ("chara_card_v2", "chara_card_v3"):
        raise _error(f"{field}.spec", "expected chara_card_v2 or chara_card_v3 (or a V1 card)")
    data = card.get("data")
    if not isinstance(data, dict):
        raise _error(f"{field}.data", "must be an object")
    root = {k: v for k, v in card.items() if k not in ("spec", "spec_version", "data")}
    version = card.get("spec_version")
    return ("v2" if spec == "chara_card_v2" else "v3"), version, data, root


def _check_data(data: dict, field: str) -> None:
    errors = []
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append({"field": f"{field}.name", "message": "a name is required"})
    elif len(name.strip()) > 100:
        errors.append({"field": f"{field}.name", "message": "longer than 100 characters"})
    for key in STRING_FIELDS:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            errors.append({"field": f"{field}.{key}", "message": "must be a string"})
    for key in LIST_OF_STRINGS:
        value = data.get(key)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            errors.append({"field": f"{field}.{key}", "message": "must be a list of strings"})
    if data.get("extensions") is not None and not isinstance(data["extensions"], dict):
        errors.append({"field": f"{field}.extensions", "message": "must be an object"})
    if data.get("assets") is not None and (
        not isinstance(data["assets"], list)
        or not all(isinstance(a, dict) and isinstance(a.get("uri"), str) for a in data["assets"])
    ):
        errors.append(
            {"field": f"{field}.assets", "message": "must be a list of {type, uri, name, ext}"}
        )
    limits = {f.name: f.max_length for f in Persona._meta.fields if f.max_length}
    for card_key, column in CARD_FIELD_MAP.items():
        value = data.get(card_key)
        if isinstance(value, str) and limits.get(column) and len(value) > limits[column]:
            errors.append(
                {
                    "field": f"{field}.{card_key}",
                    "message": f"longer than {limits[column]} characters",
                }
            )
    if errors:
        raise ValidationFailed(errors)


def card_to_persona_fields(card: Any, *, field: str = "card") -> dict:
    """Fields for ``persona_create`` (plus ``character_book``) from a V1/V2/V3 card."""
    spec, version, data, root = normalize_card(card, field=field)
    data_field = field if spec == "v1" else f"{field}.data"
    _check_data(data, data_field)
    fields: dict[str, Any] = {"name": data["name"].strip()}
    for card_key, column in CARD_FIELD_MAP.items():
        fields[column] = data.get(card_key) or ""
    tags = list(data.get("tags") or [])
    fields["tags"] = [t.strip()[:MAX_TAG_CHARS] for t in tags if t.strip()][:MAX_TAGS]
    extensions = data.get("extensions") or {}
    ours = extensions.get(_OURS) if isinstance(extensions.get(_OURS), dict) else {}
    if isinstance(ours.get("personality"), dict):
        fields["personality"] = {
            k: float(v)
            for k, v in ours["personality"].items()
            if k in TRAITS and isinstance(v, int | float) and 0 <= v <= 1
        }
    for key in ("goals", "interests"):
        if isinstance(ours.get(key), list):
            fields[key] = [str(v)[:200] for v in ours[key] if str(v)][:20]
    if isinstance(ours.get("slug"), str):
        fields["slug"] = ours["slug"]
    kept = {k: copy.deepcopy(v) for k, v in data.items() if k not in _MAPPED}
    extra: dict[str, Any] = {"card": kept, "spec": spec, "spec_version": version, "tags": tags}
    if root:
        extra["root"] = copy.deepcopy(root)
    fields["extra"] = extra
    book = data.get("character_book")
    if book is not None:
        from lore.engine import LoreError
        from lore.formats import validate_book

        try:
            validate_book(book, prefix=f"{data_field}.character_book")
        except LoreError as exc:
            raise _error(exc.field, exc.message) from None
        fields["character_book"] = copy.deepcopy(book)
    return fields


def _b64_json(text: str, field: str, keyword: str) -> dict:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        card = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _error(field, f"the {keyword} chunk is not base64 JSON") from None
    if not isinstance(card, dict):
        raise _error(field, f"the {keyword} chunk is not a card object")
    return card


def card_from_png(raw: bytes, *, field: str = "png_base64") -> dict:
    """The card in a PNG's ``ccv3`` (preferred) or ``chara`` text chunk."""
    from PIL import Image, UnidentifiedImageError

    if not raw.startswith(b"\x89PNG\r\n\x1a\n"):
        raise _error(field, "not a PNG image")
    try:
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise _error(field, "not a PNG image (broken or truncated)") from None
    chunks = getattr(image, "text", {}) or {}
    if "ccv3" in chunks:
        card = _b64_json(chunks["ccv3"], field, "ccv3")
        if "chara" in chunks:  # the V2 chunk's root-level fields (V1 mirrors, extras) too
            try:
                v2 = _b64_json(chunks["chara"], field, "chara")
            except ValidationFailed:
                v2 = {}
            for key, value in v2.items():
                if key not in ("spec", "spec_version", "data") and key not in card:
                    card[key] = value
        return card
    if "chara" in chunks:
        return _b64_json(chunks["chara"], field, "chara")
    raise _error(field, "no character card in this PNG (no chara or ccv3 text chunk)")


def card_from_charx(raw: bytes, *, field: str = "charx_base64") -> tuple[dict, dict[str, bytes]]:
    """``(card, assets)`` of a CHARX zip; ``assets`` maps each ``embeded://`` path to bytes.

    Sizes are checked against the zip directory *and* while reading (a directory can lie), so a
    zip bomb stops at the limits with nothing stored.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _error(field, "not a CHARX (zip) file") from None
    if len(infos) > CHARX_MAX_FILES:
        raise _error(field, f"more than {CHARX_MAX_FILES} files in the CHARX")
    total_declared = sum(i.file_size for i in infos)
    if total_declared > CHARX_MAX_TOTAL:
        raise _error(field, f"the CHARX unpacks to more than {CHARX_MAX_TOTAL} bytes")
    budget = [CHARX_MAX_TOTAL]

    def read(info: zipfile.ZipInfo, limit: int) -> bytes:
        if info.file_size > limit:
            raise _error(field, f"{info.filename} is larger than {limit} bytes")
        if info.compress_size and info.file_size / info.compress_size > CHARX_MAX_RATIO:
            raise _error(field, f"{info.filename} is compressed suspiciously well (a zip bomb?)")
        out = bytearray()
        try:
            with archive.open(info) as stream:
                while chunk := stream.read(65536):
                    out += chunk
                    budget[0] -= len(chunk)
                    if len(out) > limit or budget[0] < 0:
                        raise _error(field, "the CHARX unpacks to more than its sizes say")
        # zipfile raises NotImplementedError for a compression method it cannot unpack (and
        # RuntimeError for an encrypted member): both are a CHARX we cannot read, not a crash.
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
            raise _error(field, f"{info.filename} cannot be read from the CHARX") from None
        return bytes(out)

    by_name = {i.filename: i for i in infos if not i.is_dir()}
    if "card.json" not in by_name:
        raise _error(field, "no card.json in the CHARX")
    try:
        card = json.loads(read(by_name["card.json"], MAX_CARD_JSON).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise _error(field, "card.json is not JSON") from None
    if not isinstance(card, dict):
        raise _error(field, "card.json is not a card object")
    assets: dict[str, bytes] = {}
    data = card.get("data") if isinstance(card.get("data"), dict) else {}
    for asset in data.get("assets") or []:
        uri = asset.get("uri") if isinstance(asset, dict) else None
        if not isinstance(uri, str) or not uri.startswith("embeded://"):
            continue
        path = uri[len("embeded://") :]
        info = by_name.get(path)
        if info is None:
            raise _error(field, f"asset {uri} is not in the CHARX")
        if path not in assets:
            assets[path] = read(info, CHARX_MAX_FILE)
    return card, assets


# --- writing -----------------------------------------------------------------------------


def _own_book(persona: Persona, spec: str) -> dict | None:
    from lore.models import Lorebook
    from lore.services import lorebook_to_book

    book = (
        Lorebook.objects.filter(owner=persona)
        .order_by("created_at", "id")
        .prefetch_related("entries")
        .first()
    )
    if book is None:
        return None
    return lorebook_to_book(book, spec=spec, keep_private=False)


def _tags(persona: Persona, extra: dict) -> list[str]:
    current = [t.name for t in persona.tags.all()]
    written = extra.get("tags")
    if isinstance(written, list):
        normalized = {t.strip()[:MAX_TAG_CHARS].lower() for t in written if t.strip()}
        if normalized == set(current) or (not current and not normalized):
            return list(written)
    return current


def _persona_mcp(persona: Persona) -> dict:
    return {
        "slug": persona.slug,
        "personality": persona.personality,
        "goals": list(persona.goals),
        "interests": list(persona.interests),
    }


def persona_to_card(persona: Persona, *, fmt: str = "ccv3") -> dict:
    """The persona as a Character Card V3 (default) or V2 JSON object."""
    extra = persona.extra or {}
    kept = copy.deepcopy(extra.get("card") or {})
    imported = "card" in extra
    extensions = dict(kept.pop("extensions", None) or {})
    non_default = (
        any(abs(v - 0.5) > 1e-9 for v in persona.personality.values())
        or persona.goals
        or persona.interests
    )
    if _OURS in extensions or non_default or not imported:
        extensions[_OURS] = _persona_mcp(persona)
    data: dict[str, Any] = {}
    for key, default in V2_REQUIRED.items():
        data[key] = copy.deepcopy(default)
    data.update(
        {
            "name": persona.name,
            "description": persona.description,
            "personality": persona.speaking_style,
            "scenario": persona.background,
            "first_mes": persona.greeting,
            "system_prompt": persona.system_prompt,
        }
    )
    data.update(kept)
    data["tags"] = _tags(persona, extra)
    data["extensions"] = extensions
    book = _own_book(persona, "v3" if fmt == "ccv3" else "v2")
    if book is not None:
        data["character_book"] = book
    if fmt == "ccv2":
        for key in V3_ONLY:
            data.pop(key, None)
        card: dict[str, Any] = {}
        root = copy.deepcopy(extra.get("root") or {})
        card.update({"spec": "chara_card_v2", "spec_version": "2.0"})
        if extra.get("spec") == "v2" and extra.get("spec_version") is not None:
            card["spec_version"] = extra["spec_version"]
        # root-level V1 mirror fields (older readers), then the root fields as written
        for key in V1_FIELDS:
            card[key] = data[key]
        if "tags" in root:
            root["tags"] = data["tags"]
        for key, value in root.items():
            if key not in V1_FIELDS:
                card[key] = value
        card["data"] = data
        return card
    data.setdefault("group_only_greetings", [])
    data.setdefault("creation_date", int(persona.created_at.timestamp()))
    data.setdefault("modification_date", int(persona.updated_at.timestamp()))
    version = extra.get("spec_version") if extra.get("spec") == "v3" else None
    return {"spec": "chara_card_v3", "spec_version": version or "3.0", "data": data}


def validate_exported_card(card: dict) -> list[str]:
    """Problems SillyTavern's card validator (and the V2/V3 specs) would find; empty when fine.

    V2: ``spec``/``spec_version`` "2.0", every ``data`` field present with its type, and a
    ``character_book`` with ``extensions`` and an ``entries`` list whose entries have
    ``keys``, ``content``, ``extensions``, ``enabled``, ``insertion_order``. V3: ``spec``
    ``chara_card_v3``, ``spec_version`` >= 3.0 and < 4.0, ``data`` an object, and (V3) every
    entry has ``use_regex``.
    """
    problems = []
    spec = card.get("spec")
    data = card.get("data")
    if not isinstance(data, dict):
        return ["data: missing"]
    if spec == "chara_card_v2":
        if card.get("spec_version") != "2.0":
            problems.append("spec_version: must be 2.0")
        for key, default in V2_REQUIRED.items():
            if key not in data:
                problems.append(f"data.{key}: missing")
            elif not isinstance(data[key], type(default)):
                problems.append(f"data.{key}: wrong type")
    elif spec == "chara_card_v3":
        try:
            version = float(card.get("spec_version"))
        except (TypeError, ValueError):
            version = 0
        if not 3.0 <= version < 4.0:
            problems.append("spec_version: must be >= 3.0 and < 4.0")
    else:
        problems.append("spec: unknown")
    book = data.get("character_book")
    if book is not None:
        if not isinstance(book.get("extensions"), dict):
            problems.append("data.character_book.extensions: missing")
        if not isinstance(book.get("entries"), list):
            problems.append("data.character_book.entries: missing")
        for i, entry in enumerate(book.get("entries") or []):
            for key in ("keys", "content", "extensions", "enabled", "insertion_order"):
                if key not in entry:
                    problems.append(f"data.character_book.entries.{i}.{key}: missing")
            if spec == "chara_card_v3" and "use_regex" not in entry:
                problems.append(f"data.character_book.entries.{i}.use_regex: missing")
    return problems


def _generated_avatar(persona: Persona):
    from PIL import Image, ImageDraw

    digest = hashlib.sha256(persona.name.encode()).digest()
    image = Image.new("RGB", (400, 600), (digest[0], digest[1], digest[2]))
    draw = ImageDraw.Draw(image)
    draw.ellipse((100, 150, 300, 350), fill=(digest[3], digest[4], digest[5]))
    return image


def _avatar_image(persona: Persona):
    from PIL import Image, UnidentifiedImageError

    if persona.avatar:
        try:
            with persona.avatar.open("rb") as handle:
                image = Image.open(io.BytesIO(handle.read()))
                image.load()
            return image.convert("RGBA") if image.mode not in ("RGB", "RGBA") else image
        except (OSError, UnidentifiedImageError, ValueError):
            pass
    return _generated_avatar(persona)


def persona_card_png(persona: Persona, *, fmt: str = "ccv3") -> bytes:
    """The persona's avatar (or a generated image) with both card chunks: ``chara`` (V2) and
    ``ccv3`` (V3); ``fmt`` only decides nothing more, both are always written."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    v2 = persona_to_card(persona, fmt="ccv2")
    v3 = persona_to_card(persona, fmt="ccv3")
    info.add_text("chara", base64.b64encode(json.dumps(v2, ensure_ascii=False).encode()).decode())
    info.add_text("ccv3", base64.b64encode(json.dumps(v3, ensure_ascii=False).encode()).decode())
    buf = io.BytesIO()
    _avatar_image(persona).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def persona_card_charx(persona: Persona, *, fmt: str = "ccv3") -> bytes:
    """A CHARX zip: ``card.json`` and every stored ``embeded://`` asset (the avatar as the main
    icon when the card has no assets of its own)."""
    from django.core.files.storage import default_storage

    card = persona_to_card(persona, fmt=fmt)
    stored = (persona.extra or {}).get("assets") or {}
    files: dict[str, bytes] = {}
    for path, name in stored.items():
        try:
            with default_storage.open(name, "rb") as handle:
                files[path] = handle.read()
        except OSError:
            continue
    data = card["data"]
    if "assets" not in data and fmt == "ccv3":
        buf = io.BytesIO()
        _avatar_image(persona).save(buf, format="PNG")
        files["assets/icon/images/main.png"] = buf.getvalue()
        data["assets"] = [
            {
                "type": "icon",
                "uri": "embeded://assets/icon/images/main.png",
                "name": "main",
                "ext": "png",
            }
        ]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("card.json", json.dumps(card, ensure_ascii=False, indent=1))
        for path, raw in files.items():
            archive.writestr(path, raw)
    return out.getvalue()


def persona_export(persona: Persona, *, fmt: str = "ccv3", as_: str = "json") -> dict:
    """``{card}`` (json) or ``{data_base64, media_type}`` (png, charx): the wire shapes."""
    if as_ == "png":
        raw, media_type = persona_card_png(persona, fmt=fmt), "image/png"
    elif as_ == "charx":
        raw, media_type = persona_card_charx(persona, fmt=fmt), "application/zip"
    else:
        return {"card": persona_to_card(persona, fmt=fmt)}
    return {"data_base64": base64.b64encode(raw).decode(), "media_type": media_type}


# --- importing ---------------------------------------------------------------------------


def decode_base64(value: str | None, field: str) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _error(field, "not valid base64") from None


def sniff(raw: bytes, *, field: str = "file") -> tuple[str, Any]:
    """What an uploaded file is: ``("png", bytes)``, ``("charx", bytes)`` or ``("card", dict)``."""
    if raw.startswith(b"\x89PNG"):
        return "png", raw
    if raw.startswith(b"PK"):
        return "charx", raw
    try:
        return "card", json.loads(raw.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        raise _error(field, "not a card: expected a .png, .charx or .json file") from None


def card_import(
    *,
    card: dict | None = None,
    png: bytes | None = None,
    charx: bytes | None = None,
    field: str | None = None,
) -> Persona:
    """Create a persona (and its own lorebook, assets and avatar) from a card, all or nothing.

    A slug already used by another persona is replaced by a fresh one.
    """
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import transaction

    from lore.services import lorebook_create
    from personas.services import persona_create

    given = [x for x in (card, png, charx) if x is not None]
    if len(given) != 1:
        raise _error("card", "give exactly one of card, png_base64 or charx_base64")
    assets: dict[str, bytes] = {}
    avatar_bytes: bytes | None = None
    if png is not None:
        card = card_from_png(png, field=field or "png_base64")
        avatar_bytes = png
    elif charx is not None:
        card, assets = card_from_charx(charx, field=field or "charx_base64")
    fields = card_to_persona_fields(card)
    book = fields.pop("character_book", None)
    if fields.get("slug") and Persona.objects.filter(slug=fields["slug"]).exists():
        fields.pop("slug")
    if avatar_bytes is None and assets:
        icon = _main_icon(card)
        if icon and icon in assets:
            avatar_bytes = assets[icon]
    if avatar_bytes is not None:
        avatar_bytes = _avatar_from(
            avatar_bytes, field or ("png_base64" if png is not None else "charx_base64")
        )
    written: list[str] = []
    try:
        with transaction.atomic():
            avatar = (
                SimpleUploadedFile("card.png", avatar_bytes, content_type="image/png")
                if avatar_bytes is not None
                else None
            )
            persona = persona_create(avatar=avatar, **fields)
            if book is not None:
                lorebook_create(book=book, owner=persona, prefix="card.data.character_book")
            if assets:
                stored = {}
                for path, raw in assets.items():
                    safe = "/".join(p for p in path.split("/") if p not in ("", ".", ".."))
                    name = default_storage.save(f"cards/{persona.id}/{safe}", ContentFile(raw))
                    written.append(name)
                    stored[path] = name
                persona.extra = {**persona.extra, "assets": stored}
                persona.save(update_fields=["extra"])
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    return persona


def _main_icon(card: dict) -> str | None:
    data = card.get("data") if isinstance(card.get("data"), dict) else {}
    icons = [
        a
        for a in data.get("assets") or []
        if isinstance(a, dict)
        and a.get("type") == "icon"
        and str(a.get("uri", "")).startswith("embeded://")
    ]
    if not icons:
        return None
    main = next((a for a in icons if a.get("name") == "main"), icons[0])
    return main["uri"][len("embeded://") :]


AVATAR_MAX = (1024, 1536)


def _avatar_from(raw: bytes, field: str) -> bytes:
    """The card's picture as an avatar: checked, without the card's text chunks (which can be
    most of a card file), and no larger than 1024 x 1536 (an avatar needs no more)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as probe:
            probe.verify()
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise _error(field, "the card's image is broken") from None
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA")
    if image.width > AVATAR_MAX[0] or image.height > AVATAR_MAX[1]:
        image.thumbnail(AVATAR_MAX)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
