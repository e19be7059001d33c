"""No secret in any output: a bot runs through login, end-to-end encryption, a conversation and
a restart; then every log line (the bot's files, this process's records), the runner's stdout
and stderr, and every REST, JSON-RPC and admin answer about the bot are scanned for its
password, its access token and its crypto store's pickle key."""

from __future__ import annotations

import json
import logging
import signal

import pytest

from tests.bots.conftest import bot_run, mcp_call, wait_status, wait_until

pytestmark = [pytest.mark.matrix, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


def test_no_password_token_or_pickle_key_in_any_log_output_or_answer(
    demo,
    make_bot,
    runbot,
    e2ee_user,
    api_as,
    make_key,
    client,
    django_user_model,
    tmp_path,
    caplog,
):
    from bots import services

    caplog.set_level(logging.DEBUG)
    bot = make_bot(demo["alice"])
    secrets = {"password": bot.password}
    human = e2ee_user()
    room = human.create_encrypted_room([bot.user_id])
    output = tmp_path / "runner.out"  # stdout and stderr, with the log on the console too

    proc = runbot(str(bot.id), output=output)
    human.wait_joined(room, bot.user_id)
    wait_status(bot, "running")
    asked = human.send(room, "Hello Alice, this stays between us.")
    assert human.wait_reply(room, bot.user_id, asked).body.strip()
    bot.refresh_from_db()
    secrets["access token"] = bot.access_token
    secrets["pickle key"] = bot.crypto_pickle_key

    # A restart on the same crypto store, logging in with the stored token.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    proc = runbot(str(bot.id), output=output)
    wait_until(
        lambda: bot_run(bot).pid == proc.pid and bot_run(bot).status == "running",
        90,
        "the restarted runner",
    )
    asked = human.send(room, "And after the restart?")
    human.wait_reply(room, bot.user_id, asked)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0

    bot.refresh_from_db()
    assert bot.crypto_pickle_key == secrets["pickle key"]  # the store was kept
    for name, value in secrets.items():
        assert value and len(value) >= 16, name  # real secrets, worth looking for
    assert len(set(secrets.values())) == 3

    admin_api = api_as("admin")
    key = make_key("admin")
    staff = django_user_model.objects.create_superuser("root", "root@example.org", "pw-root-1")
    admin = type(client)()
    admin.force_login(staff)
    log_path = services.bot_log_path(bot)
    outputs = {
        f"log file {path.name}": path.read_text(errors="replace")
        for path in log_path.parent.glob(f"{bot.id}*")
        if path.is_file()
    }
    outputs["runner stdout/stderr"] = output.read_text(errors="replace")
    for url in (
        f"/api/bots/{bot.id}/",
        "/api/bots/",
        f"/api/bots/{bot.id}/rooms/",
        f"/api/bots/{bot.id}/rooms/{room}/",
        f"/api/bots/{bot.id}/logs/?limit=1000",
    ):
        response = admin_api.get(url)
        assert response.status_code == 200, (url, response.content)
        outputs[f"REST {url}"] = response.content.decode()
    for method, params in (
        ("bot.status", {"bot_id": str(bot.id)}),
        ("bot.list", {}),
        ("bot.rooms", {"bot_id": str(bot.id)}),
        ("bot.logs", {"bot_id": str(bot.id), "limit": 1000}),
    ):
        answer = mcp_call(client, key, method, params)
        assert "result" in answer, answer
        outputs[f"RPC {method}"] = json.dumps(answer)
    for url in (
        "/admin/bots/botaccount/",
        f"/admin/bots/botaccount/{bot.id}/change/",
        f"/admin/bots/botaccount/{bot.id}/logs/",
        "/admin/bots/botroom/",
        "/admin/bots/outboxmessage/",
    ):
        response = admin.get(url)
        assert response.status_code == 200, url
        outputs[f"admin {url}"] = response.content.decode()
    outputs["this process's log records"] = caplog.text

    assert "logged in" in outputs["runner stdout/stderr"]
    assert "with the stored access token" in outputs["runner stdout/stderr"]
    assert "answered" in outputs[f"log file {log_path.name}"]
    assert "fingerprint" in outputs[f"admin /admin/bots/botaccount/{bot.id}/change/"].lower()
    leaks = [
        f"{secret} in {where}"
        for where, text in outputs.items()
        for secret, value in secrets.items()
        if value in text
    ]
    assert leaks == []
