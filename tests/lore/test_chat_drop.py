"""The web chat page: drop a card PNG to import it, pick an alternate greeting (Chromium)."""

from __future__ import annotations

import base64

import pytest

from tests.lore import cards as team
from tests.web.conftest import browser  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DROP = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const file = new File([bytes], "mira.png", {type: "image/png"});
  const data = new DataTransfer();
  data.items.add(file);
  document.dispatchEvent(new DragEvent("dragover", {dataTransfer: data, cancelable: true}));
  document.dispatchEvent(new DragEvent("drop", {dataTransfer: data, cancelable: true}));
}"""


def test_drop_a_card_then_open_with_an_alternate_greeting(
    live_server_proc,
    browser,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    from conversations.models import Conversation
    from personas.models import Persona

    srv = live_server_proc(
        env={"PERSONAMCP_DEV_MODE": "1", "PERSONAMCP_MEDIA_ROOT": str(tmp_path / "media")}
    )
    page = browser.page
    page.goto(srv.http + "/")
    page.wait_for_selector('#conn-status[data-state="online"]')
    png = base64.b64encode(team.card_png(chara=team.V2)).decode()
    page.evaluate(DROP, png)
    page.wait_for_function("() => document.querySelector('#persona-title')?.textContent === 'Mira'")
    page.wait_for_selector("#greeting-select")
    page.select_option("#greeting-select", "2")
    assert (
        page.text_content('.msg-assistant[data-state="greeting"] .msg-body')
        == "You're late. The lamp waits for no one."
    )
    page.fill("#message-input", "Sorry!")
    page.click("#send-button")
    page.wait_for_selector('.msg-assistant[data-state="complete"]', timeout=30_000)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")  # Playwright's loop runs in this thread
    mira = Persona.objects.get(name="Mira")
    assert Conversation.objects.get(persona=mira).context["greeting_index"] == 2
    assert browser.console_errors == []
