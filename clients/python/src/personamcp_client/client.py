"""The asyncio client: one WebSocket, many concurrent requests, reconnects by itself."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import itertools
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from .errors import ClientClosed, ConnectionLost, PersonaMCPError, RequestTimeout, error_from

log = logging.getLogger("personamcp_client")

Handler = Callable[[dict], Any]  # sync or async; gets the event's params {topic, type, data, at}
MAX_FRAME = 32 * 1024 * 1024  # the server's frame limit is 16 MiB by default


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Exponential backoff with jitter: a random delay in [d/2, d], d = initial * 2**attempt."""
    ceiling = min(maximum, initial * (2 ** min(attempt, 30)))
    return random.uniform(ceiling / 2, ceiling)


def topic_matches(pattern: str, event: dict) -> bool:
    """Whether an event notification belongs to a subscribed topic pattern.

    The server names the event's primary topic (``persona.<id>``); a subscription may name the
    same object by slug (``persona.alice``) or use a wildcard (``persona.*``, ``*``).
    """
    topic = str(event.get("topic") or "")
    if fnmatch.fnmatchcase(topic, pattern):
        return True
    kind = topic.split(".", 1)[0]
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    names = {f"{kind}.{data[k]}" for k in ("id", "slug") if data.get(k) is not None}
    return pattern in names


class Stream:
    """A streaming turn: iterate it for the deltas as they arrive, then ``await result()``.

    The deltas are kept in order of their ``index`` (the assembled reply is ``text``); nothing is
    queued beyond the reply itself, so a consumer that never iterates costs no more memory.
    """

    def __init__(self, client: Client, request_id: int):
        self.client = client
        self.request_id = request_id
        self._pieces: dict[int, str] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.conversation_id: str | None = None

    def _chunk(self, params: dict) -> None:
        index, delta = params.get("index"), params.get("delta")
        if not isinstance(index, int) or not isinstance(delta, str):
            log.warning("ignoring a malformed conversation.chunk: %r", params)
            return
        self.conversation_id = params.get("conversation_id") or self.conversation_id
        self._pieces.setdefault(index, delta)
        self._changed.set()

    def _done(self, _task: asyncio.Task) -> None:
        self._changed.set()

    @property
    def text(self) -> str:
        """The reply assembled so far (in index order)."""
        return "".join(self._pieces[i] for i in sorted(self._pieces))

    async def __aiter__(self) -> AsyncIterator[str]:
        assert self._task is not None
        i = 0
        while True:
            while i in self._pieces:
                yield self._pieces[i]
                i += 1
            if self._task.done():
                for k in sorted(k for k in self._pieces if k > i):  # after a gap, in order
                    yield self._pieces[k]
                return
            self._changed.clear()
            await self._changed.wait()

    async def result(self) -> dict:
        """The turn result (the same shape as ``send``); raises ``Cancelled`` after a cancel."""
        assert self._task is not None
        return await asyncio.shield(self._task)

    def __await__(self):
        return self.result().__await__()

    async def cancel(self) -> bool:
        """Ask the server to stop this reply; ``result()`` then raises ``Cancelled``."""
        return await self.client.cancel(self.request_id)


class Subscription:
    def __init__(self, client: Client, topics: list[str], handler: Handler):
        self.client, self.topics, self.handler = client, topics, handler

    async def unsubscribe(self) -> None:
        await self.client.unsubscribe(self)


class Client:
    """A Persona-MCP client over one WebSocket.

    ``async with Client(url, api_key) as client:`` connects, authenticates with
    ``session.authenticate`` and keeps the connection: when it drops, the client reconnects with
    exponential backoff and jitter, authenticates again, switches back to the active persona
    and subscribes again to its topics. Requests in flight when the socket drops fail with
    ``ConnectionLost``; requests made while reconnecting wait (within their timeout).
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        reconnect: bool = True,
        request_timeout: float = 60.0,
        connect_timeout: float = 10.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        max_in_flight: int = 256,
        ping_interval: float | None = 20.0,
        compression: str | None = None,
    ):
        self.url = url
        self.api_key = api_key
        self.reconnect = reconnect
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.ping_interval = ping_interval
        # permessage-deflate costs more CPU than it saves on small JSON-RPC frames (on the
        # server too): off unless asked for ("deflate")
        self.compression = compression
        self.scopes: list[str] = []
        self.active_persona: str | None = None
        self.connects = 0  # how many times a connection was (re)established
        self._ids = itertools.count(1)
        self._ws: ClientConnection | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._streams: dict[int, Stream] = {}
        self._subs: list[Subscription] = []
        self._note_handlers: dict[str, list[Handler]] = {}
        self._slots = asyncio.Semaphore(max_in_flight)
        self._ready = asyncio.Event()
        self._closed = False
        self._stopping = asyncio.Event()  # set by close(): ends a backoff wait at once
        self._fatal: BaseException | None = None
        self._runner: asyncio.Task | None = None

    # --- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        return await self.connect()

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def connect(self) -> Client:
        """Open the first connection (raises if the server cannot be reached or the key is
        refused); reconnects after that happen in the background."""
        ws = await self._open()
        reader = asyncio.create_task(self._read(ws))
        try:
            await self._restore()
        except BaseException:
            reader.cancel()
            await ws.close()
            raise
        self._ready.set()
        self._runner = asyncio.create_task(self._supervise(ws, reader))
        return self

    async def close(self) -> None:
        """Close the socket; waiting requests fail with ``ClientClosed``."""
        self._closed = True
        self._stopping.set()
        self._ready.set()  # wake callers waiting for a connection
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._fail_pending(ClientClosed("client closed"))

    @property
    def connected(self) -> bool:
        return self._ready.is_set() and not self._closed and self._ws is not None

    async def _open(self) -> ClientConnection:
        ws = await ws_connect(
            self.url,
            open_timeout=self.connect_timeout,
            max_size=MAX_FRAME,
            ping_interval=self.ping_interval,
            close_timeout=2,
            compression=self.compression,
        )
        self._ws = ws
        return ws

    async def _restore(self) -> None:
        """Authenticate, switch to the active persona, subscribe to the topics again."""
        if self.api_key:
            result = await self._request("session.authenticate", {"token": self.api_key})
            self.scopes = list(result.get("scopes") or [])
        if self.active_persona is not None:
            await self._request("persona.switch", {"persona_id": self.active_persona})
        topics = self._topics()
        if topics:
            await self._request("events.subscribe", {"topics": topics})
        self.connects += 1

    async def _supervise(self, ws: ClientConnection, reader: asyncio.Task) -> None:
        attempt = 0
        while True:
            await reader
            self._ready.clear()
            self._ws = None
            self._fail_pending(ConnectionLost("the connection closed"))
            if self._closed or not self.reconnect:
                self._closed = True
                self._ready.set()
                return
            while not self._closed:
                delay = backoff_delay(attempt, self.backoff_initial, self.backoff_max)
                attempt += 1
                log.info("reconnecting to %s in %.2fs (attempt %d)", self.url, delay, attempt)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                if self._closed:
                    return
                try:
                    ws = await self._open()
                except (OSError, TimeoutError, ConnectionClosed, ValueError) as exc:
                    log.info("reconnect failed: %s", exc)
                    continue
                except Exception as exc:  # e.g. an HTTP error status during the handshake
                    log.info("reconnect failed: %r", exc)
                    continue
                if self._closed:  # close() came while the socket was opening
                    await ws.close()
                    return
                reader = asyncio.create_task(self._read(ws))
                try:
                    await self._restore()
                except (ConnectionLost, RequestTimeout, ConnectionClosed):
                    await ws.close()
                    await reader
                    continue
                except PersonaMCPError as exc:  # the key was refused: no point in retrying
                    log.error("could not restore the session after reconnecting: %s", exc)
                    self._fatal = exc
                    self._closed = True
                    await ws.close()
                    await reader
                    self._ready.set()
                    self._fail_pending(exc)
                    return
                attempt = 0
                self._ready.set()
                break
            else:
                return

    def _fail_pending(self, exc: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(exc)

    # --- reading -----------------------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                if not isinstance(frame, str):
                    log.warning("ignoring a binary frame from the server (%d bytes)", len(frame))
                    continue
                try:
                    message = json.loads(frame)
                except ValueError:
                    log.warning("ignoring a frame that is not JSON: %.80r", frame)
                    continue
                for item in message if isinstance(message, list) else [message]:
                    try:
                        await self._dispatch(item)
                    except Exception:
                        log.exception("error while handling a message from the server")
        except ConnectionClosed:
            pass

    async def _dispatch(self, message: Any) -> None:
        if not isinstance(message, dict):
            log.warning("ignoring a JSON value that is not a message: %.80r", message)
            return
        if "method" in message:
            if "id" not in message:
                await self._notification(str(message["method"]), message.get("params"))
            else:
                log.warning("ignoring a request from the server: %.80r", message)
            return
        has_result, has_error = "result" in message, "error" in message
        if has_result == has_error:
            log.warning("ignoring a response with neither or both result/error: %.80r", message)
            return
        future = self._pending.get(message.get("id"))  # type: ignore[arg-type]
        if future is None:
            log.warning("ignoring a response for an unknown id: %.80r", message.get("id"))
            return
        if future.done():
            return
        if has_error:
            error = message["error"] if isinstance(message["error"], dict) else {}
            future.set_exception(error_from(error))
        else:
            future.set_result(message["result"])

    async def _notification(self, method: str, params: Any) -> None:
        if method == "conversation.chunk" and isinstance(params, dict):
            stream = self._streams.get(params.get("request_id"))  # type: ignore[arg-type]
            if stream is not None:
                stream._chunk(params)
            else:
                log.debug("chunk for a request this client is not streaming: %r", params)
        elif method == "event" and isinstance(params, dict):
            for sub in list(self._subs):
                if any(topic_matches(t, params) for t in sub.topics):
                    await self._run_handler(sub.handler, params)
        handlers = self._note_handlers.get(method, [])
        if not handlers and method not in ("conversation.chunk", "event"):
            log.debug("notification %s with no handler", method)
        for handler in list(handlers):
            await self._run_handler(handler, params)

    @staticmethod
    async def _run_handler(handler: Handler, params: Any) -> None:
        try:
            outcome = handler(params)
            if isinstance(outcome, Awaitable):
                await outcome
        except Exception:
            log.exception("a notification handler failed")

    # --- requests ----------------------------------------------------------------------------

    async def _request(self, method: str, params: Any = None, req_id: int | None = None) -> Any:
        """Send one request on the current socket and wait for its answer (no timeout)."""
        ws = self._ws
        if ws is None:
            raise ConnectionLost("not connected")
        req_id = next(self._ids) if req_id is None else req_id
        future = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            try:
                await ws.send(json.dumps(message))
            except ConnectionClosed:
                raise ConnectionLost("the connection closed") from None
            return await future
        finally:
            if self._pending.get(req_id) is future:
                del self._pending[req_id]

    async def call(
        self, method: str, params: dict | list | None = None, *, timeout: float | None = None
    ) -> Any:
        """Call a method; returns its result or raises the typed ``RpcError`` subclass."""
        return await self._call(method, params, timeout=timeout)

    async def _call(
        self,
        method: str,
        params: Any,
        *,
        timeout: float | None = None,
        req_id: int | None = None,
    ) -> Any:
        timeout = self.request_timeout if timeout is None else timeout
        try:
            async with self._slots:
                return await asyncio.wait_for(self._when_ready(method, params, req_id), timeout)
        except TimeoutError:
            raise RequestTimeout(f"{method}: no answer within {timeout}s") from None

    async def _when_ready(self, method: str, params: Any, req_id: int | None) -> Any:
        await self._ready.wait()
        if self._closed:
            raise self._fatal or ClientClosed("client closed")
        return await self._request(method, params, req_id)

    async def notify(self, method: str, params: dict | None = None) -> None:
        """Send a notification (no answer)."""
        await self._ready.wait()
        if self._closed or self._ws is None:
            raise self._fatal or ClientClosed("client closed")
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._ws.send(json.dumps(message))

    def on_notification(self, method: str, handler: Handler) -> None:
        """Call ``handler(params)`` for every notification of this method (e.g. ``room.message``)."""
        self._note_handlers.setdefault(method, []).append(handler)

    # --- conversation --------------------------------------------------------------------------

    async def switch(self, persona: str) -> dict:
        """Make ``persona`` (id or slug) the session's active persona; kept across reconnects."""
        result = await self.call("persona.switch", {"persona_id": persona})
        self.active_persona = persona
        return result

    async def send(self, content: str, *, timeout: float | None = None, **options: Any) -> dict:
        """One turn: ``{response, conversation_id, message_id, emotion, ...}``. Options are the
        params of ``conversation.send_message`` (``persona_id``, ``sender``, ``context``...)."""
        return await self.call(
            "conversation.send_message", {"content": content, **options}, timeout=timeout
        )

    def stream(self, content: str, *, timeout: float | None = None, **options: Any) -> Stream:
        """A streaming turn (see ``Stream``). On a timeout the client also cancels it."""
        req_id = next(self._ids)
        stream = Stream(self, req_id)
        params = {"content": content, **options, "stream": True}
        self._streams[req_id] = stream

        async def run() -> dict:
            try:
                return await self._call(
                    "conversation.send_message", params, timeout=timeout, req_id=req_id
                )
            except RequestTimeout:
                with contextlib.suppress(PersonaMCPError):
                    await self.cancel(req_id, timeout=5)
                raise
            finally:
                self._streams.pop(req_id, None)

        stream._task = asyncio.create_task(run())
        stream._task.add_done_callback(stream._done)
        return stream

    async def cancel(self, request_id: int | str, *, timeout: float | None = None) -> bool:
        """Cancel a streaming request by its id; ``True`` when it was still running."""
        result = await self.call("conversation.cancel", {"request_id": request_id}, timeout=timeout)
        return bool(result.get("cancelled"))

    # --- events ----------------------------------------------------------------------------

    def _topics(self) -> list[str]:
        return sorted({t for sub in self._subs for t in sub.topics})

    async def subscribe(self, topics: list[str] | str, handler: Handler) -> Subscription:
        """Call ``handler(params)`` for each ``event`` notification on these topics
        (``persona.*``, ``persona.alice``, ``room.<id>``...); kept across reconnects."""
        topics = [topics] if isinstance(topics, str) else list(topics)
        sub = Subscription(self, topics, handler)
        self._subs.append(sub)
        try:
            await self.call("events.subscribe", {"topics": topics})
        except BaseException:
            self._subs.remove(sub)
            raise
        return sub

    async def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
        still = set(self._topics())
        gone = [t for t in sub.topics if t not in still]
        if gone:
            await self.call("events.unsubscribe", {"topics": gone})

    # --- thin typed wrappers ---------------------------------------------------------------

    async def ping(self) -> dict:
        return await self.call("system.ping")

    async def info(self) -> dict:
        return await self.call("system.info")

    async def session_info(self) -> dict:
        return await self.call("session.info")

    async def persona_get(self, persona_id: str) -> dict:
        return await self.call("persona.get", {"persona_id": persona_id})

    async def persona_list(self, **params: Any) -> dict:
        return await self.call("persona.list", params)

    async def persona_create(self, name: str, **fields: Any) -> dict:
        return await self.call("persona.create", {"name": name, **fields})

    async def persona_update(self, persona_id: str, **fields: Any) -> dict:
        return await self.call("persona.update", {"persona_id": persona_id, **fields})

    async def persona_delete(self, persona_id: str) -> dict:
        return await self.call("persona.delete", {"persona_id": persona_id})

    async def persona_state(self, persona_id: str | None = None) -> dict:
        return await self.call("persona.state", _opt(persona_id=persona_id))

    async def memory_store(self, content: str, **options: Any) -> dict:
        return await self.call("memory.store", {"content": content, **options})

    async def memory_search(self, query: str, **options: Any) -> dict:
        return await self.call("memory.search", {"query": query, **options})

    async def relationship_get(self, other_id: str, persona_id: str | None = None) -> dict:
        return await self.call("relationship.get", _opt(other_id=other_id, persona_id=persona_id))

    async def history(self, conversation_id: str, **options: Any) -> dict:
        return await self.call(
            "conversation.history", {"conversation_id": conversation_id, **options}
        )

    # v1.1: game worlds
    async def world_event(
        self,
        type: str,
        description: str,
        *,
        persona_id: str | None = None,
        room_id: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        position: dict | None = None,
        data: dict | None = None,
        importance: float | None = None,
    ) -> dict:
        """``{event_id, perceived_by[], triggers_fired[]}``."""
        return await self.call(
            "world.event",
            _opt(type=type, description=description, persona_id=persona_id, room_id=room_id,
                 actor=actor, target=target, position=position, data=data,
                 importance=importance),
        )  # fmt: skip

    async def scene_move(self, room_id: str, entity_id: str, position: dict) -> dict:
        return await self.call(
            "scene.move", {"room_id": room_id, "entity_id": entity_id, "position": position}
        )

    async def trigger_create(
        self, persona_id: str, name: str, when: dict, then: dict, *, once: bool | None = None
    ) -> dict:
        return await self.call(
            "trigger.create",
            _opt(persona_id=persona_id, name=name, when=when, then=then, once=once),
        )

    async def trigger_list(self, persona_id: str | None = None) -> dict:
        return await self.call("trigger.list", _opt(persona_id=persona_id))

    async def trigger_delete(self, trigger_id: str) -> dict:
        return await self.call("trigger.delete", {"trigger_id": trigger_id})

    async def goal_set(self, persona_id: str, goal: Any, **fields: Any) -> dict:
        return await self.call("goal.set", {"persona_id": persona_id, "goal": goal, **fields})

    async def goal_list(self, persona_id: str) -> dict:
        return await self.call("goal.list", {"persona_id": persona_id})

    async def goal_complete(self, persona_id: str, goal: Any, **fields: Any) -> dict:
        return await self.call("goal.complete", {"persona_id": persona_id, "goal": goal, **fields})

    # v1.1: lorebooks
    async def lorebook_list(
        self, persona_id: str | None = None, room_id: str | None = None
    ) -> dict:
        return await self.call("lorebook.list", _opt(persona_id=persona_id, room_id=room_id))

    async def lorebook_get(self, lorebook_id: str) -> dict:
        return await self.call("lorebook.get", {"lorebook_id": lorebook_id})

    async def lorebook_create(self, name: str, entries: list[dict], **options: Any) -> dict:
        return await self.call("lorebook.create", {"name": name, "entries": entries, **options})

    async def lorebook_update(self, lorebook_id: str, **fields: Any) -> dict:
        return await self.call("lorebook.update", {"lorebook_id": lorebook_id, **fields})

    async def lorebook_delete(self, lorebook_id: str) -> dict:
        return await self.call("lorebook.delete", {"lorebook_id": lorebook_id})

    async def lorebook_attach(
        self, lorebook_id: str, *, persona_id: str | None = None, room_id: str | None = None
    ) -> dict:
        return await self.call(
            "lorebook.attach", _opt(lorebook_id=lorebook_id, persona_id=persona_id, room_id=room_id)
        )

    async def lorebook_detach(
        self, lorebook_id: str, *, persona_id: str | None = None, room_id: str | None = None
    ) -> dict:
        return await self.call(
            "lorebook.detach", _opt(lorebook_id=lorebook_id, persona_id=persona_id, room_id=room_id)
        )

    async def lorebook_import(self, data: dict, name: str | None = None) -> dict:
        return await self.call("lorebook.import", _opt(data=data, name=name))

    async def lorebook_export(self, lorebook_id: str, format: str | None = None) -> dict:
        return await self.call("lorebook.export", _opt(lorebook_id=lorebook_id, format=format))


def _opt(**params: Any) -> dict:
    """The params without the ones left at None."""
    return {k: v for k, v in params.items() if v is not None}
