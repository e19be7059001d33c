import pytest

pytestmark = pytest.mark.django_db


def test_metrics_need_an_admin_key(client, make_key):
    assert client.get("/metrics").status_code == 401
    read = make_key("read")
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {read}").status_code == 403


def test_metrics_expose_turn_and_session_figures(client, make_key):
    from personamcp.metrics import observe_turn

    observe_turn({"total_ms": 120.0, "llm_ms": 100.0})
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {make_key('admin')}")
    assert response.status_code == 200
    text = response.content.decode()
    for name in (
        "personamcp_turn_overhead_seconds_count",
        "personamcp_llm_seconds_count",
        "personamcp_active_sessions",
        "personamcp_queue_depth",
        "personamcp_rpc_calls_total",
    ):
        assert name in text


async def test_rpc_calls_are_counted_by_method_and_outcome(rpc_connect, dev_mode, transactional_db):
    from personamcp.metrics import RPC_CALLS

    before_ok = RPC_CALLS.labels("system.ping", "ok")._value.get()
    before_err = RPC_CALLS.labels("persona.get", "PersonaNotFound")._value.get()
    client = await rpc_connect()
    await client.result("system.ping")
    await client.call("persona.get", {"persona_id": "nobody"})
    assert RPC_CALLS.labels("system.ping", "ok")._value.get() == before_ok + 1
    assert RPC_CALLS.labels("persona.get", "PersonaNotFound")._value.get() == before_err + 1
