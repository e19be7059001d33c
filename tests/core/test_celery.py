import os

import pytest

from personamcp.tasks import echo


@pytest.mark.embedded
def test_tasks_run_in_process_when_embedded():
    result = echo.delay("hi")
    assert result.get(timeout=5)["pid"] == os.getpid()


@pytest.mark.scaled
def test_task_enqueued_on_redis_runs_in_a_real_worker(celery_worker):
    result = echo.delay("over redis").get(timeout=60)
    assert result["value"] == "over redis"
    assert result["pid"] == celery_worker.pid != os.getpid()
