"""Writes for bot accounts: create, update, delete, what a login stores, and the bot's logs.

The processes that run bots are in ``bots.processes`` (the operating system side) and
``bots.supervision`` (start, stop, the reconcile loop). Every save names its fields, so a
change never overwrites what another process (a runner storing its new token) just wrote.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from bots import selectors
from bots.models import BotAccount, BotRun
from personamcp import events
from personamcp.exceptions import Conflict, ValidationFailed
from personas.models import Persona

log = logging.getLogger(__name__)

USER_ID_RE = re.compile(r"^@[^:\s]+:[^\s]+$")
ROOM_RE = re.compile(r"^(![^\s/]+|#[^:\s]+:[^\s]+)$")
ALLOW_RE = re.compile(r"^(@[^:\s]+:[^\s]+|:[^\s]+)$")


# --- logs ---------------------------------------------------------------------------------


def log_dir() -> Path:
    path = Path(settings.VAR_DIR) / "bots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def bot_log_path(bot: BotAccount) -> Path:
    """The rotating log file of a bot (written by its runner)."""
    return log_dir() / f"{bot.id}.log"


def bot_console_path(bot: BotAccount) -> Path:
    """Where a spawned bot's stdout/stderr go (start-up failures before logging is set up)."""
    return log_dir() / f"{bot.id}.console.log"


def redact(text: str, secrets: list[str]) -> str:
    """Remove credentials from a text (exact secrets and anything that looks like a token)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = re.sub(r"(access_token[\"'=:\s]+)[^\s&\"',}]+", r"\1***", text)
    return re.sub(r"(Bearer\s+)[^\s\"',}]+", r"\1***", text)


def _tail_lines(path: Path, limit: int) -> list[str]:
    if not path.exists():
        return []
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        block = max(4096, limit * 300)
        data = b""
        while size > 0 and data.count(b"\n") <= limit:
            step = min(block, size)
            size -= step
            fh.seek(size)
            data = fh.read(step) + data
    return data.decode("utf-8", errors="replace").splitlines()[-limit:]


def bot_logs(*, bot: BotAccount, limit: int = 100) -> list[str]:
    """The last ``limit`` lines of the bot's log (older rotated file included when needed)."""
    path = bot_log_path(bot)
    lines = _tail_lines(path, limit)
    if len(lines) < limit:
        lines = _tail_lines(path.with_name(path.name + ".1"), limit - len(lines)) + lines
    if not lines:
        lines = _tail_lines(bot_console_path(bot), limit)
    secrets = bot_secrets(bot)
    return [redact(line, secrets) for line in lines]


def bot_secrets(bot: BotAccount) -> list[str]:
    """What must never appear in a log line or an error of this bot."""
    return [getattr(bot, field) for field in BotAccount.SECRET_FIELDS]


# --- accounts -----------------------------------------------------------------------------


def _check(field: str, value, pattern: re.Pattern, message: str, errors: list) -> None:
    values = value if isinstance(value, list) else [value]
    for item in values:
        if not isinstance(item, str) or not pattern.match(item):
            errors.append({"field": field, "message": f"{message}: {item!r}"})
            return


def validate_fields(data: dict) -> None:
    """Check the Matrix-shaped fields of a bot; raises ``ValidationFailed`` naming each."""
    errors: list[dict] = []
    if "homeserver" in data and not re.match(r"^https?://[^\s/]+", data["homeserver"] or ""):
        errors.append({"field": "homeserver", "message": "must be an http(s) URL"})
    if "user_id" in data:
        _check("user_id", data["user_id"], USER_ID_RE, "not a Matrix user id", errors)
    if "rooms" in data:
        _check("rooms", data["rooms"], ROOM_RE, "not a room id or alias", errors)
    if "invite_allowlist" in data:
        _check(
            "invite_allowlist",
            data["invite_allowlist"],
            ALLOW_RE,
            "not a user id or :server",
            errors,
        )
    if "invite_policy" in data and data["invite_policy"] not in BotAccount.InvitePolicy.values:
        errors.append(
            {"field": "invite_policy", "message": "must be anyone, allowlist, never or manual"}
        )
    for field in ("trusted_users", "blocked_users"):
        if field in data:
            _check(field, data[field], USER_ID_RE, "not a Matrix user id", errors)
    if "trust_policy" in data and data["trust_policy"] not in BotAccount.TrustPolicy.values:
        errors.append({"field": "trust_policy", "message": "must be tofu or allowlist"})
    if errors:
        raise ValidationFailed(errors)


def publish_status(bot: BotAccount, run: BotRun) -> None:
    """Broadcast the bot (``bot.status_changed``) after its run row changed."""
    from bots.schemas import bot_out

    bot.run = run
    events.publish(
        events.BOT_STATUS_CHANGED,
        kind="bot",
        keys=(str(bot.id), bot.persona.slug),
        data=bot_out(bot),
    )


@transaction.atomic
def bot_create(
    *,
    persona: Persona,
    homeserver: str,
    user_id: str,
    password: str = "",
    access_token: str = "",
    device_id: str = "",
    rooms: list[str] | None = None,
    invite_policy: str = BotAccount.InvitePolicy.ANYONE,
    invite_allowlist: list[str] | None = None,
    answer_bots: bool = False,
    enabled: bool = True,
    autostart: bool = False,
    trust_policy: str = BotAccount.TrustPolicy.TOFU,
    trusted_users: list[str] | None = None,
    blocked_users: list[str] | None = None,
) -> BotAccount:
    """Create a persona's Matrix bot account (needs a password or an access token)."""
    data = {
        "homeserver": homeserver.rstrip("/"),
        "user_id": user_id,
        "rooms": list(rooms or []),
        "invite_policy": invite_policy,
        "invite_allowlist": list(invite_allowlist or []),
        "trust_policy": trust_policy,
        "trusted_users": list(trusted_users or []),
        "blocked_users": list(blocked_users or []),
    }
    validate_fields(data)
    if not (password or access_token):
        raise ValidationFailed(
            [{"field": "password", "message": "a password or an access token is required"}]
        )
    if BotAccount.objects.filter(user_id=user_id).exists():
        raise Conflict(f"a bot with user id {user_id} already exists")
    try:
        with transaction.atomic():
            bot = BotAccount.objects.create(
                persona=persona,
                password=password,
                access_token=access_token,
                device_id=device_id,
                answer_bots=answer_bots,
                enabled=enabled,
                autostart=autostart,
                **data,
            )
    except IntegrityError:
        raise Conflict(f"a bot with user id {user_id} already exists") from None
    run = BotRun.objects.create(bot=bot, log_path=str(bot_log_path(bot)))
    publish_status(bot, run)
    return bot


UPDATABLE = {
    "homeserver",
    "user_id",
    "password",
    "access_token",
    "device_id",
    "rooms",
    "invite_policy",
    "invite_allowlist",
    "answer_bots",
    "enabled",
    "autostart",
    "persona",
    "trust_policy",
    "trusted_users",
    "blocked_users",
}


@transaction.atomic
def bot_update(*, bot: BotAccount, **changes) -> BotAccount:
    """Change some fields of a bot. New credentials clear a 'fatal' state so it may start again.

    A new homeserver or user id forgets the stored access token and device (they belonged to
    the old account) unless new ones are given.
    """
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValidationFailed([{"field": f, "message": "unknown field"} for f in sorted(unknown)])
    if changes.get("homeserver"):
        changes["homeserver"] = changes["homeserver"].rstrip("/")
    validate_fields(changes)
    if (
        "user_id" in changes
        and changes["user_id"] != bot.user_id
        and BotAccount.objects.filter(user_id=changes["user_id"]).exclude(pk=bot.pk).exists()
    ):
        raise Conflict(f"a bot with user id {changes['user_id']} already exists")
    account_moved = any(
        f in changes and changes[f] != getattr(bot, f) for f in ("homeserver", "user_id")
    )
    if account_moved:  # the token, the device and its keys belonged to the old account
        changes.setdefault("access_token", "")
        changes.setdefault("device_id", "")
        changes["device_fingerprint"] = ""
        shutil.rmtree(bot_crypto_dir(bot, create=False), ignore_errors=True)
    for field, value in changes.items():
        setattr(bot, field, value)
    if not (bot.password or bot.access_token):
        raise ValidationFailed(
            [{"field": "password", "message": "a password or an access token is required"}]
        )
    bot.save(update_fields=[*changes, "updated_at"])
    selectors.ensure_run(bot)
    run = BotRun.objects.get(bot=bot)
    if {"password", "access_token", "homeserver", "user_id"} & set(changes) and (
        run.fatal or run.gave_up
    ):
        run.fatal = False
        run.gave_up = False
        run.crash_times = []
        run.save(update_fields=["fatal", "gave_up", "crash_times", "updated_at"])
    publish_status(bot, run)
    return bot


def bot_delete(*, bot: BotAccount) -> str:
    """Stop the bot's process (if any) and delete the account. Returns the bot id."""
    from bots.supervision import bot_stop

    bot_stop(bot=bot)
    bot_id = str(bot.id)
    bot.delete()
    shutil.rmtree(bot_crypto_dir(bot, create=False), ignore_errors=True)
    return bot_id


def bot_credentials_store(*, bot: BotAccount, access_token: str, device_id: str) -> None:
    """Keep the access token and device of a successful login for the next start."""
    bot.access_token, bot.device_id = access_token, device_id
    BotAccount.objects.filter(pk=bot.pk).update(access_token=access_token, device_id=device_id)


def bot_crypto_dir(bot: BotAccount, *, create: bool = True) -> Path:
    """The bot's own end-to-end encryption store (never shared between bots), mode 0700."""
    path = Path(settings.VAR_DIR) / "bots" / str(bot.id) / "crypto"
    if create:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
        path.parent.chmod(0o700)
    return path


def bot_pickle_key(*, bot: BotAccount) -> str:
    """The key that encrypts the bot's crypto store (made once, kept encrypted at rest)."""
    if not bot.crypto_pickle_key:
        bot.crypto_pickle_key = secrets.token_urlsafe(32)
        BotAccount.objects.filter(pk=bot.pk, crypto_pickle_key="").update(
            crypto_pickle_key=bot.crypto_pickle_key
        )
        bot.crypto_pickle_key = BotAccount.objects.get(pk=bot.pk).crypto_pickle_key
    return bot.crypto_pickle_key


def bot_device_store(*, bot: BotAccount, device_id: str, fingerprint: str) -> None:
    """Remember the device the bot runs as and its ed25519 fingerprint (shown in the admin)."""
    bot.device_id, bot.device_fingerprint = device_id, fingerprint
    BotAccount.objects.filter(pk=bot.pk).update(device_id=device_id, device_fingerprint=fingerprint)


def bot_avatar_store(*, bot: BotAccount, sha256: str, mxc: str) -> None:
    """Remember the avatar uploaded to the homeserver (skip re-uploads)."""
    bot.avatar_sha256, bot.avatar_mxc = sha256, mxc
    BotAccount.objects.filter(pk=bot.pk).update(avatar_sha256=sha256, avatar_mxc=mxc)


def bot_sync_profile(*, bot: BotAccount) -> dict:
    """Set the bot's Matrix display name and avatar from its persona (logs in when needed)."""
    import asyncio

    from bots import runner

    return asyncio.run(runner.sync_profile_once(bot))
