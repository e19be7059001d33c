import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from personamcp import env

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_env_helpers_parse_and_reject(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env.env_bool("X_BOOL") is True
    assert env.env_int("X_INT", 1) == 12
    assert env.env_list("X_LIST") == ["a", "b", "c"]
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env.env_bool("X_BOOL")
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env.env_int("X_INT", 1)
    monkeypatch.setenv("X_URL", "mysql://x")
    with pytest.raises(ImproperlyConfigured, match="X_URL"):
        env.env_url("X_URL", schemes=("postgres",))


def _settings_in_subprocess(env_vars: dict, expr: str) -> subprocess.CompletedProcess:
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='personamcp.settings';"
        f"from django.conf import settings; print({expr})"
    )
    env = {
        k: v for k, v in __import__("os").environ.items() if k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(env_vars)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_defaults_are_the_embedded_mode():
    out = _settings_in_subprocess(
        {},
        "settings.DATABASES['default']['ENGINE'], settings.CHANNEL_LAYERS['default']['BACKEND'],"
        " settings.CACHES['default']['BACKEND'], settings.CELERY_TASK_ALWAYS_EAGER",
    )
    assert out.returncode == 0, out.stderr
    assert "sqlite3" in out.stdout and "InMemoryChannelLayer" in out.stdout
    assert "LocMemCache" in out.stdout and "True" in out.stdout


def test_urls_switch_to_the_scaled_mode():
    out = _settings_in_subprocess(
        {"DATABASE_URL": "postgres://u@127.0.0.1:5/db", "REDIS_URL": "redis://127.0.0.1:6379/3"},
        "settings.DATABASES['default']['ENGINE'], settings.CHANNEL_LAYERS['default'],"
        " settings.CACHES['default']['BACKEND'], settings.CELERY_BROKER_URL",
    )
    assert out.returncode == 0, out.stderr
    assert "postgresql" in out.stdout and "RedisChannelLayer" in out.stdout
    assert "'socket_timeout': None" in out.stdout and "RedisCache" in out.stdout
    assert "redis://127.0.0.1:6379/3" in out.stdout


def test_bad_values_fail_with_a_clear_message():
    out = _settings_in_subprocess({"DATABASE_URL": "mysql://x/y"}, "settings.DEBUG")
    assert out.returncode != 0 and "DATABASE_URL must be a URL" in out.stderr
    out = _settings_in_subprocess({"LLM_PROVIDER": "gpt"}, "settings.DEBUG")
    assert "LLM_PROVIDER must be one of" in out.stderr
    out = _settings_in_subprocess({"PERSONAMCP_DEV_MODE": "perhaps"}, "settings.DEBUG")
    assert "PERSONAMCP_DEV_MODE must be a boolean" in out.stderr
