"""WebSocket messages over the frame limit: answered with -32600, the socket stays open.

Why this module exists: daphne configures autobahn with a 1 MiB ``maxMessagePayloadSize`` and
``maxFramePayloadSize``; autobahn *fails the connection* (drops it) on a larger message, before
the ASGI application sees anything, so no JSON-RPC error can be sent and the client loses its
socket. The same limit also applied to messages we send (a large export failed to go out).

The fix belongs in the WebSocket protocol, where the bytes arrive: ``BoundedWebSocketProtocol``
turns autobahn's own limits off and enforces ``PERSONAMCP["MAX_FRAME_BYTES"]`` itself, per
message, while the frames stream in. Up to the limit a message is buffered and delivered as
usual; past it the rest of the message is read and thrown away (memory stays bounded by the
limit, whatever the client sends), and the application receives one ``websocket.receive``
event without text and with ``"personamcp.oversized": <bytes>``, which the consumer answers
with -32600 (id null). ``install()`` makes daphne build this protocol; ``personamcp.asgi``
calls it, so ``daphne personamcp.asgi:application`` needs no extra flag.

The limit is read once per connection (when it opens), not per message. And while debug
logging is off (txaio's global level, which daphne leaves at its default), incoming data skips
autobahn's ``dataReceived`` wrapper, which formats the arguments of a debug line (type names,
terminal colours) for every read before the logger drops it.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("personamcp.rpc")
OVERSIZED = "personamcp.oversized"


def _limit() -> int:
    from django.conf import settings

    return int(settings.PERSONAMCP["MAX_FRAME_BYTES"])


def _protocol_class():
    import txaio
    from daphne.ws_protocol import WebSocketProtocol

    class BoundedWebSocketProtocol(WebSocketProtocol):
        # Class attributes win over the factory's options (autobahn copies an option only when
        # the protocol has none): no autobahn limit; ours below, on incoming messages only.
        maxMessagePayloadSize = 0
        maxFramePayloadSize = 0
        pmcp_limit = None  # read when the socket opens
        pmcp_quiet = False

        def onOpen(self):
            self.pmcp_limit = _limit()
            self.pmcp_quiet = txaio.get_global_log_level() not in ("debug", "trace")
            super().onOpen()

        def dataReceived(self, data):
            if self.pmcp_quiet:
                self._dataReceived(data)  # what autobahn's wrapper does after its debug line
            else:
                super().dataReceived(data)

        def onMessageBegin(self, isBinary):
            super().onMessageBegin(isBinary)
            if self.pmcp_limit is None:
                self.pmcp_limit = _limit()
            self.pmcp_oversized = False

        def onMessageFrameBegin(self, length):
            super().onMessageFrameBegin(length)
            if not self.pmcp_oversized and self.message_data_total_length > self.pmcp_limit:
                self.pmcp_oversized = True
                self.message_data = []  # drop what was buffered; keep reading to the end

        def onMessageFrameData(self, payload):
            if not self.pmcp_oversized:
                super().onMessageFrameData(payload)

        def onMessageFrameEnd(self):
            if self.pmcp_oversized:
                self.frame_data = None
                return
            super().onMessageFrameEnd()

        def onMessageEnd(self):
            if not self.pmcp_oversized:
                super().onMessageEnd()
                return
            size = self.message_data_total_length
            self.message_data = None
            self.pmcp_oversized = False
            if self.muted or self.failedByMe:
                return
            log.info("WebSocket message of %d bytes over the %d byte limit", size, self.pmcp_limit)
            self.last_ping = time.time()
            self.application_queue.put_nowait(
                {"type": "websocket.receive", "text": None, "bytes": None, OVERSIZED: size}
            )

    return BoundedWebSocketProtocol


def install() -> None:
    """Make daphne build ``BoundedWebSocketProtocol`` for every WebSocket (idempotent)."""
    try:
        from daphne.ws_protocol import WebSocketFactory
    except ImportError:  # another ASGI server: its own size limit applies
        return
    if getattr(WebSocketFactory.protocol, "pmcp_bounded", False):
        return
    protocol = _protocol_class()
    protocol.pmcp_bounded = True
    WebSocketFactory.protocol = protocol
