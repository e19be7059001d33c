"""A small blocking wrapper: the asyncio client on its own event-loop thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

from .client import Client, Handler, Stream


class SyncStream:
    """Iterate for the deltas; ``result`` holds the turn result once the iteration ended."""

    def __init__(self, owner: SyncClient, stream: Stream):
        self._owner, self._stream = owner, stream
        self.request_id = stream.request_id
        self.result: dict | None = None

    def __iter__(self) -> Iterator[str]:
        iterator = self._stream.__aiter__()
        while True:
            try:
                yield self._owner._run(iterator.__anext__())
            except StopAsyncIteration:
                break
        self.result = self._owner._run(self._stream.result())

    def cancel(self) -> bool:
        return self._owner._run(self._stream.cancel())


class SyncClient:
    """``with SyncClient(url, key) as client: client.send("hi", persona_id="alice")``.

    Every method of ``Client`` is available and blocks until its result; handlers given to
    ``subscribe`` run on the client's thread.
    """

    def __init__(self, url: str, api_key: str | None = None, **options: Any):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client: Client = self._run(_make(url, api_key, options))

    def _run(self, coro) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def connect(self) -> SyncClient:
        self._run(self._client.connect())
        return self

    def __enter__(self) -> SyncClient:
        return self.connect()

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._loop.is_running():
            self._run(self._client.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def stream(self, content: str, **options: Any) -> SyncStream:
        async def start() -> Stream:
            return self._client.stream(content, **options)

        return SyncStream(self, self._run(start()))

    def subscribe(self, topics: list[str] | str, handler: Handler):
        return self._run(self._client.subscribe(topics, handler))

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._run(attr(*args, **kwargs))

        return blocking


async def _make(url: str, api_key: str | None, options: dict) -> Client:
    return Client(url, api_key, **options)  # created on the loop that will run it
