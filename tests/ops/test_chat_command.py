"""``manage.py chat`` as a user runs it: in a terminal (a pty), reading the transcript."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, SCALED, server_env
from tests.conversations.fakes import FakeLLMServer

pytestmark = pytest.mark.django_db(transaction=True)


class Terminal:
    """``manage.py chat ...`` on a pseudo-terminal; stderr kept apart."""

    def __init__(self, args: list[str], env: dict, tmp_path):
        self.master, slave = pty.openpty()
        self.stderr_path = tmp_path / "chat.stderr"
        with open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "chat", *args],
                cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=err,
            )  # fmt: skip
        os.close(slave)
        self.transcript = ""

    def read_until(self, text: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.transcript:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not shown; transcript:\n{self.transcript}")
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.transcript += os.read(self.master, 4096).decode(errors="replace")
                except OSError:  # the command exited
                    break
        return self.transcript

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(20)
        os.close(self.master)


@pytest.fixture
def terminal(tmp_path):
    opened: list[Terminal] = []

    def open_terminal(args, env_extra=None) -> Terminal:
        env = server_env({"PERSONAMCP_WARMUP": "0", "LOG_LEVEL": "info", **(env_extra or {})})
        opened.append(Terminal(args, env, tmp_path))
        return opened[-1]

    yield open_terminal
    for t in opened:
        t.close()


@pytest.fixture
def rook(transactional_db):
    from personas.services import persona_create

    return persona_create(
        slug="rook",
        name="Rook",
        greeting="Caw. Another visitor at the old tower.",
        speaking_style="short sentences",
    )


def test_the_greeting_is_said_once_and_no_log_line_reaches_the_chat(terminal, rook, tmp_path):
    log_file = tmp_path / "chat.log"
    term = terminal(["rook", "--as", "Mira", "--log-file", str(log_file)])
    term.read_until("> ")
    term.type("Hello Rook, how are you today?")
    term.read_until("memories,")
    term.type("/quit")
    transcript = term.read_until("bye")
    assert term.proc.wait(30) == 0
    assert transcript.count("Caw. Another visitor at the old tower.") == 1
    assert "Rook: Caw. Another visitor" in transcript
    for noise in (" INFO ", "celery.app.trace", "succeeded in", "Warning", "Traceback"):
        assert noise not in transcript
    # the records went to the log file instead: the model loading, and (embedded mode, where
    # the after-turn task runs in this process) the task's result
    logged = log_file.read_text()
    assert "INFO memory.embeddings" in logged
    assert ("conversations.after_turn" in logged) is not SCALED
    assert " INFO " not in term.stderr_path.read_text()

    from conversations.models import Message

    first = Message.objects.filter(conversation__persona=rook).order_by("id").first()
    assert (first.role, first.content) == ("assistant", rook.greeting)


def test_replies_stream_word_by_word_and_the_model_sees_its_greeting(terminal, rook):
    reply = "Caw caw. The wind is cold but the view is grand."
    with FakeLLMServer(kind="ollama", reply=reply, mode="slow", delay=0.4) as fake:
        term = terminal(
            ["rook", "--as", "Mira"],
            {"LLM_PROVIDER": "ollama", "OLLAMA_URL": fake.url, "LLM_MODEL": "fake"},
        )
        term.read_until("> ")
        term.type("What do you see from up there?")
        shown = term.read_until("Rook: Caw")
        # the first words are on screen while the last ones are still on their way
        assert "grand." not in shown.split("What do you see")[-1]
        term.read_until("grand.")
        term.read_until("memories,")
        term.type("/quit")
        term.read_until("bye")
        turn = next(
            r for r in fake.requests
            if r["body"]["messages"][-1]["content"].endswith("What do you see from up there?")
        )  # fmt: skip
        messages = turn["body"]["messages"]
    assert {"role": "assistant", "content": rook.greeting} in [
        {"role": m["role"], "content": m["content"]} for m in messages
    ]
