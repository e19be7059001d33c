"""Traces of a turn: the SDK's in-memory exporter in-process, and a real OTLP/HTTP receiver on
loopback for a server process."""

from __future__ import annotations

import io
import json
import logging

import pytest

from personamcp import tracing
from personamcp.logging import JsonFormatter, correlation

TURN_STEPS = ["turn.embedding", "turn.retrieval", "turn.prompt", "turn.llm", "turn.persistence"]


@pytest.fixture
def spans():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.configure(provider)
    yield exporter
    tracing.reset()
    provider.shutdown()


def test_without_an_endpoint_spans_are_a_no_op(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    tracing.reset()
    try:
        assert not tracing.enabled()
        with tracing.span("turn", persona_id="x") as s:
            assert s is None
        assert tracing.current_ids() is None
    finally:
        tracing.reset()


def test_json_log_lines_carry_the_correlation_and_trace_ids(spans):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.ops.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with correlation("abc123"), tracing.span("turn") as span:
            logger.info("hello %s", "world", extra={"persona": "alice"})
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception("failed")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    first, second, third = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "hello world" and first["level"] == "INFO"
    assert first["correlation_id"] == "abc123" and first["persona"] == "alice"
    assert first["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert "ValueError: boom" in second["exc"]
    assert third["correlation_id"] == "-" and "trace_id" not in third
