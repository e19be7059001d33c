"""What the remote backends share: timeouts, one retry when the connection cannot be made,
cancellation that wakes a read blocked on the backend's socket, and failures that tell the
client what went wrong while the backend's own words go to the log.

A backend (``ollama_provider``, ``openai_provider``) supplies four small pieces: open a stream
of ``Part``s, make one non-streaming call, probe the backend, and ``classify`` the exceptions
of its client library (a connection that was never made, a timeout, an HTTP status, a
malformed answer, a broken stream).
"""

from __future__ import annotations

import abc
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings

from llm.base import LLMStream, Provider, Request, estimate_tokens, messages_tokens
from llm.exceptions import LLMError, LLMTimeout, LLMUnavailable

log = logging.getLogger("llm")
T = TypeVar("T")
RETRY_DELAY = 0.2  # seconds before the one retry of a connection that could not be made

# How a client-library exception is classified (see RemoteProvider.classify).
CONNECT = "unreachable"
TIMEOUT = "timed out"
MALFORMED = "sent a malformed response"
BROKEN = "stream broke off"


@dataclass
class Part:
    """One piece of a streamed answer: a text delta, the token usage, the end marker."""

    delta: str = ""
    usage: dict[str, int] | None = None
    done: bool = False
    tool_calls: list[dict] | None = None  # complete calls ``{name, arguments}``


@dataclass
class Failure:
    """A classified client-library exception: ``kind`` is one of the constants above or
    ``answered HTTP <status>`` / ``reported an error``; ``detail`` is for the log only."""

    kind: str
    detail: str = ""


# --- cancellation -------------------------------------------------------------------------

_current = threading.local()


def response_hook(response) -> None:
    """httpx event hook: remember the response of the request this thread is making, so that
    a cancel can shut its socket down while a read is blocked on it."""
    canceller = getattr(_current, "canceller", None)
    if canceller is not None:
        canceller.response = response


class Canceller:
    """Watches a cancel event during one streamed request and wakes the blocked read."""

    def __init__(self, cancel_event: threading.Event | None):
        self.cancel_event = cancel_event
        self.response = None
        self.done = threading.Event()
        if cancel_event is not None:
            threading.Thread(target=self._watch, name="llm-cancel", daemon=True).start()

    def __enter__(self) -> Canceller:
        _current.canceller = self
        return self

    def __exit__(self, *exc) -> None:
        _current.canceller = None

    @property
    def cancelled(self) -> bool:
        return self.cancel_event is not None and self.cancel_event.is_set()

    def _watch(self) -> None:
        while not self.done.is_set():
            if self.cancel_event.wait(0.02) and self.response is not None:
                if not self.done.is_set():
                    self._shutdown()
                return

    def _shutdown(self) -> None:
        stream = self.response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        self.done.set()


# --- the provider -------------------------------------------------------------------------


def client_key(*parts) -> tuple:
    """Cache key of a pooled client: its backend settings and timeouts."""
    return (*parts, settings.LLM_TIMEOUT, settings.LLM_CONNECT_TIMEOUT)


class RemoteProvider(Provider):
    """A backend reached over HTTP through its official client library."""

    @abc.abstractmethod
    def open_stream(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None,
        temperature: float | None,
        tools: list[dict] | None = None,
    ) -> Iterator[Part]:
        """Send a streaming request (offering ``tools``, function tools, when given); the
        iterator yields the parts as they arrive and closes the response when it is closed."""

    @abc.abstractmethod
    def call(
        self, messages: list[dict], *, max_tokens: int | None, temperature: float | None
    ) -> tuple[str, dict[str, int]]:
        """One non-streaming request: ``(text, usage)`` (usage may lack counts)."""

    @abc.abstractmethod
    def probe(self) -> None:
        """A cheap request (the model list); raises when the backend does not answer."""

    @abc.abstractmethod
    def classify(self, exc: BaseException) -> Failure | None:
        """What a client-library exception means, or None when it is not one of them."""

    # -- failures

    def failure(self, exc: BaseException, *, during_stream: bool = False) -> LLMError:
        """The client-facing error of ``exc``; the details are logged (with the correlation id)."""
        found = self.classify(exc)
        if found is None:
            raise exc
        if found.kind == CONNECT and during_stream:
            found = Failure(BROKEN, found.detail)
        log.warning(
            "%s backend %s (%s): %s",
            self.name,
            found.kind,
            type(exc).__name__,
            found.detail or exc,
        )
        if found.kind == TIMEOUT:
            what = "stopped sending (read timeout)" if during_stream else TIMEOUT
            return LLMTimeout(f"{self.name} backend {what}")
        return LLMUnavailable(f"{self.name} backend {found.kind}")

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """``attempt()``, once more after a short pause when the connection could not be made."""
        for number in (1, 2):
            try:
                return attempt()
            except LLMError:
                raise
            except Exception as exc:
                found = self.classify(exc)
                if found is not None and found.kind == CONNECT and number == 1:
                    log.info("%s backend unreachable, retrying once: %s", self.name, exc)
                    time.sleep(RETRY_DELAY)
                    continue
                raise self.failure(exc) from None
        raise AssertionError("unreachable")

    # -- the interface

    def open(self, request: Request) -> LLMStream:
        messages = request.messages
        canceller = Canceller(request.cancel_event)
        tools = None
        if request.tools:
            from llm.actions import as_tools

            tools = as_tools(request.tools)
        try:
            with canceller:
                parts = self._retrying(
                    lambda: self.open_stream(
                        messages,
                        max_tokens=request.max_tokens,
                        temperature=request.temperature,
                        tools=tools,
                    )
                )
        except BaseException:
            canceller.stop()
            raise
        result = LLMStream(iter(()))
        result._chunks = self._deltas(parts, result, canceller, messages)
        return result

    def _deltas(
        self, parts: Iterator[Part], result: LLMStream, canceller: Canceller, messages: list
    ) -> Iterator[str]:
        finished = False
        try:
            for part in parts:
                if canceller.cancelled:
                    result.cancelled = True
                    return
                if part.usage:
                    result.usage = dict(part.usage)
                if part.tool_calls:
                    result.tool_calls.extend(part.tool_calls)
                finished = finished or part.done
                if part.delta:
                    yield part.delta
        except LLMError:
            raise
        except Exception as exc:
            if canceller.cancelled:
                result.cancelled = True
                return
            raise self.failure(exc, during_stream=True) from None
        finally:
            canceller.stop()
            close = getattr(parts, "close", None)
            if close is not None:
                close()
        if canceller.cancelled:
            result.cancelled = True
            return
        if not finished:
            log.warning("%s backend stream ended without its end marker", self.name)
            raise LLMUnavailable(f"{self.name} backend stream ended before it was done")
        result.fill_usage(messages)

    def answer(self, request: Request) -> str:
        text, _ = self.complete_with_usage(
            request.messages, max_tokens=request.max_tokens, temperature=request.temperature
        )
        return text

    def complete_with_usage(
        self, messages: list[dict], *, max_tokens: int | None = None, temperature=None
    ) -> tuple[str, dict[str, int]]:
        """One non-streaming request; returns the text and the token usage."""
        text, usage = self._retrying(
            lambda: self.call(messages, max_tokens=max_tokens, temperature=temperature)
        )
        usage = {k: v for k, v in usage.items() if v}
        usage.setdefault("prompt_tokens", messages_tokens(messages))
        usage.setdefault("completion_tokens", estimate_tokens(text))
        return text, usage

    def available(self) -> bool:
        try:
            self.probe()
        except Exception as exc:  # any failure means "not available right now"
            log.info("%s backend not available: %s", self.name, exc)
            return False
        return True
