"""Traces of a turn: the SDK's in-memory exporter in-process, and a real OTLP/HTTP receiver on
loopback for a server process."""

from __future__ import annotations

import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from personamcp import tracing
from personamcp.logging import JsonFormatter, correlation
from tests.conftest import eventually

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


def test_a_turn_is_one_trace_with_a_span_per_step(spans, demo, wait_jobs):
    from conversations.services import conversation_send_message

    result = conversation_send_message(
        persona=demo["alice"], content="Good evening! Any news?", sender="cli:mira"
    )
    wait_jobs()
    finished = {s.name: s for s in spans.get_finished_spans()}
    assert set(TURN_STEPS) | {"turn"} <= set(finished)
    turn = finished["turn"]
    for step in TURN_STEPS:
        assert finished[step].context.trace_id == turn.context.trace_id
        assert finished[step].parent.span_id == turn.context.span_id
    assert turn.attributes["personamcp.persona_id"] == str(demo["alice"].id)
    assert turn.attributes["personamcp.conversation_id"] == result["conversation_id"]
    assert turn.attributes["personamcp.message_id"] == result["message_id"]
    assert (
        finished["turn.llm"].attributes["personamcp.completion_tokens"]
        == (result["usage"]["completion_tokens"])
    )
    starts = [finished[s].start_time for s in TURN_STEPS]
    assert starts == sorted(starts)  # the steps in pipeline order


# --- a real OTLP/HTTP receiver ------------------------------------------------------------


class OtlpReceiver:
    """A minimal OTLP/HTTP trace receiver: decodes each protobuf ExportTraceServiceRequest."""

    def __init__(self):
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        receiver = self
        self.spans: list[dict] = []
        self.paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.paths.append((self.path, self.headers["Content-Type"]))
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                for rs in request.resource_spans:
                    service = {a.key: a.value.string_value for a in rs.resource.attributes}
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            receiver.spans.append(
                                {
                                    "name": s.name,
                                    "trace": s.trace_id.hex(),
                                    "id": s.span_id.hex(),
                                    "parent": s.parent_span_id.hex(),
                                    "attrs": {a.key: a.value for a in s.attributes},
                                    "service": service.get("service.name"),
                                }
                            )
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.django_db(transaction=True)
def test_a_server_exports_the_turn_over_otlp_http(live_server_proc, demo, make_key):
    receiver = OtlpReceiver()
    try:
        key = make_key("write")
        server = live_server_proc(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                "OTEL_SERVICE_NAME": "persona-mcp-e2e",
                "OTEL_BSP_SCHEDULE_DELAY": "100",
            }
        )
        response = httpx.post(
            f"{server.http}/api/conversations/messages/",
            json={"persona_id": "alice", "content": "Hello there!", "sender": "cli:mira"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        )
        assert response.status_code == 200, response.text
        reply = response.json()
        turns = eventually(lambda: [s for s in receiver.spans if s["name"] == "turn"], timeout=30)
        turn = turns[0]
        assert turn["service"] == "persona-mcp-e2e"
        assert turn["attrs"]["personamcp.conversation_id"].string_value == reply["conversation_id"]
        steps = eventually(
            lambda: (
                {s["name"]: s for s in receiver.spans if s["trace"] == turn["trace"]}
                if set(TURN_STEPS) <= {s["name"] for s in receiver.spans}
                else None
            ),
            timeout=30,
        )
        for step in TURN_STEPS:
            assert steps[step]["parent"] == turn["id"]
        assert receiver.paths[0] == ("/v1/traces", "application/x-protobuf")
    finally:
        receiver.close()
