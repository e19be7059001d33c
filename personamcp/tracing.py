"""OpenTelemetry traces, off unless configured.

``span(name, **attributes)`` is a context manager around one step (a turn and its embedding,
retrieval, prompt, LLM and persistence steps). With no OTLP endpoint configured it does nothing
and costs one function call. With ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) set, spans are batched and exported over OTLP/HTTP
(protobuf) to that collector; the SDK's standard ``OTEL_*`` variables (service name, headers,
batch delays, sampling) apply. ``OTEL_SDK_DISABLED=true`` turns it off again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

log = logging.getLogger(__name__)
_lock = threading.Lock()
_tracer = None
_configured = False


def _endpoint_configured() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure(provider=None):
    """Set up tracing once per process: with ``provider`` (tests: an in-memory exporter), or
    from the environment. Returns the tracer, or None when tracing is off."""
    global _tracer, _configured
    with _lock:
        if provider is None and _configured:
            return _tracer
        _configured = True
        if provider is None:
            if not _endpoint_configured():
                _tracer = None
                return None
            try:
                provider = _provider_from_env()
            except ImportError:
                log.warning(
                    "OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-sdk or "
                    "opentelemetry-exporter-otlp-proto-http is not installed: tracing is off"
                )
                _tracer = None
                return None
        _tracer = provider.get_tracer("personamcp")
        return _tracer


def _provider_from_env():
    from django.conf import settings
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME", "persona-mcp"),
            "service.version": settings.PERSONAMCP["VERSION"],
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    log.info("tracing: exporting spans over OTLP/HTTP")
    return provider


def reset() -> None:
    """Forget the configuration (tests)."""
    global _tracer, _configured
    with _lock:
        _tracer, _configured = None, False


def tracer():
    return _tracer if _configured else configure()


def enabled() -> bool:
    return tracer() is not None


_NOOP = contextlib.nullcontext()


def span(name: str, **attributes):
    """``with span("turn.llm", persona_id=...):`` — a child of the current span, if tracing is
    on. Attribute values that are None are left out; others become strings, numbers or bools."""
    current = tracer()
    if current is None:
        return _NOOP
    attrs = {
        f"personamcp.{k}": (v if isinstance(v, (str, bool, int, float)) else str(v))
        for k, v in attributes.items()
        if v is not None
    }
    return current.start_as_current_span(name, attributes=attrs)


def set_attributes(**attributes) -> None:
    """Add attributes to the current span (no-op when tracing is off)."""
    if tracer() is None:
        return
    from opentelemetry import trace

    current = trace.get_current_span()
    for k, v in attributes.items():
        if v is not None:
            current.set_attribute(
                f"personamcp.{k}", v if isinstance(v, (str, bool, int, float)) else str(v)
            )


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span as hex, or None."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
