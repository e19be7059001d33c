"""The /mcp WebSocket consumer: one JSON-RPC session per connection."""

from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
import logging
import types
from concurrent.futures import ThreadPoolExecutor

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from personamcp import errors, events
from personamcp.events import HANDLER_TYPE
from personamcp.rpc.context import Session
from personamcp.rpc.dispatcher import Dispatcher, dumps, error_response
from personamcp.wsframes import OVERSIZED

log = logging.getLogger("personamcp.rpc")
_executors: set[int] = set()
active_sessions = 0
# Open WebSockets without a key, per client address (this process). See PERSONAMCP settings
# MAX_UNAUTHENTICATED_PER_ADDRESS and AUTH_TIMEOUT; close codes in docs/security.md.
unauthenticated: collections.Counter[str] = collections.Counter()
CLOSE_AUTH_TIMEOUT = 4401
CLOSE_TOO_MANY = 4429


def _ensure_executor(loop: asyncio.AbstractEventLoop) -> None:
    # Sync handlers (database, LLM calls) run in the loop's default executor; the stock size
    # (cores + 4) would let a few slow LLM turns starve every other request.
    if id(loop) not in _executors:
        _executors.add(id(loop))
        loop.set_default_executor(
            ThreadPoolExecutor(
                max_workers=settings.PERSONAMCP["WORKER_THREADS"], thread_name_prefix="rpc"
            )
        )


@types.coroutine
def _resume(coro, awaited):
    """Continue a coroutine that was started outside a task and suspended on ``awaited``.

    A generator-based coroutine that hands each future the inner coroutine waits on up to the
    task running it, and the task's answers (a value or an exception, cancellation included)
    back down: the task drives ``coro`` exactly as if it had started it.
    """
    while True:
        try:
            answer = yield awaited
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # forwarded, cancellation included
            try:
                awaited = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                awaited = coro.send(answer)
            except StopIteration as stop:
                return stop.value


def start_eagerly(coro, tasks: set[asyncio.Task]) -> None:
    """Run ``coro`` now, in a context of its own, until it first waits; then as a task.

    Most frames (a cached read) are answered without ever waiting on anything but the socket
    write, so they finish here without the cost of creating and scheduling a task. One that
    suspends (a thread hop, a turn) continues in a task kept in ``tasks`` so that closing the
    socket cancels it. The context copy gives each request its own context variables
    (correlation id, audit actor), as a task of its own would.
    """
    context = contextvars.copy_context()
    try:
        awaited = context.run(coro.send, None)
    except StopIteration:
        return
    except Exception:
        log.exception("frame handler failed")
        return
    task = asyncio.get_running_loop().create_task(_resume(coro, awaited), context=context)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


class McpConsumer(AsyncJsonWebsocketConsumer):
    async def __call__(self, scope, receive, send) -> None:
        """Channels' consumer loop without its per-message ``asyncio.wait`` over two new tasks.

        Frames are read straight from the ASGI ``receive``; channel-layer events (subscriptions)
        are read by a second loop of their own, so each waits on one source only.
        """
        self.scope = scope
        self.tasks: set[asyncio.Task] = set()
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        pump = None
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
            pump = asyncio.create_task(self._pump_events())
        try:
            tasks = self.tasks
            while True:
                message = await receive()
                # A text frame goes straight to its handler; anything else through dispatch.
                if message["type"] == "websocket.receive":
                    text = message.get("text")
                    if text is not None:
                        start_eagerly(self._handle(text), tasks)
                        continue
                await self.dispatch(message)
        except StopConsumer:
            pass
        finally:
            if pump is not None:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)

    async def _pump_events(self) -> None:
        try:
            while True:
                await self.dispatch(await self.channel_receive())
        except asyncio.CancelledError:
            raise
        except Exception:
            # The stock consumer ends the connection when its channel layer fails; so does this.
            log.exception("channel layer receive failed; closing the socket")
            await self.close(code=1011)

    async def connect(self) -> None:
        global active_sessions
        loop = asyncio.get_running_loop()
        events.bind_server_loop(loop)
        _ensure_executor(loop)
        client = self.scope.get("client") or ("", 0)
        self.session = Session(
            transport="ws",
            principal=self.scope.get("principal"),
            auth_error=self.scope.get("auth_error"),
            client=f"{client[0]}:{client[1]}",
            subscribe_hook=self._join,
            unsubscribe_hook=self._leave,
        )
        self.dispatcher = Dispatcher(self.session, send=self._send_message)
        self.seen_events: collections.deque[str] = collections.deque(maxlen=64)
        self.address = client[0] or "?"
        self.counted = False
        self.deadline: asyncio.TimerHandle | None = None
        offered = self.scope.get("subprotocols") or []
        await self.accept(subprotocol="mcp" if "mcp" in offered else None)
        active_sessions += 1
        if self.session.principal is None and not settings.DEV_MODE:
            await self._limit_unauthenticated(loop)

    async def _limit_unauthenticated(self, loop: asyncio.AbstractEventLoop) -> None:
        """A socket without a key is counted per address and must authenticate in time."""
        limits = settings.PERSONAMCP
        if unauthenticated[self.address] >= limits["MAX_UNAUTHENTICATED_PER_ADDRESS"]:
            log.warning("too many unauthenticated sockets from %s", self.address)
            await self.close(code=CLOSE_TOO_MANY)
            return
        unauthenticated[self.address] += 1
        self.counted = True
        self.deadline = loop.call_later(
            limits["AUTH_TIMEOUT"], lambda: loop.create_task(self._auth_deadline())
        )

    def _uncount(self) -> None:
        if self.counted:
            self.counted = False
            unauthenticated[self.address] -= 1
            if unauthenticated[self.address] <= 0:
                del unauthenticated[self.address]
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    async def _auth_deadline(self) -> None:
        self.deadline = None
        if self.session.principal is None:
            log.info("closing unauthenticated socket from %s (auth timeout)", self.address)
            self._uncount()
            await self.close(code=CLOSE_AUTH_TIMEOUT)

    async def dispatch(self, message) -> None:
        # Channels runs close_old_connections() before every message, through a hop to the one
        # shared sync thread: that serializes every frame of every socket. Frames and events
        # never touch the loop thread's database connection (sync handlers run through
        # database_sync_to_async, which closes old connections itself), so they skip it.
        if message["type"] == "websocket.receive":
            if message.get(OVERSIZED):  # personamcp.wsframes discarded a message over the limit
                await self._send_message(self.dispatcher.too_large())
                return
            await self.websocket_receive(message)
        elif message["type"] == HANDLER_TYPE:
            await self.event_message(message)
        else:
            await super().dispatch(message)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if text_data is None:
            await self._send_message(
                error_response(
                    None, errors.INVALID_REQUEST, "invalid request: binary frames are not supported"
                )
            )
            return
        start_eagerly(self._handle(text_data), self.tasks)

    async def _handle(self, text: str) -> None:
        response = await self.dispatcher.handle_text(text)
        if self.counted and self.session.principal is not None:  # session.authenticate
            self._uncount()
        if response is not None:
            await self._send_message(response)

    async def _send_message(self, message) -> None:
        # Straight to the server's send: Channels' send() only wraps the text the same way.
        await self.base_send({"type": "websocket.send", "text": dumps(message)})

    async def disconnect(self, code) -> None:
        global active_sessions
        active_sessions = max(0, active_sessions - 1)
        if hasattr(self, "counted"):
            self._uncount()
        for ctx in list(self.session.in_flight.values()):
            ctx.cancel_event.set()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        await self._leave(list(self.session.subscriptions))

    async def _join(self, topics: list[str]) -> None:
        for topic in topics:
            await self.channel_layer.group_add(events.group_for(topic), self.channel_name)

    async def _leave(self, topics: list[str]) -> None:
        for topic in topics:
            await self.channel_layer.group_discard(events.group_for(topic), self.channel_name)

    async def event_message(self, message: dict) -> None:
        """A committed change broadcast by ``personamcp.events`` (one per subscribed group)."""
        event = message["event"]
        uid = event["uid"]
        if uid in self.seen_events:  # subscribed to several topics the event belongs to
            return
        self.seen_events.append(uid)
        # The same persona rule as the methods: a restricted key never sees other personas'.
        if not events.may_receive(self.session.principal, event.get("audience")):
            return
        await self._send_message(
            {
                "jsonrpc": "2.0",
                "method": "event",
                "params": {
                    "topic": message["topic"],
                    "type": event["type"],
                    "data": event["data"],
                    "at": event["at"],
                },
            }
        )
