"""Bot logic that needs no homeserver: message splitting, addressing, invite policy, redaction,
supervision bookkeeping."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bots import runner, services
from bots.models import BotAccount, BotRun


def test_split_message_keeps_every_word_and_respects_the_limit():
    text = ("This is a sentence about the tavern. " * 40 + "\n\n") * 3
    parts = runner.split_message(text, 300)
    assert all(len(p) <= 300 for p in parts)
    assert len(parts) > 3
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())


def test_split_message_hard_cuts_a_word_longer_than_the_limit():
    parts = runner.split_message("x" * 250, 100)
    assert parts == ["x" * 100, "x" * 100, "x" * 50]


def test_split_message_short_text_is_one_message():
    assert runner.split_message("  hello  ", 100) == ["hello"]


@pytest.mark.parametrize(
    ("body", "content", "expected"),
    [
        ("Alice, how are you?", {}, True),
        ("hey @alice1:localhost", {}, True),
        ("what does alicecat think", {}, False),
        ("hello everyone", {}, False),
        ("hi", {"m.mentions": {"user_ids": ["@alice1:localhost"]}}, True),
        ("hi", {"formatted_body": '<a href="https://matrix.to/#/@alice1:localhost">A</a>'}, True),
        ("Rook, your turn", {}, False),
    ],
)
def test_mentions(body, content, expected):
    assert (
        runner.mentions(body, content, user_id="@alice1:localhost", names=["Alice", "alice1"])
        is expected
    )


def test_invite_policy():
    bot = BotAccount(invite_policy="allowlist", invite_allowlist=["@boss:hs.org", ":trusted.org"])
    assert runner.invite_allowed(bot, "@boss:hs.org")
    assert runner.invite_allowed(bot, "@anyone:trusted.org")
    assert not runner.invite_allowed(bot, "@stranger:hs.org")
    assert not runner.invite_allowed(BotAccount(invite_policy="never"), "@boss:hs.org")
    assert runner.invite_allowed(BotAccount(invite_policy="anyone"), "@x:y.z")


def test_redact_removes_secrets_and_token_shapes():
    line = "login pw=hunter22 url=/sync?access_token=syt_abc&x=1 Authorization: Bearer syt_xyz"
    out = services.redact(line, ["hunter22"])
    assert "hunter22" not in out
    assert "syt_abc" not in out
    assert "syt_xyz" not in out


@pytest.fixture
def bot(demo):
    return services.bot_create(
        persona=demo["alice"],
        homeserver="http://127.0.0.1:9",
        user_id="@alice-logic:localhost",
        password="very-secret-pw",
    )


def test_record_crash_backs_off_exponentially_then_gives_up(bot, settings):
    settings.BOTS = {**settings.BOTS, "BACKOFF_BASE": 2.0, "BACKOFF_MAX": 100.0, "MAX_CRASHES": 3}
    run = bot.run
    services._record_crash(run, "boom 1")
    first = (run.next_start_at - run.updated_at).total_seconds() if run.updated_at else None
    assert run.next_start_at is not None and not run.gave_up
    assert services._backoff(1) == 2.0 and services._backoff(2) == 4.0
    assert services._backoff(10) == 100.0
    services._record_crash(run, "boom 2")
    services._record_crash(run, "boom 3")
    assert run.gave_up
    assert "gave up after 3 crashes" in run.last_error and "boom 3" in run.last_error
    assert first is None or first >= 0


def test_supervise_marks_a_dead_process_crashed_and_does_not_restart_unwanted(bot):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    BotRun.objects.filter(bot=bot).update(
        status="running", pid=dead.pid, host=services.HOST, wanted=False
    )
    done = services.bot_supervise()
    run = BotRun.objects.get(bot=bot)
    assert done[str(bot.id)] == "crashed"
    assert run.status == "crashed" and run.pid is None
    assert "died" in run.last_error
    assert run.restarts == 0


def test_supervise_marks_a_stopping_bot_whose_process_is_gone_stopped(bot):
    BotRun.objects.filter(bot=bot).update(status="stopping", pid=None, host=services.HOST)
    services.bot_supervise()
    assert BotRun.objects.get(bot=bot).status == "stopped"


def test_supervise_does_not_restart_a_fatal_bot(bot):
    BotRun.objects.filter(bot=bot).update(status="crashed", fatal=True, wanted=True)
    assert services.bot_supervise() == {}
    assert BotRun.objects.get(bot=bot).status == "crashed"


def test_update_with_new_password_clears_fatal_state(bot):
    BotRun.objects.filter(bot=bot).update(status="crashed", fatal=True, gave_up=True)
    services.bot_update(bot=bot, password="a-new-one")
    run = BotRun.objects.get(bot=bot)
    assert not run.fatal and not run.gave_up


def test_moving_the_account_forgets_the_stored_token(bot):
    services.bot_credentials_store(bot=bot, access_token="syt_old", device_id="DEV")
    services.bot_update(bot=bot, user_id="@alice-moved:localhost")
    bot.refresh_from_db()
    assert bot.access_token == "" and bot.device_id == ""


def test_logs_tail_is_redacted(bot):
    path = services.bot_log_path(bot)
    path.write_text("".join(f"line {i}\n" for i in range(500)) + "oops very-secret-pw\n")
    try:
        lines = services.bot_logs(bot=bot, limit=3)
        assert lines == ["line 498", "line 499", "oops ***"]
    finally:
        os.unlink(path)
