"""Client toolchains of the SDK tests, installed on first use and reused afterwards:

- the last MCP Python SDK 1.x in its own virtualenv ``var/mcp1-venv`` (the app's virtualenv
  has the current 2.x; the two cannot share one), like ``scripts/synapse.py`` does for Synapse;
- the MCP TypeScript SDK from npm in ``tests/doors/node`` (``npm ci`` from the committed
  lockfile; ``node_modules`` stays out of git).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MCP1_VENV = Path(os.environ.get("PERSONAMCP_MCP1_VENV") or ROOT / "var" / "mcp1-venv")
NODE_DIR = Path(__file__).resolve().parent / "node"


@contextmanager
def _locked(name: str):
    """One installer at a time (parallel test runs share var/)."""
    lock_path = ROOT / "var" / f".{name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def mcp1_python() -> Path:
    """The interpreter of a virtualenv holding ``mcp<2`` (created with pip when missing)."""
    python = MCP1_VENV / "bin" / "python"
    with _locked("mcp1-venv"):
        probe = [str(python), "-c", "import mcp.client.streamable_http, httpx"]
        if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
            return python
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(MCP1_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "mcp<2"],
            check=True,
            timeout=600,
        )
    return python


def node_sdk_dir() -> Path:
    """``tests/doors/node`` with its npm dependencies installed from the lockfile."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RuntimeError("node and npm are needed (scripts/test.sh installs them)")
    with _locked("node-sdk"):
        wanted = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
        if not all((NODE_DIR / "node_modules" / name).exists() for name in wanted):
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR,
                check=True,
                timeout=600,
            )
    return NODE_DIR
