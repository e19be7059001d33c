import os
import subprocess
import sys
import time

import pytest

from personamcp.tasks import echo

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.mark.embedded
def test_tasks_run_in_process_when_embedded():
    result = echo.delay("hi")
    assert result.get(timeout=5)["pid"] == os.getpid()


@pytest.mark.scaled
def test_task_enqueued_on_redis_runs_in_a_real_worker():
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "personamcp",
            "worker",
            "-P",
            "solo",
            "-c",
            "1",
            "--loglevel=warning",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        start = time.monotonic()
        result = echo.delay("over redis").get(timeout=60)
        assert result["value"] == "over redis"
        assert result["pid"] == worker.pid and result["pid"] != os.getpid()
        assert time.monotonic() - start < 60
    finally:
        worker.terminate()
        worker.wait(20)
