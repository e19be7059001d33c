"""A bounded schemathesis run over every operation of the OpenAPI document against a running
server: no 5xx, and every response conforms to the document (status, content type, headers,
body schema).

The server runs on uvicorn: daphne's HTTP layer (twisted) parses multipart bodies itself and
answers a malformed one with a bare 400 before the application sees it, which no document of the
application can describe. The application's own answers are the same on both servers.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(1500),
]

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance"
)


def run_schemathesis(base_url: str, key: str, *, max_examples: int = 3, extra=()) -> str:
    """``schemathesis run`` over the live document; returns its output (raises on failure)."""
    schemathesis = Path(sys.executable).with_name("schemathesis")
    cmd = [
        str(schemathesis), "run", f"{base_url}/api/schema/",
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(max_examples),
        "--seed", "11",
        "--workers", "1",  # hypothesis is not thread-safe here (AST cache)
        "--request-timeout", "30",
        "--header", f"Authorization: Bearer {key}",
        # Starting a bot logs in to its homeserver, and a room action or a redaction is a call
        # to it (generated bots name any homeserver): keep the run's traffic on this machine.
        "--exclude-path-regex",
        r"/api/bots/.*/((start|restart)|rooms/.*/(join|leave|accept|reject|redact))/",
        "--suppress-health-check", "all",
        "--no-color",
        *extra,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    output = done.stdout + done.stderr
    print(output)  # the summary goes to the test log (and the report)
    assert done.returncode == 0, output[-6000:]
    return output


def test_schemathesis_finds_no_server_error_and_no_conformance_failure(
    live_server_proc, demo, make_key
):
    server = live_server_proc(env={"PERSONAMCP_RATE_LIMIT": "1000000"}, server="uvicorn")
    output = run_schemathesis(server.http, make_key("admin"))
    summary = re.search(r"(\d+) generated, (\d+) passed", output)
    assert summary and summary.group(1) == summary.group(2), output[-3000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    # every operation but the excluded calls to a homeserver (2 bot starts, 5 room actions)
    assert selected and int(selected.group(1)) == int(selected.group(2)) - 7
    assert f"Tested: {selected.group(1)}" in output
