"""Fixtures of the conversation tests: fake LLM servers and provider settings."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.conftest import ROOT, SCALED, server_env
from tests.conversations.fakes import FakeLLMServer


@pytest.fixture
def fake_ollama(settings):
    """A fake Ollama server, configured as the LLM provider."""
    with FakeLLMServer("ollama") as server:
        settings.LLM_PROVIDER = "ollama"
        settings.OLLAMA_URL = server.url
        settings.LLM_MODEL = "fake-model"
        yield server


@pytest.fixture
def fake_openai(settings):
    """A fake OpenAI-compatible server, configured as the LLM provider."""
    with FakeLLMServer("openai") as server:
        settings.LLM_PROVIDER = "openai"
        settings.OPENAI_BASE_URL = server.url
        settings.OPENAI_API_KEY = "sk-test-123"
        settings.LLM_MODEL = "fake-model"
        yield server


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """Scaled mode: a real Celery worker on this test's database (embedded mode: nothing,
    jobs run in-process). Yields the worker process or None."""
    if not SCALED:
        yield None
        return
    from personamcp.celery import app

    app.control.purge()  # tasks left by earlier tests point at rows that no longer exist
    log_file = open(tmp_path / "celery.log", "w")  # noqa: SIM115 (closed at teardown)
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "personamcp",
            "worker",
            "-P",
            "solo",
            "-c",
            "1",
            "--loglevel=warning",
            "-Q",
            "celery",
        ],
        cwd=ROOT,
        env=server_env(),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    from personamcp.tasks import echo

    try:
        echo.delay("ready").get(timeout=60)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log_file.close()


def eventually(check, timeout: float = 60.0, interval: float = 0.1):
    """Wait for background work (in-process jobs or the Celery worker) until ``check()`` is
    truthy; returns its value."""
    from personamcp import jobs

    jobs.wait_idle(timeout)
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        time.sleep(interval)
