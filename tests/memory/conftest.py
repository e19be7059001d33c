"""Fixtures of the memory tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_index():
    """Each test starts with empty in-process vector caches (ids may repeat across tests)."""
    from memory import index

    index.clear()
    yield
    index.clear()


@pytest.fixture
def memory_settings(settings):
    """``memory_settings(KEY=value, ...)``: override entries of ``settings.MEMORY`` for a test."""

    def apply(**changes):
        settings.MEMORY = {**settings.MEMORY, **changes}
        return settings.MEMORY

    return apply


@pytest.fixture
def alice(demo):
    return demo["alice"]


@pytest.fixture
def store(alice):
    """``store(content, persona=alice, **kw)`` -> Memory, through the real service."""
    from memory.services import memory_store

    def make(content: str, persona=None, **kwargs):
        return memory_store(persona=persona or alice, content=content, **kwargs)

    return make


@pytest.fixture
def fake_llm(settings):
    """A fake Ollama server on 127.0.0.1 configured as the LLM provider."""
    from tests.conversations.fakes import FakeLLMServer

    with FakeLLMServer("ollama") as server:
        settings.LLM_PROVIDER = "ollama"
        settings.OLLAMA_URL = server.url
        settings.LLM_MODEL = "fake-model"
        yield server


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """Scaled mode: a real Celery worker on this test's database; embedded mode: None (jobs
    run on the in-process pool)."""
    import subprocess

    from tests.conftest import ROOT, SCALED, server_env

    if not SCALED:
        yield None
        return
    log_file = (tmp_path / "celery.log").open("w")
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/celery"), "-A", "personamcp", "worker", "-P", "solo", "-c", "1",
         "--loglevel=warning", "-Q", "celery"],
        cwd=ROOT, env=server_env(), stdout=log_file, stderr=subprocess.STDOUT,
    )  # fmt: skip
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
    """Wait for background work until ``check()`` is truthy; returns its value."""
    import time

    from personamcp import jobs

    jobs.wait_idle(timeout)
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
