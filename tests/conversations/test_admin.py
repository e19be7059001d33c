"""The admin: conversations with messages inline, and the turn inspector."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from conversations.models import Message
from conversations.services import conversation_send_message
from tests.conftest import eventually

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("admin", "a@example.org", "pw-123456")
    client.force_login(user)
    return client


def test_turn_inspector_shows_prompt_memories_and_timings(staff_client, demo, celery_worker):
    from memory.services import memory_store

    alice = demo["alice"]
    memory = memory_store(persona=alice, content="Bob's horse is called Clover.", importance=0.9)
    result = conversation_send_message(
        persona=alice, content="How is Clover the horse doing?", sender="bob", sender_name="Bob"
    )
    eventually(lambda: "persistence_ms" in Message.objects.get(pk=result["message_id"]).timings)
    page = staff_client.get(f"/admin/conversations/message/{result['message_id']}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Turn inspector" in html and "Prompt sent to the LLM" in html
    assert "You are Alice Thornbury" in html  # the exact system prompt
    assert f"[memory {memory.id}]" in html and "Clover" in html  # retrieved memory, with score
    assert "retrieval_ms" in html and "persistence_ms" in html
    conv = staff_client.get(
        f"/admin/conversations/conversation/{result['conversation_id']}/change/"
    )
    assert conv.status_code == 200
    assert "How is Clover the horse doing?" in conv.content.decode()
    listing = staff_client.get("/admin/conversations/conversation/")
    assert listing.status_code == 200 and "Bob" in listing.content.decode()
    assert Message.objects.count() == 2


def test_turn_inspector_shows_triggers_actions_and_expression(staff_client, demo):
    from goals.models import Trigger

    Trigger.objects.create(
        persona=demo["alice"], name="lantern-rule", when={"keywords": ["lantern"]},
        then={"instruct": "Mention the storm."},
    )  # fmt: skip
    give = {
        "name": "give_item",
        "parameters": {"type": "object", "properties": {"item": {"type": "string"}}},
    }
    result = conversation_send_message(
        persona=demo["alice"],
        content="Please give me the lantern, thank you!",
        sender="bob",
        actions_available=[give, {"name": "wave"}],
    )
    html = staff_client.get(
        f"/admin/conversations/message/{result['message_id']}/change/"
    ).content.decode()
    assert "Triggers, actions and expression" in html
    assert "trigger lantern-rule" in html and "Mention the storm." in html
    assert "give_item, wave" in html and "&quot;lantern&quot;" in html
    assert result["expression"]["emotion"] in html
