"""Bot logic that needs no homeserver: message splitting, addressing, invite policy, redaction,
supervision bookkeeping."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bots import runner, services, supervision
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
    supervision._record_crash(run, "boom 1")
    first = (run.next_start_at - run.updated_at).total_seconds() if run.updated_at else None
    assert run.next_start_at is not None and not run.gave_up
    assert supervision._backoff(1) == 2.0 and supervision._backoff(2) == 4.0
    assert supervision._backoff(10) == 100.0
    supervision._record_crash(run, "boom 2")
    supervision._record_crash(run, "boom 3")
    assert run.gave_up
    assert "gave up after 3 crashes" in run.last_error and "boom 3" in run.last_error
    assert first is None or first >= 0


def test_supervise_marks_a_dead_process_crashed_and_does_not_restart_unwanted(bot):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    BotRun.objects.filter(bot=bot).update(
        status="running", pid=dead.pid, host=supervision.HOST, wanted=False
    )
    done = supervision.bot_supervise()
    run = BotRun.objects.get(bot=bot)
    assert done[str(bot.id)] == "crashed"
    assert run.status == "crashed" and run.pid is None
    assert "died" in run.last_error
    assert run.restarts == 0


def test_supervise_marks_a_stopping_bot_whose_process_is_gone_stopped(bot):
    BotRun.objects.filter(bot=bot).update(status="stopping", pid=None, host=supervision.HOST)
    supervision.bot_supervise()
    assert BotRun.objects.get(bot=bot).status == "stopped"


def test_supervise_does_not_restart_a_fatal_bot(bot):
    BotRun.objects.filter(bot=bot).update(status="crashed", fatal=True, wanted=True)
    assert supervision.bot_supervise() == {}
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


def test_an_update_never_overwrites_a_token_the_runner_just_stored(bot):
    stale = BotAccount.objects.get(pk=bot.pk)  # e.g. an admin form loaded before the login
    services.bot_credentials_store(bot=bot, access_token="syt_fresh_token", device_id="DEV1")
    services.bot_update(bot=stale, autostart=True, rooms=["#tavern:localhost"])
    stored = BotAccount.objects.get(pk=bot.pk)
    assert stored.access_token == "syt_fresh_token" and stored.device_id == "DEV1"
    assert stored.autostart and stored.rooms == ["#tavern:localhost"]


def _fake_runner(bot) -> subprocess.Popen:
    """A process whose command line names the bot like a real runner's, and that says "term"
    on SIGTERM instead of exiting (a stuck runner)."""
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: print('term', flush=True))\n"
        "print('ready', flush=True)\n"
        "while True: time.sleep(1)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "runbot", str(bot.id)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout.readline().strip() == b"ready"
    return proc


def _read_line(proc: subprocess.Popen, timeout: float) -> bytes:
    import select

    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().strip() if ready else b""


@pytest.mark.django_db(transaction=True)
def test_killing_a_silent_runner_does_not_hold_the_row_lock(demo, settings):
    """The supervisor waits for a runner that ignores SIGTERM; meanwhile another writer (the
    runner recording its end, an operator) still gets the row."""
    import threading
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    settings.BOTS = {**settings.BOTS, "STOP_TIMEOUT": 3.0, "HEARTBEAT_TIMEOUT": 1.0}
    bot = services.bot_create(
        persona=demo["rook"],
        homeserver="http://127.0.0.1:9",
        user_id="@rook-silent:localhost",
        password="very-secret-pw",
    )
    proc = _fake_runner(bot)
    stale = timezone.now() - timedelta(seconds=30)
    BotRun.objects.filter(bot=bot).update(
        status="running", pid=proc.pid, host=supervision.HOST, last_heartbeat_at=stale
    )
    done: dict = {}
    supervisor = threading.Thread(target=lambda: done.update(supervision.bot_supervise()))
    supervisor.start()
    try:
        assert _read_line(proc, 20) == b"term"  # the supervisor now waits for the process
        with transaction.atomic():  # a second writer meanwhile
            run = BotRun.objects.select_for_update().get(bot=bot)
            run.restarts = 7
            run.save(update_fields=["restarts", "updated_at"])
        # The write went through while the process still lived, before the SIGKILL.
        assert proc.poll() is None
    finally:
        supervisor.join(30)
        proc.kill()
        proc.wait(5)
    assert done[str(bot.id)] == "crashed"
    run = BotRun.objects.get(bot=bot)
    assert run.status == "crashed" and run.pid is None and run.restarts == 7
    assert "no heartbeat" in run.last_error


class _Answering:
    """What ``BotRunner.answer`` uses of a runner, with the homeserver calls recorded."""

    answer = runner.BotRunner.answer
    typing_later = runner.BotRunner.typing_later

    def __init__(self, turn_seconds: float):
        self.turn_seconds = turn_seconds
        self.room_locks: dict = {}
        self.persona = type("P", (), {"name": "Alice"})()
        self.answered = 0
        self.notices: list[bool] = []
        self.sent: list[dict] = []

    async def typing(self, room_id: str, on: bool) -> None:
        self.notices.append(on)

    async def send(self, room_id: str, content: dict) -> None:
        self.sent.append(content)

    def turn(self, room, event) -> str:
        import time

        time.sleep(self.turn_seconds)
        return "Well met!"


def _message():
    from nio import RoomMessageText

    return RoomMessageText.from_dict(
        {
            "type": "m.room.message",
            "event_id": "$question",
            "sender": "@ann:localhost",
            "origin_server_ts": 0,
            "content": {"msgtype": "m.text", "body": "Hello?"},
        }
    )


def _room():
    from nio import MatrixRoom

    return MatrixRoom("!room:localhost", "@alice:localhost")


async def test_a_reply_that_comes_at_once_sends_no_typing_notice(settings):
    settings.BOTS = {**settings.BOTS, "TYPING_DELAY": 30.0}
    bot = _Answering(turn_seconds=0)
    await bot.answer(_room(), _message())
    assert [c["body"] for c in bot.sent] == ["Well met!"] and bot.notices == []


async def test_a_slow_reply_shows_typing_until_it_is_sent(settings):
    settings.BOTS = {**settings.BOTS, "TYPING_DELAY": 0.0}
    bot = _Answering(turn_seconds=0.3)
    await bot.answer(_room(), _message())
    assert [c["body"] for c in bot.sent] == ["Well met!"] and bot.notices == [True, False]
