"""The Matrix runner of one persona bot (``manage.py runbot``), built on matrix-nio.

It logs in (reusing the stored access token), sets the display name and avatar from the
persona, joins its rooms, accepts invites per policy, and answers messages addressed to it
through the turn pipeline (``conversations.services.conversation_send_message``), with the
Matrix user as participant and the room as context. Database work runs in threads
(``asyncio.to_thread``); the event loop only talks to the homeserver.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import os
import re
import signal
import threading
import time
from collections import deque
from pathlib import Path

from aiohttp import ClientConnectionError
from django.conf import settings
from django.db import close_old_connections
from nio import (
    Api,
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    InviteMemberEvent,
    JoinError,
    KeysQueryResponse,
    LoginResponse,
    MatrixRoom,
    MegolmEvent,
    RoomKeyRequest,
    RoomMessageText,
    RoomSendResponse,
    SyncError,
    UploadResponse,
    WhoamiResponse,
)
from nio.crypto import ENCRYPTION_ENABLED

from bots import bridges, e2ee, outbox, rooms, selectors, services, supervision
from bots.exceptions import AlreadyRunning
from bots.formatting import split_message, text_content
from bots.models import BotAccount
from memory.embeddings import warm_up

log = logging.getLogger("bots.runner")

# Seconds a reply may take before the bot shows it is typing (``BOTS["TYPING_DELAY"]``).
TYPING_DELAY = 0.5

# Homeserver answers that mean the credentials are wrong: retrying cannot help.
FATAL_LOGIN_CODES = {"M_FORBIDDEN", "M_USER_DEACTIVATED", "M_INVALID_USERNAME", "M_UNKNOWN_TOKEN"}


class FatalBotError(Exception):
    """The bot cannot run with its configuration (e.g. refused credentials)."""


def reply_content(text: str, event: RoomMessageText, *, first: bool) -> dict:
    """A reply as Matrix content: Markdown rendered to ``formatted_body`` (only when the text
    has any), in the thread when the message was in one, else as a reply to it."""
    content = text_content(text)
    relates = (event.source.get("content") or {}).get("m.relates_to") or {}
    if relates.get("rel_type") == "m.thread":
        content["m.relates_to"] = {
            "rel_type": "m.thread",
            "event_id": relates["event_id"],
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": event.event_id},
        }
    elif first:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": event.event_id}}
    return content


def is_direct(room: MatrixRoom) -> bool:
    """A room with the bot and one other member (joined or invited)."""
    return max(room.member_count, len(room.users)) <= 2


def mentions(body: str, content: dict, *, user_id: str, names: list[str]) -> bool:
    """Is the message addressed to this bot (user id, localpart, display name, m.mentions)?"""
    mentioned = (content.get("m.mentions") or {}).get("user_ids") or []
    if user_id in mentioned:
        return True
    formatted = content.get("formatted_body") or ""
    if f"matrix.to/#/{user_id}" in formatted:
        return True
    lowered = body.lower()
    if user_id.lower() in lowered:
        return True
    for name in names:
        name = name.strip().lower()
        if name and re.search(rf"(?<![\w@]){re.escape(name)}(?!\w)", lowered):
            return True
    return False


def invite_allowed(bot: BotAccount, inviter: str) -> bool:
    """May ``inviter`` make the bot join a room (the bot's invite policy)?"""
    if bot.invite_policy == BotAccount.InvitePolicy.ANYONE:
        return True
    if bot.invite_policy == BotAccount.InvitePolicy.NEVER:
        return False
    for entry in bot.invite_allowlist:
        if entry == inviter or (entry.startswith(":") and inviter.endswith(entry)):
            return True
    return False


def _in_thread(func, /, *args, **kwargs):
    """Run ORM work in a worker thread with fresh database connections."""

    def call():
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return asyncio.to_thread(call)


def encrypted_client(bot: BotAccount) -> AsyncClient:
    """A matrix-nio client with end-to-end encryption: the bot's own crypto store under
    ``var/bots/<id>/crypto`` pickled with its own key, and its sync token kept there too."""
    config = AsyncClientConfig(
        encryption_enabled=ENCRYPTION_ENABLED,
        store_sync_tokens=ENCRYPTION_ENABLED,
        pickle_key=services.bot_pickle_key(bot=bot),
        # Every call waits out a 429 for the retry_after_ms the homeserver asked (nio retries
        # it, the runner logs it); connection errors come back to the runner, which retries
        # them itself: sends through the outbox (same transaction id), syncs with backoff.
        max_limit_exceeded=None,
        max_timeouts=0,
    )
    return AsyncClient(
        bot.homeserver,
        bot.user_id,
        device_id=bot.device_id or None,
        store_path=str(services.bot_crypto_dir(bot)),
        config=config,
    )


def _restore(client: AsyncClient, user_id: str, device_id: str | None, token: str) -> None:
    if client.config.encryption_enabled and device_id:
        client.restore_login(user_id, device_id, token)  # loads the device's crypto store
    else:
        client.user_id, client.device_id, client.access_token = user_id, device_id, token


async def login(client: AsyncClient, bot: BotAccount) -> None:
    """Log in with the stored access token, else the password (storing the new token). The
    password login reuses the stored device, so the device keys and crypto store stay."""
    if bot.access_token:
        _restore(client, bot.user_id, bot.device_id or None, bot.access_token)
        who = await client.whoami()
        if isinstance(who, WhoamiResponse):
            if who.device_id and who.device_id != client.device_id:
                _restore(client, who.user_id, who.device_id, bot.access_token)
            client.user_id = who.user_id
            log.info(
                "logged in to %s as %s with the stored access token", bot.homeserver, who.user_id
            )
            return
        log.warning("stored access token refused (%s)", getattr(who, "status_code", who))
        client.access_token = ""
        client.device_id = bot.device_id or None
        if not bot.password:
            raise FatalBotError(f"login failed: access token refused ({who.message})")
    if not bot.password:
        raise FatalBotError("login failed: no password and no access token")
    response = await client.login(
        password=bot.password, device_name=f"persona-mcp {bot.persona.slug}"
    )
    if not isinstance(response, LoginResponse):
        code = getattr(response, "status_code", "") or ""
        reason = f"login failed: {response.message} ({code})"
        if code in FATAL_LOGIN_CODES:
            raise FatalBotError(reason)
        raise RuntimeError(reason)
    await _in_thread(
        services.bot_credentials_store,
        bot=bot,
        access_token=response.access_token,
        device_id=response.device_id,
    )
    log.info(
        "logged in to %s as %s (device %s)", bot.homeserver, response.user_id, response.device_id
    )


def _avatar_file(bot: BotAccount) -> tuple[Path, str] | None:
    avatar = bot.persona.avatar
    if not avatar:
        return None
    try:
        path = Path(avatar.path)
    except (NotImplementedError, ValueError):  # a storage without local files (e.g. S3)
        return None
    if not path.exists():
        return None
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


async def sync_profile(client: AsyncClient, bot: BotAccount) -> dict:
    """Set display name and avatar from the persona when they differ."""
    result = {"display_name": bot.persona.name, "avatar_mxc": bot.avatar_mxc or None}
    current = await client.get_displayname(client.user_id)
    if getattr(current, "displayname", None) != bot.persona.name:
        await client.set_displayname(bot.persona.name)
        log.info("display name set to %r", bot.persona.name)
    avatar = await asyncio.to_thread(_avatar_file, bot)
    if avatar is not None:
        path, digest = avatar
        if digest != bot.avatar_sha256 or not bot.avatar_mxc:
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            with open(path, "rb") as fh:
                upload, _ = await client.upload(
                    fh,
                    content_type=content_type,
                    filename=path.name,
                    filesize=path.stat().st_size,
                )
            if isinstance(upload, UploadResponse):
                await client.set_avatar(upload.content_uri)
                await _in_thread(
                    services.bot_avatar_store, bot=bot, sha256=digest, mxc=upload.content_uri
                )
                result["avatar_mxc"] = upload.content_uri
                log.info("avatar uploaded and set")
            else:
                log.warning("avatar upload failed: %s", upload)
    return result


async def sync_profile_once(bot: BotAccount) -> dict:
    """Log in, set display name and avatar, log out of nothing (the token is kept)."""
    client = AsyncClient(
        bot.homeserver, bot.user_id, config=AsyncClientConfig(encryption_enabled=False)
    )
    try:
        await login(client, bot)
        return await sync_profile(client, bot)
    finally:
        await client.close()


class BotRunner:
    """One running bot: sync loop, message handling, heartbeats, clean stop."""

    def __init__(self, bot: BotAccount, pid: int):
        self.bot = bot
        self.pid = pid
        self.persona = bot.persona
        self.client = encrypted_client(bot)
        self.crypto = e2ee.Crypto(self.client, bot)
        self.client.add_to_device_callback(self.crypto.on_key_request, (RoomKeyRequest,))
        self.client.add_response_callback(self.on_error_response, ErrorResponse)
        self.stop_event = asyncio.Event()
        self.cancel_event = threading.Event()
        self.known_bots: set[str] = set()
        self.room_locks: dict[str, asyncio.Lock] = {}
        self.room_replies: dict[str, deque] = {}
        self.tasks: set[asyncio.Task] = set()
        self.inviters: dict[str, str] = {}
        self.announced_invites: set[str] = set()
        self.room_settings: dict[str, tuple[str, int | None]] = {}
        self.recorded_rooms: list[dict] | None = None
        self.started_ms = int(time.time() * 1000)
        self.answered = 0
        self.bridged: set[str] = set()  # Matrix rooms of the bridges this persona is in
        self.outbox_wake: asyncio.Event | None = None

    # --- lifecycle ----------------------------------------------------------------------

    async def main(self) -> tuple[int, str]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await login(self.client, self.bot)
            await self.announce_device()
            await sync_profile(self.client, self.bot)
            self.known_bots = await _in_thread(selectors.bot_user_ids)
            first = await self.client.sync(timeout=0, full_state=True)
            if isinstance(first, SyncError):
                raise RuntimeError(f"first sync failed: {first.message}")
            for room in self.bot.rooms:
                await self.join(room, reason="configured")
            self.bridged = await _in_thread(bridges.bridged_rooms_of, bot=self.bot)
            for room_id, info in first.rooms.invite.items():
                await self.on_invite(room_id, info.invite_state)
            await self.join_bridged()
            await asyncio.to_thread(warm_up)  # the first answer must not load the model
            await self.record_rooms()
            await _in_thread(supervision.bot_run_running, bot=self.bot, pid=self.pid)
            log.info("running: %d joined rooms", len(self.client.rooms))
            self.outbox_wake = asyncio.Event()
            heartbeat = asyncio.create_task(self.heartbeat_loop())
            delivering = asyncio.create_task(self.outbox_loop())
            syncing = asyncio.create_task(self.sync_loop())
            stopping = asyncio.create_task(self.stop_event.wait())
            await asyncio.wait({stopping, syncing}, return_when=asyncio.FIRST_COMPLETED)
            if syncing.done() and not syncing.cancelled() and syncing.exception():
                heartbeat.cancel()
                stopping.cancel()
                delivering.cancel()
                raise syncing.exception()
            syncing.cancel()
            heartbeat.cancel()
            await asyncio.gather(syncing, heartbeat, return_exceptions=True)
            await self.finish_tasks()
            delivering.cancel()
            await asyncio.gather(delivering, return_exceptions=True)
            await self.flush_outbox()
            log.info("stopped cleanly after %d replies", self.answered)
            return 0, ""
        except FatalBotError as exc:
            log.error("%s (not restarted automatically; fix the credentials)", exc)
            return (
                supervision.EXIT_FATAL,
                f"{exc} (not restarted automatically; fix the credentials)",
            )
        finally:
            await self.client.close()

    async def announce_device(self) -> None:
        """Upload the device keys when new, and record the device and its fingerprint."""
        if not self.crypto.enabled:
            log.info("end-to-end encryption unavailable (matrix-nio without the e2e extra)")
            return
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        fingerprint = self.crypto.fingerprint()
        await _in_thread(
            services.bot_device_store,
            bot=self.bot,
            device_id=self.client.device_id,
            fingerprint=fingerprint,
        )
        log.info("device %s, fingerprint %s", self.client.device_id, fingerprint)

    async def on_error_response(self, response: ErrorResponse) -> None:
        """nio calls this for each 429 before it waits and retries the same request."""
        if response.status_code == "M_LIMIT_EXCEEDED":
            log.warning(
                "rate limited (M_LIMIT_EXCEEDED, retry_after_ms %s): %s waits as asked",
                response.retry_after_ms or 5000,
                type(response).__name__.removesuffix("Error") or "a request",
            )

    def request_stop(self) -> None:
        if not self.stop_event.is_set():
            log.info("stop requested")
            self.stop_event.set()

    async def finish_tasks(self, grace: float = 5.0) -> None:
        if not self.tasks:
            return
        _, pending = await asyncio.wait(self.tasks, timeout=grace)
        if pending:
            self.cancel_event.set()
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def heartbeat_loop(self) -> None:
        interval = settings.BOTS["HEARTBEAT_INTERVAL"]
        while True:
            await asyncio.sleep(interval)
            try:
                keep = await _in_thread(supervision.bot_heartbeat, bot=self.bot, pid=self.pid)
                self.known_bots = await _in_thread(selectors.bot_user_ids)
                self.room_settings = await _in_thread(rooms.bot_room_settings, bot=self.bot)
                self.bridged = await _in_thread(bridges.bridged_rooms_of, bot=self.bot)
            except Exception:
                log.exception("heartbeat failed")
                continue
            try:
                await self.join_bridged()
            except Exception as exc:
                log.warning("could not join the bridged rooms: %s", type(exc).__name__)
            if not keep:
                log.info("the run row asks this process to stop")
                self.request_stop()
                return

    async def log_in_again(self, reason: str) -> None:
        """The access token expired or was revoked (soft logout): log in again with the stored
        password on the same device; without a password the bot ends ``crashed``."""
        # The operator may have changed the credentials meanwhile.
        await _in_thread(self.bot.refresh_from_db, fields=["password", "access_token"])
        if not self.bot.password:
            raise FatalBotError(f"access token revoked ({reason}) and no password to log in again")
        log.warning("access token refused (%s); logging in again with the stored password", reason)
        self.bot.access_token = ""
        self.client.access_token = ""
        await login(self.client, self.bot)
        await self.republish_device_keys()

    async def republish_device_keys(self) -> None:
        """A revoked token may have taken the device with it (Synapse's logout deletes the
        device and its keys): when the homeserver no longer knows this device's keys, upload
        them again, so that the others' clients share their room keys with it again."""
        if not self.crypto.enabled:
            return
        method, path, data = Api.keys_query(self.client.access_token, {self.client.user_id})
        response = await self.client._send(KeysQueryResponse, method, path, data)
        if not isinstance(response, KeysQueryResponse):
            log.warning("could not check the device keys: %s", getattr(response, "message", ""))
            return
        if self.client.device_id in response.device_keys.get(self.client.user_id, {}):
            return
        log.warning(
            "device %s lost its keys on the homeserver; uploading them again", self.client.device_id
        )
        self.client.olm.account.shared = False
        await self.client.keys_upload()

    async def sync_loop(self) -> None:
        """Sync until stopped. A 429 waits ``retry_after_ms`` (in nio); an unreachable
        homeserver (it restarts, the network is down) and other sync errors are retried with
        backoff."""
        failures = 0
        while True:
            try:
                response = await self.client.sync(timeout=10000)
            except (ClientConnectionError, TimeoutError, OSError) as exc:
                failures += 1
                wait = outbox.backoff(failures)
                log.warning(
                    "sync: homeserver unreachable (%s); retrying in %.1f s",
                    type(exc).__name__,
                    wait,
                )
                await asyncio.sleep(wait)
                continue
            if isinstance(response, SyncError) and response.status_code == "M_UNKNOWN_TOKEN":
                await self.log_in_again(response.message)
                continue
            if isinstance(response, SyncError):
                failures += 1
                wait = outbox.backoff(failures)
                log.warning("sync failed (%s); retrying in %.1f s", response.message, wait)
                await asyncio.sleep(wait)
                continue
            if failures:
                log.info("sync works again after %d failed attempts", failures)
                if self.outbox_wake is not None:
                    self.outbox_wake.set()
            failures = 0
            try:
                await self.handle_sync(response)
            except (ClientConnectionError, TimeoutError, OSError) as exc:
                log.warning("homeserver unreachable after a sync (%s)", type(exc).__name__)

    async def handle_sync(self, response) -> None:
        for room_id, info in response.rooms.invite.items():
            await self.on_invite(room_id, info.invite_state)
        for room_id, info in response.rooms.join.items():
            room = self.client.rooms.get(room_id)
            if room is None:
                continue
            for event in info.timeline.events:
                if isinstance(event, RoomMessageText):
                    self.on_message(room, event)
                elif isinstance(event, MegolmEvent):
                    await self.crypto.undecryptable(room, event)
        for room, event in await self.crypto.after_sync():
            if isinstance(event, RoomMessageText):
                self.on_message(room, event)
        await self.record_rooms()

    # --- rooms --------------------------------------------------------------------------

    def room_snapshot(self) -> list[dict]:
        """Joined and invited rooms as the admin and the API show them."""
        rooms = [
            {
                "room_id": room.room_id,
                "name": room.display_name or "",
                "member_count": room.joined_count or room.member_count,
                "encrypted": room.encrypted,
                "membership": "join",
            }
            for room in self.client.rooms.values()
        ]
        rooms += [
            {
                "room_id": room.room_id,
                "name": room.display_name or "",
                "member_count": room.joined_count or room.member_count,
                "encrypted": room.encrypted,
                "membership": "invite",
                "inviter": self.inviters.get(room.room_id, ""),
            }
            for room in self.client.invited_rooms.values()
            if room.room_id not in self.client.rooms
        ]
        return sorted(rooms, key=lambda r: r["room_id"])

    async def record_rooms(self) -> None:
        snapshot = self.room_snapshot()
        if snapshot != self.recorded_rooms:
            await _in_thread(rooms.bot_rooms_record, bot=self.bot, rooms=snapshot)
            self.recorded_rooms = snapshot
            self.room_settings = await _in_thread(rooms.bot_room_settings, bot=self.bot)

    async def join_bridged(self) -> None:
        """Join the bridged Matrix rooms the bot is not in yet (invited, or public rooms)."""
        for room_id in sorted(self.bridged - set(self.client.rooms)):
            await self.join(room_id, reason="bridged room")

    async def join(self, room: str, *, reason: str) -> bool:
        response = await self.client.join(room)
        if isinstance(response, JoinError):
            log.warning("could not join %s (%s): %s", room, reason, response.message)
            return False
        log.info("joined %s (%s)", response.room_id, reason)
        return True

    async def on_invite(self, room_id: str, invite_state: list) -> None:
        inviter = None
        for event in invite_state:
            if (
                isinstance(event, InviteMemberEvent)
                and event.state_key == self.client.user_id
                and event.membership == "invite"
            ):
                inviter = event.sender
        if inviter is None:
            return
        self.inviters[room_id] = inviter
        if room_id in self.bridged:
            await self.join(room_id, reason=f"bridged room, invited by {inviter}")
        elif self.bot.invite_policy == BotAccount.InvitePolicy.MANUAL:
            if room_id not in self.announced_invites:
                self.announced_invites.add(room_id)
                log.info("invite to %s from %s waits for an operator", room_id, inviter)
        elif invite_allowed(self.bot, inviter):
            await self.join(room_id, reason=f"invited by {inviter}")
        else:
            log.info(
                "declined invite to %s from %s (policy %s)",
                room_id,
                inviter,
                self.bot.invite_policy,
            )
            await self.client.room_leave(room_id)

    # --- messages -----------------------------------------------------------------------

    def addressed(self, room: MatrixRoom, event: RoomMessageText) -> bool:
        """Should the bot answer? By the room's setting: ``all``, ``never``, ``mentions``, or
        ``auto`` (every message in a direct room, mentions elsewhere)."""
        answer = self.room_settings.get(room.room_id, ("auto", None))[0]
        if answer in ("all", "never"):
            return answer == "all"
        if answer == "auto" and is_direct(room):
            return True
        names = [
            self.persona.name,
            self.persona.slug,
            self.client.user_id.split(":", 1)[0].lstrip("@"),
        ]
        own = room.users.get(self.client.user_id)
        if own is not None and own.display_name:
            names.append(own.display_name)
        return mentions(
            event.body, event.source.get("content", {}), user_id=self.client.user_id, names=names
        )

    def rate_ok(self, room_id: str) -> bool:
        window = self.room_replies.setdefault(room_id, deque())
        now = time.monotonic()
        while window and now - window[0] > 60:
            window.popleft()
        limit = self.room_settings.get(room_id, ("auto", None))[1]
        if len(window) >= (limit or settings.BOTS["ROOM_RATE_PER_MINUTE"]):
            return False
        window.append(now)
        return True

    def on_message(self, room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender == self.client.user_id:
            return  # never answer itself
        if event.server_timestamp < self.started_ms - 1000:
            return
        if room.room_id in self.bridged:
            self.on_bridged_message(room, event)
            return
        if not self.bot.answer_bots and event.sender in self.known_bots:
            return  # another persona bot: no bot-to-bot loops
        if (room.encrypted and not self.crypto.trusts(event.sender)) or self.crypto.blocked(
            event.sender
        ):
            log.info("room %s: ignoring %s (trust policy)", room.room_id, event.sender)
            return
        if not self.addressed(room, event):
            return
        if not self.rate_ok(room.room_id):
            log.warning("room %s: reply rate limit reached, ignoring a message", room.room_id)
            return
        task = asyncio.create_task(self.answer(room, event))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def on_bridged_message(self, room: MatrixRoom, event: RoomMessageText) -> None:
        """A message in a bridged room: persona bots never answer one another there; a human's
        message is fed into the Persona-MCP room by the first bot that claims it."""
        if event.sender in self.known_bots:
            return
        if (room.encrypted and not self.crypto.trusts(event.sender)) or self.crypto.blocked(
            event.sender
        ):
            log.info("room %s: ignoring %s (trust policy)", room.room_id, event.sender)
            return
        task = asyncio.create_task(self.feed(room, event))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def feed(self, room: MatrixRoom, event: RoomMessageText) -> None:
        try:
            result = await _in_thread(
                bridges.bridge_feed,
                bot=self.bot,
                matrix_room_id=room.room_id,
                event_id=event.event_id,
                sender=event.sender,
                sender_name=room.user_name(event.sender) or event.sender,
                body=event.body,
                cancel_event=self.cancel_event,
            )
        except Exception as exc:
            log.error("room %s: bridged turn failed: %s: %s", room.room_id, type(exc).__name__, exc)
            return
        if result is not None:
            if self.outbox_wake is not None:
                self.outbox_wake.set()  # this bot's own posts go at once, others' at their poll
            names = ", ".join(r["persona_slug"] for r in result["replies"]) or "nobody"
            log.info(
                "room %s: fed %s into its bridged room; answered by %s",
                room.room_id,
                event.event_id,
                names,
            )

    async def typing(self, room_id: str, on: bool) -> None:
        try:
            await self.client.room_typing(room_id, on, timeout=30000)
        except Exception as exc:  # a typing notice is never worth failing a reply for
            log.debug("typing notice failed: %s", type(exc).__name__)

    async def typing_later(self, room_id: str, started: asyncio.Event) -> None:
        """The typing notice of a reply that takes longer than ``TYPING_DELAY`` seconds."""
        await asyncio.sleep(settings.BOTS.get("TYPING_DELAY", TYPING_DELAY))
        started.set()
        await self.typing(room_id, True)

    async def answer(self, room: MatrixRoom, event: RoomMessageText) -> None:
        lock = self.room_locks.setdefault(room.room_id, asyncio.Lock())
        async with lock:
            # Typing notices run beside the turn, and only for a reply that is slow to come:
            # each notice wakes every member's sync, which a fast reply would then wait behind.
            typing_started = asyncio.Event()
            typing = asyncio.create_task(self.typing_later(room.room_id, typing_started))
            try:
                reply = await _in_thread(self.turn, room, event)
            except Exception as exc:
                reply = None
                log.error("room %s: turn failed: %s: %s", room.room_id, type(exc).__name__, exc)
                await self.send(
                    room.room_id,
                    {
                        "msgtype": "m.notice",
                        "body": f"({self.persona.name} cannot answer right now.)",
                    },
                )
            if reply:
                limit = settings.BOTS["MAX_MESSAGE_CHARS"]
                for index, part in enumerate(split_message(reply, limit)):
                    await self.send(room.room_id, reply_content(part, event, first=index == 0))
                self.answered += 1
                log.info("room %s: answered %s", room.room_id, event.sender)
            if not typing_started.is_set():
                typing.cancel()  # the reply came first: no notice was sent
                return
            await typing
            await self.typing(room.room_id, False)

    async def send(self, room_id: str, content: dict) -> None:
        """Queue a message in the outbox (stored, so that it survives the homeserver's and
        this process's restarts) and wake the delivery loop."""
        await _in_thread(outbox.outbox_add, bot=self.bot, room_id=room_id, content=content)
        if self.outbox_wake is not None:
            self.outbox_wake.set()
        else:
            await self.flush_outbox()

    async def outbox_loop(self) -> None:
        """Send the outbox's due messages, in order per room; poll for messages other
        processes queued (bridged rooms) every ``OUTBOX_POLL`` seconds."""
        poll = settings.BOTS.get("OUTBOX_POLL", 0.5)
        while True:
            try:
                await self.deliver_due()
            except Exception:
                log.exception("outbox delivery failed")
            try:
                await asyncio.wait_for(self.outbox_wake.wait(), timeout=poll)
            except TimeoutError:
                pass
            self.outbox_wake.clear()

    async def flush_outbox(self, grace: float = 3.0) -> None:
        """At a stop: a last try of what is due (the rest waits for the next start)."""
        try:
            await asyncio.wait_for(self.deliver_due(), timeout=grace)
        except Exception as exc:
            log.info("outbox not flushed at stop (%s)", type(exc).__name__)

    async def deliver_due(self) -> None:
        rows = await _in_thread(outbox.outbox_due, bot=self.bot)
        blocked: set[str] = set()
        for row in rows:
            if row.room_id in blocked:
                continue
            if not await self.deliver(row):
                blocked.add(row.room_id)  # later messages wait: the order stays

    async def deliver(self, row) -> bool:
        """One try at one outbox message (encrypted in an encrypted room, to the devices the
        policy trusts). Returns whether it was sent."""
        self.crypto.apply_trust()
        try:
            response = await self.client.room_send(
                row.room_id,
                "m.room.message",
                row.content,
                tx_id=row.txn_id,
                ignore_unverified_devices=True,
            )
        except (ClientConnectionError, TimeoutError, OSError) as exc:
            wait = await _in_thread(
                outbox.outbox_retry, row=row, error=f"homeserver unreachable: {type(exc).__name__}"
            )
            log.warning(
                "room %s: homeserver unreachable (%s); message %s retried in %.1f s",
                row.room_id,
                type(exc).__name__,
                row.txn_id,
                wait,
            )
            return False
        except Exception as exc:  # e.g. a room the bot has not joined yet
            await _in_thread(
                outbox.outbox_retry,
                row=row,
                error=f"{type(exc).__name__}: {exc}",
                refused=True,
                max_tries=outbox.MAX_LOCAL_ERRORS,
            )
            log.warning("room %s: cannot send message %s yet: %s", row.room_id, row.txn_id, exc)
            return False
        if isinstance(response, RoomSendResponse):
            await _in_thread(outbox.outbox_sent, row=row, event_id=response.event_id)
            return True
        code = getattr(response, "status_code", "") or ""
        if code == "M_UNKNOWN_TOKEN":
            await self.log_in_again(response.message)
            await _in_thread(outbox.outbox_retry, row=row, error=str(response), delay=0)
            return False
        await _in_thread(outbox.outbox_retry, row=row, error=str(response), refused=True)
        log.error("room %s: sending failed: %s", row.room_id, response.message)
        return False

    def turn(self, room: MatrixRoom, event: RoomMessageText) -> str:
        from conversations.services import conversation_send_message

        result = conversation_send_message(
            persona=self.persona,
            content=event.body,
            sender=event.sender,
            sender_name=room.user_name(event.sender) or event.sender,
            context={
                "platform": "matrix",
                "room_id": room.room_id,
                "room_name": room.display_name,
                "direct": is_direct(room),
            },
            platform="matrix",
            cancel_event=self.cancel_event,
        )
        return result.get("response") or ""


class SecretFilter(logging.Filter):
    """Redact credentials from every record written to a bot's log."""

    def __init__(self, bot: BotAccount):
        super().__init__()
        self.bot = bot  # read at each record: a new access token is redacted too

    def filter(self, record: logging.LogRecord) -> bool:
        self.secrets = services.bot_secrets(self.bot)
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = services.redact(message, self.secrets)
        record.args = None
        if record.exc_text:
            record.exc_text = services.redact(record.exc_text, self.secrets)
        return True


def configure_logging(bot: BotAccount, *, console: bool) -> Path:
    """Log to the bot's rotating file (and stderr when run by hand), credentials redacted."""
    from logging.handlers import RotatingFileHandler

    path = services.bot_log_path(bot)
    handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    formatter = logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [pid %(process)d] %(message)s"
    )
    secrets = SecretFilter(bot)
    handlers: list[logging.Handler] = [handler]
    if console:
        handlers.append(logging.StreamHandler())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    for item in handlers:
        item.setFormatter(formatter)
        item.addFilter(secrets)
        root.addHandler(item)
    root.setLevel(logging.INFO)
    for noisy in ("nio", "aiohttp", "peewee", "httpx", "httpcore", "urllib3", "faiss", "celery"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Filters on handlers see records of every logger; also guard propagation-less loggers.
    logging.getLogger("bots").addFilter(secrets)
    return path


def run_bot(bot: BotAccount, *, console: bool = True) -> int:
    """Run the bot in the foreground until SIGTERM/SIGINT; returns the process exit code."""
    configure_logging(bot, console=console)
    pid = os.getpid()
    try:
        supervision.bot_run_claim(bot=bot, pid=pid)
    except AlreadyRunning as exc:
        log.error("%s", exc.message)
        return 1
    # Fresh secrets after claiming (the token may have been stored by a previous run).
    bot.refresh_from_db()
    log.info("starting bot %s for persona %s (pid %d)", bot.user_id, bot.persona.slug, pid)
    runner = BotRunner(bot, pid)
    try:
        code, error = asyncio.run(runner.main())
    except Exception as exc:
        log.exception("bot crashed")
        code, error = 1, f"{type(exc).__name__}: {exc}"
    close_old_connections()
    supervision.bot_run_finish(bot=bot, pid=pid, exit_code=code, error=error)
    return code
