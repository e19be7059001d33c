"""The chat page view and the static files it needs (Django test client, no browser)."""

import json
import re

import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(username="sam", password="pw-123456", is_staff=True)


def page_config(response) -> dict:
    match = re.search(
        r'<script id="chat-config" type="application/json">(.*?)</script>',
        response.content.decode(),
    )
    assert match, "the page embeds its configuration"
    return json.loads(match.group(1))


@pytest.mark.django_db
def test_anonymous_visitor_is_sent_to_the_admin_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/"


@pytest.mark.django_db
def test_logged_in_non_staff_user_is_sent_to_the_admin_login(client):
    get_user_model().objects.create_user(username="pat", password="pw-123456")
    client.login(username="pat", password="pw-123456")
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_user_gets_the_page_chatting_as_their_session_identity(client, staff):
    client.login(username="sam", password="pw-123456")
    response = client.get("/")
    assert response.status_code == 200
    config = page_config(response)
    # The same participant id the /mcp session of this browser uses (Session.user_id).
    assert config["participant_id"] == "staff:sam"
    assert config["ws_path"] == "/mcp"
    body = response.content.decode()
    assert 'type="module"' in body and "/static/chat/chat.js" in body
    assert "http://" not in body.replace("http://www.w3.org", "") and "https://" not in body


@pytest.mark.django_db
def test_dev_mode_serves_the_page_without_login(client, dev_mode):
    response = client.get("/")
    assert response.status_code == 200
    assert page_config(response)["participant_id"] == "local-development"


@pytest.mark.django_db
def test_page_rejects_post(client, dev_mode):
    assert client.post("/").status_code == 405


async def _asgi_get(path: str):
    """GET through the real ASGI application (static files are served at that level)."""
    import httpx

    from personamcp.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        return await http.get(path)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/chat/chat.js", "text/javascript"),
        ("/static/chat/chat.css", "text/css"),
        ("/static/admin/css/base.css", "text/css"),
    ],
)
async def test_static_files_are_served_without_debug(settings, path, content_type):
    settings.DEBUG = False
    response = await _asgi_get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert response.content


@pytest.mark.parametrize(
    "path",
    [
        "/static/chat/missing.js",
        "/static/../manage.py",
        "/static/%2e%2e/manage.py",
        "/static//etc/passwd",
    ],
)
async def test_static_files_outside_the_static_folders_are_not_served(path):
    assert (await _asgi_get(path)).status_code == 404
