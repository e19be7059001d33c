"""Fixtures for the dashboard: users in each role, stored turns, a bot, a browser logged in."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.web.conftest import Browser

PASSWORD = "correct-horse-battery"
ROLES = ("operators", "authors", "viewers")


@pytest.fixture
def role_user(transactional_db):
    """role_user("authors") -> a staff user in that group ("" for a staff user with no role)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    def make(role: str):
        user = get_user_model().objects.create_user(
            username=role or "norole", password=PASSWORD, is_staff=True
        )
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def cast(transactional_db):
    """Two personas who know each other and a participant, committed for a server process."""
    from personas.models import Persona, PersonaState, Relationship

    alice = Persona.objects.create(slug="alice", name="Alice", description="innkeeper")
    rook = Persona.objects.create(slug="rook", name="Rook", description="a raven")
    for p in (alice, rook):
        PersonaState.objects.get_or_create(persona=p)
    Relationship.objects.create(
        persona=alice, other_id=str(rook.id), other_kind="persona", other_name="Rook",
        affinity=0.6, trust=0.4, stage="friend", interactions=7,
    )  # fmt: skip
    Relationship.objects.create(
        persona=rook, other_id=str(alice.id), other_kind="persona", other_name="Alice",
        affinity=-0.3, trust=-0.1, stage="rival", interactions=3,
    )  # fmt: skip
    Relationship.objects.create(
        persona=alice, other_id="@mira:localhost", other_kind="participant", other_name="Mira",
        affinity=0.2, stage="acquaintance", interactions=2,
    )  # fmt: skip
    return {"alice": alice, "rook": rook}


@pytest.fixture
def store_turn():
    """store_turn(persona, minutes_ago=, total_ms=, llm_ms=, status=, error=, code=, tokens=)
    stores a user message and an assistant turn at that time, as the pipeline would."""
    from django.utils import timezone

    from conversations.models import Conversation, Message

    def store(persona, *, minutes_ago: float = 1, total_ms: float = 100, llm_ms: float = 60,
              status: str = "complete", error: str = "", code: int | None = None, tokens=(10, 5),
              participant="cli:mira"):  # fmt: skip
        at = timezone.now() - timedelta(minutes=minutes_ago)
        conv, _ = Conversation.objects.get_or_create(
            persona=persona, participant=participant, ended_at=None,
            defaults={"participant_name": participant.split(":")[-1].title()},
        )  # fmt: skip
        Message.objects.create(conversation=conv, role="user", speaker="Mira", content="hi")
        msg = Message.objects.create(
            conversation=conv, role="assistant", speaker=persona.name, content="hello",
            status=status, error=error, error_code=code, prompt_tokens=tokens[0], completion_tokens=tokens[1],
            timings={"total_ms": total_ms, "llm_ms": llm_ms},
        )  # fmt: skip
        Message.objects.filter(pk=msg.pk).update(created_at=at)
        Conversation.objects.filter(pk=conv.pk).update(last_message_at=at)
        msg.created_at = at
        return msg

    return store


@pytest.fixture
def bot(cast):
    """A bot account of Alice on a homeserver nobody listens on (starting it fails fast)."""
    from bots.models import BotAccount
    from bots.selectors import ensure_run

    account = BotAccount.objects.create(
        persona=cast["alice"],
        homeserver="http://127.0.0.1:9",
        user_id="@alice:localhost",
        password="hunter2-secret",
    )
    ensure_run(account)
    return account


@pytest.fixture
def make_browser(tmp_path):
    """make_browser() -> a headless Chromium. Call it after the test's database work: the ORM
    refuses to run in a thread where Playwright's event loop is active (see ``off_loop``)."""
    made: list[Browser] = []

    def make() -> Browser:
        made.append(Browser(tmp_path, bypass_csp=True))
        return made[-1]

    yield make
    for b in made:
        b.close()


def off_loop(fn, *args, **kwargs):
    """Run database work on a fresh thread while a browser is open in this one."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def run():
        try:
            return fn(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


@pytest.fixture
def open_as(live_server_proc, make_browser, role_user):
    """open_as(role, path) -> (server, browser, page): a server, a user in ``role`` logged in
    with a fresh browser, on ``path``. Do the test's database work before calling it."""

    def open_page(role: str, path: str = "/admin/"):
        user = role_user(role)
        server = live_server_proc()
        browser = make_browser()
        login(browser, server, user.username)
        if path != "/admin/":
            browser.page.goto(server.http + path)
        return server, browser, browser.page

    return open_page


def login(browser, server, username: str) -> None:
    page = browser.page
    page.goto(f"{server.http}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{server.http}/admin/")


def post_as_page(browser, url: str, data: dict | None = None):
    """POST from the logged-in browser with its CSRF cookie (a direct request, no form)."""
    token = next(c["value"] for c in browser.context.cookies() if c["name"] == "csrftoken")
    return browser.page.request.post(
        url, form={"csrfmiddlewaretoken": token, **(data or {})}, max_redirects=0
    )
