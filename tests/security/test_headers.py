"""Security headers: a strict CSP on the pages, nosniff on static files, and the production
settings path on which `manage.py check --deploy` is clean."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.django_db


def _csp(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.partition(" ")[2] for d in header.split("; ")}


@pytest.mark.parametrize("path", ["/admin/login/", "/admin/", "/api/docs/", "/"])
def test_pages_carry_a_strict_csp(client, staff_client, path):
    response = (staff_client if path != "/admin/login/" else client).get(path, follow=True)
    assert response.status_code == 200
    policy = _csp(response)
    script = policy["script-src"].split()
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    assert script[0] == "'self'" and script[1].startswith("'nonce-")
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'none'" and policy["script-src-attr"] == "'none'"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_nonce_is_fresh_per_response(client):
    first = _csp(client.get("/admin/login/"))["script-src"]
    second = _csp(client.get("/admin/login/"))["script-src"]
    assert first != second


def test_static_files_are_nosniff_on_the_real_server(live_server_proc):
    srv = live_server_proc()
    for path in ("/static/chat/chat.js", "/static/admin/css/base.css", "/static/nope.js"):
        try:
            response = urllib.request.urlopen(srv.http + path, timeout=10)
        except urllib.error.HTTPError as exc:
            response = exc
        assert response.headers["X-Content-Type-Options"] == "nosniff", path


def _check_deploy(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING",
         "--tag", "security"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_production_settings_pass_check_deploy(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        PERSONAMCP_PRODUCTION="1",
        PERSONAMCP_TRUST_X_FORWARDED_PROTO="1",
        ALLOWED_HOSTS="persona.example.org",
        SECRET_KEY="k" + "".join(chr(97 + (i * 7) % 26) for i in range(60)) + "Z9!x",
        PERSONAMCP_VAR_DIR=str(tmp_path),
    )
    result = _check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout
    plain = _check_deploy({**env, "PERSONAMCP_PRODUCTION": "0"})
    assert plain.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "personamcp.W002"):
        assert warning in plain.stdout + plain.stderr


def test_production_settings_values(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(PERSONAMCP_PRODUCTION="1", PERSONAMCP_VAR_DIR=str(tmp_path))
    code = (
        "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS,"
        " s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, getattr(s, 'SECURE_PROXY_SSL_HEADER', None))"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    ).stdout.strip().splitlines()[-1].split()  # fmt: skip
    # Without PERSONAMCP_TRUST_X_FORWARDED_PROTO the forwarded header is not trusted.
    assert out == ["True", "31536000", "True", "True", "None"]
    dev = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--tag", "security"],
        cwd=ROOT, env={**env, "PERSONAMCP_DEV_MODE": "1"}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert "personamcp.E001" in dev.stdout + dev.stderr
