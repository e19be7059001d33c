import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from personamcp.models import ApiKey, hash_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_create_api_key_prints_key_once_and_stores_hash(capsys, demo):
    call_command("create_api_key", "bot", "--scope", "write", "--persona", "alice", "--quiet")
    raw = capsys.readouterr().out.strip()
    key = ApiKey.objects.get(name="bot")
    assert raw.startswith(f"pmcp_{key.prefix}_")
    assert key.key_hash == hash_key(raw) and raw not in (key.key_hash, key.prefix)
    assert [p.slug for p in key.personas.all()] == ["alice"]


def test_run_command_path_migrates_seeds_and_creates_admin(tmp_path):
    """What `make run` does before starting daphne, on a fresh SQLite file."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["PERSONAMCP_VAR_DIR"] = str(tmp_path)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    outputs = []
    for args in (["migrate", "--noinput"], ["seed_demo"], ["seed_demo"], ["ensure_admin"]):
        out = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        outputs.append(out.stdout)
    assert "4 persona(s) created" in outputs[1] and "0 persona(s) created" in outputs[2]
    assert (tmp_path / "admin_password").exists()
    assert "Admin login: admin" in out.stdout
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django,os;os.environ['DJANGO_SETTINGS_MODULE']='personamcp.settings';django.setup();"
            "from personas.models import Persona;print(sorted(Persona.objects.values_list('slug',flat=True)))",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert check.stdout.strip() == "['alice', 'elias', 'pip', 'rook']", check.stderr
