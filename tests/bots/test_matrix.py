"""Persona bots against a real Synapse on loopback, with real bot processes.

In the scaled pass the bot processes are owned by a real Celery worker on Redis (``bot_worker``
fixture) and supervision runs in it; in the embedded pass the same tasks run in-process.
"""

from __future__ import annotations

import json
import os
import signal
import time

import psutil
import pytest

from tests.bots.conftest import (
    bot_run,
    mcp_call,
    process_exists,
    runner_pids,
    supervise,
    wait_status,
    wait_until,
    zombies,
)


def supervise_here() -> dict:
    from bots import supervision

    return supervision.bot_supervise()


pytestmark = [pytest.mark.matrix, pytest.mark.django_db(transaction=True)]


def test_runbot_joins_on_invite_answers_a_human_and_stores_the_conversation(
    demo, make_bot, runbot, matrix_user
):
    from bots import services
    from conversations.models import Conversation, Message

    alice = demo["alice"]
    bot = make_bot(alice)
    password = bot.password
    human = matrix_user()
    room = human.create_room([bot.user_id])
    proc = runbot("alice")  # by persona slug

    human.wait_joined(room, bot.user_id, timeout=90)
    run = wait_status(bot, "running")
    assert run.pid == proc.pid
    assert human.displayname(bot.user_id) == alice.name

    event_id = human.send(room, "Hello! How are you today?")
    reply = human.wait_reply(room, bot.user_id, event_id)
    assert reply["content"]["body"].strip()
    assert reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == event_id

    conversation = Conversation.objects.get(persona=alice, participant=human.user_id)
    assert conversation.platform == "matrix"
    contents = list(
        Message.objects.filter(conversation=conversation)
        .order_by("created_at")
        .values_list("content", flat=True)
    )
    assert contents[0] == "Hello! How are you today?"
    assert contents[1].strip() == reply["content"]["body"].strip()

    bot.refresh_from_db()
    assert bot.access_token and bot.device_id  # kept for the next start

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    # The runner said it ended cleanly; "stopped" is for whoever sees the process gone.
    run = bot_run(bot)
    assert run.status == "stopping" and run.exit_code == 0
    services_pass = supervise_here()
    assert services_pass[str(bot.id)] == "stopped"
    run = bot_run(bot)
    assert run.status == "stopped" and run.exit_code == 0 and run.pid is None

    log_text = services.bot_log_path(bot).read_text()
    assert "logged in" in log_text and "answered" in log_text
    assert password not in log_text and bot.access_token not in log_text


def test_two_persona_bots_in_one_room_each_answer_when_addressed_and_do_not_loop(
    demo, make_bot, runbot, matrix_user
):
    alice_bot = make_bot(demo["alice"])
    rook_bot = make_bot(demo["rook"])
    human = matrix_user()
    room = human.create_room([alice_bot.user_id, rook_bot.user_id], name="tavern")
    runbot(str(alice_bot.id))
    runbot(str(rook_bot.id))
    human.wait_joined(room, alice_bot.user_id, timeout=90)
    human.wait_joined(room, rook_bot.user_id, timeout=90)
    wait_status(alice_bot, "running")
    wait_status(rook_bot, "running")

    first = human.send(room, "Alice, what is on the menu tonight?")
    human.wait_reply(room, alice_bot.user_id, first)
    second = human.send(room, "Rook, and what do you think about that?")
    human.wait_reply(room, rook_bot.user_id, second)
    both = human.send(room, "Alice and Rook, talk to each other about the weather.")
    human.wait_reply(room, alice_bot.user_id, both)
    human.wait_reply(room, rook_bot.user_id, both)
    time.sleep(3)  # room for a loop to show itself
    human.send(room, "nobody in particular is addressed here")
    time.sleep(2)

    senders = [e["sender"] for e in human.messages(room)]
    assert senders.count(alice_bot.user_id) == 2
    assert senders.count(rook_bot.user_id) == 2


def _admin_client(django_user_model):
    from django.test import Client

    user = django_user_model.objects.create_superuser("root", "root@example.org", "pw-root-1")
    client = Client()
    client.force_login(user)
    return client


def test_start_and_stop_through_rest_rpc_and_admin_spawn_and_end_real_processes(
    demo, make_bot, matrix_user, api_as, make_key, django_user_model, bot_worker, client
):
    from bots import services

    bot = make_bot(demo["pip"])
    rest = api_as("admin")

    started = rest.post(f"/api/bots/{bot.id}/start/")
    assert started.status_code == 200 and started.json()["status"] == "starting"
    run = wait_status(bot, "running")
    assert runner_pids(bot) == [run.pid]

    stopped = mcp_call(client, make_key("admin"), "bot.stop", {"bot_id": str(bot.id)})
    assert stopped["result"]["status"] in {"stopping", "stopped"}
    wait_status(bot, "stopped", timeout=60)
    wait_until(lambda: runner_pids(bot) == [], 10, "no runner process left")

    admin = _admin_client(django_user_model)
    changelist = "/admin/bots/botaccount/"
    response = admin.post(changelist, {"action": "start_bots", "_selected_action": [str(bot.id)]})
    assert response.status_code == 302
    run = wait_status(bot, "running")
    assert runner_pids(bot) == [run.pid]

    # Credentials never show: REST, RPC, admin list and change pages, log file.
    bot.refresh_from_db()
    secrets = [bot.password, bot.access_token]
    assert all(secrets)
    pages = [
        rest.get(f"/api/bots/{bot.id}/").content.decode(),
        rest.get("/api/bots/").content.decode(),
        json.dumps(mcp_call(client, make_key("admin"), "bot.list", {})),
        admin.get(changelist).content.decode(),
        admin.get(f"{changelist}{bot.id}/change/").content.decode(),
        admin.get(f"/admin/bots/botaccount/{bot.id}/logs/").content.decode(),
        rest.get(f"/api/bots/{bot.id}/logs/?limit=500").content.decode(),
        services.bot_log_path(bot).read_text(),
    ]
    assert bot.user_id in pages[3] and "running" in pages[3]
    assert "logged in" in pages[5]
    for page in pages:
        for secret in secrets:
            assert secret not in page

    response = admin.post(changelist, {"action": "stop_bots", "_selected_action": [str(bot.id)]})
    assert response.status_code == 302
    wait_status(bot, "stopped", timeout=60)
    wait_until(lambda: runner_pids(bot) == [], 10, "no runner process left")


def test_kill_9_is_detected_and_the_supervisor_restarts_the_bot(
    demo, make_bot, bot_worker, bot_queue
):
    bot = make_bot(demo["elias"], autostart=True)
    assert supervise(bot_queue)[str(bot.id)] == "started"  # autostart
    run = wait_status(bot, "running")
    first_pid = run.pid

    # A supervisor that lost track of the process (e.g. restarted) adopts it, no second one.
    from bots.models import BotRun

    BotRun.objects.filter(bot=bot).update(status="crashed", pid=None)
    assert supervise(bot_queue)[str(bot.id)] == f"adopted pid {first_pid}"
    assert bot_run(bot).status == "running"
    assert runner_pids(bot) == [first_pid]

    os.kill(first_pid, signal.SIGKILL)
    # The spawner reaps its child at once and records the crash; the supervisor restarts it.
    run = wait_status(bot, "crashed", timeout=30)
    assert not process_exists(first_pid) and zombies() == []
    assert "died" in run.last_error and "-9" in run.last_error
    assert supervise(bot_queue)[str(bot.id)] == "started"
    run = wait_status(bot, "running")
    assert run.pid != first_pid
    assert run.restarts == 1
    assert runner_pids(bot) == [run.pid]


def test_start_stop_restart_kill_cycles_leave_no_zombie_and_stop_only_when_gone(
    demo, make_bot, bot_worker, bot_queue, api_as
):
    from bots import supervision

    bot = make_bot(demo["alice"])
    rest = api_as("admin")

    def stopped_and_gone(pid: int) -> None:
        run = wait_status(bot, "stopped", timeout=30)
        # The moment the row says stopped the process no longer exists, not even as a zombie.
        assert not psutil.pid_exists(pid)
        assert run.pid is None and zombies() == []

    for _ in range(2):
        assert rest.post(f"/api/bots/{bot.id}/start/").status_code == 200
        first = wait_status(bot, "running").pid
        assert rest.post(f"/api/bots/{bot.id}/restart/").status_code == 200
        wait_until(lambda old=first: bot_run(bot).pid not in (None, old), 40, "a new runner")
        second = wait_status(bot, "running").pid
        assert not process_exists(first) and zombies() == []
        os.kill(second, signal.SIGKILL)
        wait_status(bot, "crashed", timeout=30)
        assert zombies() == []
        assert supervise(bot_queue)[str(bot.id)] == "started"
        third = wait_status(bot, "running").pid
        assert rest.post(f"/api/bots/{bot.id}/stop/").status_code == 200
        stopped_and_gone(third)
    assert runner_pids(bot) == [] and zombies() == []
    assert bot_run(bot).restarts == 2
    assert supervision.bot_supervise() == {}  # nothing left to reconcile


def test_wrong_password_ends_crashed_with_a_clear_reason_and_no_restart_loop(
    demo, make_bot, bot_worker, bot_queue
):
    from bots import services

    bot = make_bot(demo["rook"], password="certainly-wrong", autostart=True)
    supervise(bot_queue)
    run = wait_status(bot, "crashed")
    assert "login failed" in run.last_error
    assert "not restarted automatically" in run.last_error
    assert "certainly-wrong" not in run.last_error
    for _ in range(3):
        supervise(bot_queue)
        time.sleep(0.3)
    run = bot_run(bot)
    assert run.status == "crashed" and run.restarts == 0, services.bot_logs(bot=bot)
    wait_until(lambda: runner_pids(bot) == [], 10, "the refused runner exited")


def test_sync_profile_admin_action_sets_the_display_name(
    demo, make_bot, matrix_user, django_user_model
):
    bot = make_bot(demo["pip"])
    human = matrix_user()
    assert human.displayname(bot.user_id) != demo["pip"].name
    admin = _admin_client(django_user_model)
    response = admin.post(
        "/admin/bots/botaccount/",
        {"action": "sync_profiles", "_selected_action": [str(bot.id)]},
        follow=True,
    )
    assert "display name" in response.content.decode()
    assert human.displayname(bot.user_id) == demo["pip"].name
    bot.refresh_from_db()
    assert bot.access_token  # the login's token is kept


def test_a_revoked_token_means_a_new_login_with_the_password_or_crashed_without_one(
    demo, make_bot, runbot, matrix_user, synapse
):
    from bots import services

    bot = make_bot(demo["elias"])
    human = matrix_user()
    room = human.create_room([bot.user_id])
    proc = runbot(str(bot.id))
    human.wait_joined(room, bot.user_id)
    wait_status(bot, "running")
    bot.refresh_from_db()
    old_token = bot.access_token
    synapse.request("POST", "/_matrix/client/v3/logout", {}, token=old_token)
    asked = human.send(room, "Elias, are you still with us?")
    human.wait_reply(room, bot.user_id, asked)
    bot.refresh_from_db()
    assert bot.access_token and bot.access_token != old_token
    log_text = services.bot_log_path(bot).read_text()
    assert "logging in again with the stored password" in log_text
    assert old_token not in log_text and bot.access_token not in log_text

    # Without a password, a revoked token ends the bot: crashed with the reason, no restart.
    services.bot_update(bot=bot, password="")
    synapse.request("POST", "/_matrix/client/v3/logout", {}, token=bot.access_token)
    assert proc.wait(60) == 78  # EXIT_FATAL: not restarted automatically
    supervise_here()
    run = wait_status(bot, "crashed")
    assert "access token revoked" in run.last_error and run.fatal
