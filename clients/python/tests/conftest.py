"""The live server: the one scripts/test_clients.sh started ($PERSONAMCP_URL...), else our own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
NAMES = {
    "url": "PERSONAMCP_URL",
    "key": "PERSONAMCP_KEY",
    "read_key": "PERSONAMCP_READ_KEY",
    "control": "PERSONAMCP_CONTROL",
    "bad_url": "PERSONAMCP_BAD_URL",
    "reply": "PERSONAMCP_REPLY",
}


class Server:
    def __init__(self, state: dict):
        self.__dict__.update(state)

    def restart(self) -> None:
        """Stop the server process and start it again on the same port."""
        request = urllib.request.Request(self.control + "/restart", data=b"", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            assert json.load(response)["restarted"] is True


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    if os.environ.get("PERSONAMCP_URL"):
        yield Server({k: os.environ[v] for k, v in NAMES.items()})
        return
    state_path = tmp_path_factory.mktemp("server") / "state.json"
    python = ROOT / ".venv" / "bin" / "python"
    proc = subprocess.Popen(
        [str(python if python.exists() else sys.executable), str(ROOT / "clients" / "testserver.py"),
         "--state", str(state_path)],
        cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not state_path.exists():
            assert proc.poll() is None, "the test server exited"
            assert time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.1)
        yield Server(json.loads(state_path.read_text()))
    finally:
        proc.terminate()
        proc.wait(30)
