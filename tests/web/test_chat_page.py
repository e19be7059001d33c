"""The web chat page in headless Chromium (Debian's package) against a real daphne server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, ServerProcess, server_env
from tests.web.conftest import STAFF_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# Records every text the streaming reply bubble shows, one entry per DOM update.
WATCH_STREAM = """() => {
  window.__streamTexts = [];
  const transcript = document.getElementById("transcript");
  new MutationObserver(() => {
    const bubble = transcript.querySelector('.msg-assistant[data-state="streaming"] .msg-body');
    if (!bubble) return;
    const text = bubble.textContent;
    const seen = window.__streamTexts;
    if (text && seen[seen.length - 1] !== text) seen.push(text);
  }).observe(transcript, {childList: true, subtree: true, characterData: true});
}"""


def login(page, base: str) -> None:
    page.goto(base + "/")
    assert "/admin/login/" in page.url and "next=/" in page.url
    page.fill("#id_username", "mara")
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(base + "/")


def pick(page, slug: str, name: str) -> None:
    page.click(f'.persona-item[data-slug="{slug}"]')
    page.wait_for_selector(f'.persona-item[data-slug="{slug}"][aria-pressed="true"]')
    page.wait_for_function(
        "name => document.querySelector('#persona-title')?.textContent === name", arg=name
    )


def test_staff_logs_in_picks_a_persona_and_chats_with_a_streamed_reply(
    live_server_proc, staff_user, demo_cast, celery_worker, browser
):
    srv = live_server_proc(env={"PERSONAMCP_DEV_MODE": "0"})
    page = browser.page
    login(page, srv.http)
    page.wait_for_selector('#conn-status[data-state="online"]')
    page.wait_for_selector(".persona-item")
    slugs = page.eval_on_selector_all(".persona-item", "els => els.map(e => e.dataset.slug)")
    assert sorted(slugs) == sorted(demo_cast)
    # No avatar uploaded: initials stand in for it.
    assert page.text_content('.persona-item[data-slug="alice"] .avatar-initials') == "AT"
    # An uploaded avatar is shown (and actually loads from /media/).
    page.wait_for_function(
        "document.querySelector('.persona-item[data-slug=\"pip\"] img.avatar')?.naturalWidth === 48"
    )
    assert "Chatting as" in page.text_content(".who") and "Mara" in page.text_content(".who")

    rook = demo_cast["rook"]
    pick(page, "rook", rook.name)
    assert page.text_content(".persona-description") == rook.description
    greeting = page.text_content('.msg-assistant[data-state="greeting"] .msg-body')
    assert greeting == rook.greeting
    # The state panel shows the persona's stored mood and the (neutral) relationship.
    page.wait_for_selector('#mood-panel [data-field="energy"]')
    energy = float(page.get_attribute('#mood-panel [data-field="energy"]', "data-value"))
    assert energy == pytest.approx(rook.state.energy)
    page.wait_for_selector('#relationship-panel [data-field="stage"]')
    assert page.text_content('#relationship-panel [data-field="stage"]') == "stranger"
    assert page.is_enabled("#message-input")
    assert page.is_hidden("#error-banner")

    # Chat: the reply streams in over several chunks, then settles on the final text.
    page.evaluate(WATCH_STREAM)
    page.fill("#message-input", "Thank you, friend! I love this place, it is wonderful.")
    page.keyboard.press("Enter")
    user_bubble = page.wait_for_selector(".msg-user .msg-body")
    assert user_bubble.text_content() == "Thank you, friend! I love this place, it is wonderful."
    reply = page.wait_for_selector('.msg-assistant[data-state="complete"]')
    final = reply.query_selector(".msg-body").text_content()
    assert final.strip()
    assert int(reply.get_attribute("data-chunks")) > 1
    partial = page.evaluate("window.__streamTexts")
    assert len(partial) > 1, partial
    assert all(final.startswith(p) for p in partial) and len(partial[0]) < len(final)
    # the composer comes back once the panel refresh after the turn is done
    page.wait_for_selector("#send-button:not([disabled])", timeout=10_000)

    # The panel follows the turn: the relationship with this staff user now has an interaction
    # (post-turn work runs after commit; the page hears of it through events or re-fetching).
    page.wait_for_selector('#relationship-panel [data-field="interactions"][data-value="1"]')
    # Reloading shows the stored conversation instead of the greeting.
    page.reload()
    page.wait_for_selector('.persona-item[data-slug="rook"][aria-pressed="true"]')
    page.wait_for_selector(".msg-user")
    texts = page.eval_on_selector_all(".msg .msg-body", "els => els.map(e => e.textContent)")
    assert texts == ["Thank you, friend! I love this place, it is wonderful.", final]

    # The search box filters the picker.
    page.fill("#persona-search", "archive")
    page.wait_for_function("document.querySelectorAll('.persona-item').length === 1")
    assert page.get_attribute(".persona-item", "data-slug") == "elias"
    assert browser.external_requests == []
    assert browser.console_errors == []


def start_on_port(port: int, env: dict, tmp_path) -> ServerProcess:
    """Start daphne again on the port of a stopped server (the page must reconnect to it)."""
    log_path = tmp_path / f"server-restarted-{port}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "personamcp.asgi:application",
            ],
            cwd=ROOT,
            env=server_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    restarted = ServerProcess(port, proc, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, restarted.log()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return restarted
        except OSError:
            time.sleep(0.1)
    restarted.stop()
    raise AssertionError("the restarted server did not listen")


def test_dev_mode_page_shows_llm_errors_and_reconnects_after_a_server_restart(
    live_server_proc, demo_cast, browser, tmp_path
):
    # An Ollama backend that is down: a port nothing listens on.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    env = {
        "PERSONAMCP_DEV_MODE": "1",
        "LLM_PROVIDER": "ollama",
        "OLLAMA_URL": f"http://127.0.0.1:{dead_port}",
        "LLM_CONNECT_TIMEOUT": "0.5",
    }
    srv = live_server_proc(env=env)
    page = browser.page
    page.goto(srv.http + "/")  # no login in local-development mode
    assert page.url == srv.http + "/"
    page.wait_for_selector('#conn-status[data-state="online"]')
    pick(page, "pip", demo_cast["pip"].name)

    page.fill("#message-input", "Sing me something!")
    page.click("#send-button")
    page.wait_for_selector("#error-banner:not([hidden])")
    assert page.get_attribute("#error-banner", "data-code") == "-32010"
    assert "language model is unavailable" in page.text_content("#error-text")
    page.wait_for_selector('.msg-assistant[data-state="failed"]')
    # the composer comes back once the panel refresh after the turn is done
    page.wait_for_selector("#send-button:not([disabled])", timeout=10_000)
    page.click("#error-close")
    assert page.is_hidden("#error-banner")

    assert page.get_attribute("#conn-status", "data-connections") == "1"
    srv.stop()
    page.wait_for_selector('#conn-status[data-state="offline"]')
    assert "reconnecting" in page.text_content("#conn-status")
    assert page.is_disabled("#message-input")
    restarted = start_on_port(srv.port, env, tmp_path)
    try:
        page.wait_for_selector('#conn-status[data-state="online"]', timeout=20_000)
        assert page.get_attribute("#conn-status", "data-connections") == "2"
        # The new socket picked the same persona again.
        page.wait_for_selector('.persona-item[data-slug="pip"][aria-pressed="true"]')
        page.wait_for_selector('#relationship-panel [data-field="stage"]')
        assert page.text_content("#persona-title") == demo_cast["pip"].name
        assert page.is_enabled("#message-input")
    finally:
        restarted.stop()
    assert browser.external_requests == []
