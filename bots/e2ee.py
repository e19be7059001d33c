"""End-to-end encryption for a running bot (matrix-nio's Olm/Megolm machine, vodozemac).

After every sync the bot keeps its device healthy: to-device messages out (room keys, answers to
key requests), device keys and one-time keys uploaded and topped up, other devices queried and
claimed, and every known device trusted or blocked by the bot's policy:

- ``tofu`` (default): a device is trusted the first time it is seen (its keys are pinned by the
  store; a changed key for the same device is refused by nio);
- ``allowlist``: only devices of ``trusted_users`` are trusted; every other device is
  blacklisted (it gets no room keys) and its users' messages are not answered;
- ``blocked_users`` in both policies: devices blacklisted, messages never answered, key
  requests refused.

A message that cannot be decrypted yet is logged with the reason, its key is requested, and it
is retried after each sync until the key arrives (then answered once) or it is too old.
"""

from __future__ import annotations

import logging
import time

from nio import AsyncClient, EncryptionError, LocalProtocolError, MatrixRoom, MegolmEvent
from nio.crypto import OlmDevice

from bots.models import BotAccount

log = logging.getLogger("bots.e2ee")

RETRY_FOR_SECONDS = 3600
MAX_PENDING = 500


class Crypto:
    """The encryption state of one bot process."""

    def __init__(self, client: AsyncClient, bot: BotAccount):
        self.client = client
        self.bot = bot
        self.pending: dict[str, tuple[MatrixRoom, MegolmEvent, float]] = {}
        self.key_requests: dict[str, object] = {}

    @property
    def enabled(self) -> bool:
        return self.client.olm is not None

    def fingerprint(self) -> str:
        return self.client.olm.account.identity_keys["ed25519"] if self.enabled else ""

    # --- trust ----------------------------------------------------------------------------

    def blocked(self, user_id: str) -> bool:
        return user_id in self.bot.blocked_users

    def trusts(self, user_id: str) -> bool:
        """Are this user's devices trusted (and their messages answered) under the policy?"""
        if self.blocked(user_id):
            return False
        if self.bot.trust_policy == BotAccount.TrustPolicy.ALLOWLIST:
            return user_id in self.bot.trusted_users or user_id == self.client.user_id
        return True

    def apply_trust(self) -> None:
        """Verify or blacklist every device the store knows, by policy (idempotent)."""
        own = (self.client.user_id, self.client.device_id)
        for device in list(self.client.device_store):
            if not device.deleted and (device.user_id, device.device_id) != own:
                self._judge(device)

    def _judge(self, device: OlmDevice) -> None:
        if self.trusts(device.user_id):
            if device.blacklisted:
                self.client.unblacklist_device(device)
            if not device.verified:
                self.client.verify_device(device)
                log.info("trusted device %s of %s", device.device_id, device.user_id)
        elif not device.blacklisted:
            self.client.blacklist_device(device)
            log.info("blocked device %s of %s (policy)", device.device_id, device.user_id)

    # --- after each sync --------------------------------------------------------------------

    async def after_sync(self) -> list[tuple[MatrixRoom, object]]:
        """Keep the device's keys and sessions up to date; returns events decrypted late."""
        if not self.enabled:
            return []
        client = self.client
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        self.apply_trust()
        self._answer_key_requests()
        await client.send_to_device_messages()
        return self._retry_pending()

    # --- key requests from other users' devices ----------------------------------------------

    async def on_key_request(self, event) -> None:
        """A to-device key request nio did not answer itself (it answers only our own
        devices): share our own room key with a trusted device of a room member."""
        self.key_requests[event.request_id] = event

    def _answer_key_requests(self) -> None:
        olm = self.client.olm
        for request_id, event in list(self.key_requests.items()):
            room = self.client.rooms.get(getattr(event, "room_id", ""))
            if not hasattr(event, "session_id"):  # a cancellation
                self.key_requests.pop(request_id, None)
                continue
            own_key = olm.account.identity_keys["curve25519"]
            allowed = (
                room is not None
                and event.sender in room.users
                and self.trusts(event.sender)
                and event.sender_key == own_key
            )
            if not allowed:
                log.info("refused a room key request from %s (policy)", event.sender)
                olm.cancel_key_share(event)
                self.key_requests.pop(request_id, None)
                continue
            try:
                olm.share_with_ourselves(event)  # works for any verified device, despite its name
            except EncryptionError:
                continue  # an Olm session with that device is being claimed: next sync
            except Exception as exc:  # unknown session or device: nothing to share
                log.info("could not answer a room key request from %s: %s", event.sender, exc)
            olm.cancel_key_share(event)
            self.key_requests.pop(request_id, None)
            log.info("answered a room key request from %s", event.sender)

    # --- undecryptable events -------------------------------------------------------------

    async def undecryptable(self, room: MatrixRoom, event: MegolmEvent) -> None:
        """Log why ``event`` cannot be read, ask for its key, retry it after later syncs."""
        reason = "the room key has not arrived"
        try:
            self.client.decrypt_event(event)
        except EncryptionError as exc:
            reason = str(exc) or reason
        log.warning(
            "room %s: cannot decrypt event %s from %s (session %s): %s; asking for the key",
            room.room_id,
            event.event_id,
            event.sender,
            event.session_id,
            reason,
        )
        if len(self.pending) >= MAX_PENDING:
            self.pending.pop(next(iter(self.pending)))
        self.pending[event.event_id] = (room, event, time.monotonic())
        try:
            await self.client.request_room_key(event)
        except LocalProtocolError:
            pass  # already requested

    def _retry_pending(self) -> list[tuple[MatrixRoom, object]]:
        decrypted = []
        now = time.monotonic()
        for event_id, (room, event, since) in list(self.pending.items()):
            try:
                clear = self.client.decrypt_event(event)
            except EncryptionError:
                if now - since > RETRY_FOR_SECONDS:
                    log.warning("room %s: gave up decrypting event %s", room.room_id, event_id)
                    self.pending.pop(event_id)
                continue
            self.pending.pop(event_id)
            log.info("room %s: decrypted event %s after its key arrived", room.room_id, event_id)
            decrypted.append((room, clear))
        return decrypted
