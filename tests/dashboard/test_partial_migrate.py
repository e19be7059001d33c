"""``manage.py migrate <app> <migration>`` on an empty database stops before auth exists: the
roles' ``post_migrate`` hook waits for it instead of failing, and the full migrate that follows
still grants every role its permissions. Run in a new database of this run's backend."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import server_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_database(tmp_path, db):
    """The URL of a new, empty database (a SQLite file, or a PostgreSQL database)."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'partial.sqlite3'}"
        return
    import psycopg

    settings = connection.settings_dict
    name = f"partial_{uuid.uuid4().hex[:10]}"
    server = (
        f"host={settings['HOST']} port={settings['PORT']} user={settings['USER'] or 'postgres'}"
    )
    with psycopg.connect(f"{server} dbname=postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://{settings['USER'] or 'postgres'}@{settings['HOST']}:{settings['PORT']}/{name}"
    finally:
        with psycopg.connect(f"{server} dbname=postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _manage(url: str, *args: str) -> subprocess.CompletedProcess:
    env = server_env({"DATABASE_URL": url})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _role_permissions(url: str) -> str:
    code = (
        "from django.contrib.auth.models import Group;"
        "print(sorted((g.name, g.permissions.count() > 0) for g in Group.objects.all()))"
    )
    done = _manage(url, "shell", "-c", code)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]  # after "N objects imported automatically"


def test_migrating_one_app_to_a_migration_on_an_empty_database_works(empty_database):
    partial = _manage(empty_database, "migrate", "personas", "0001", "--noinput")
    assert partial.returncode == 0, partial.stderr[-3000:]
    assert "LookupError" not in partial.stderr
    assert "Applying personas.0001_initial... OK" in partial.stdout

    full = _manage(empty_database, "migrate", "--noinput")
    assert full.returncode == 0, full.stderr[-3000:]
    assert _role_permissions(empty_database) == str(
        [("authors", True), ("operators", True), ("viewers", True)]
    )
