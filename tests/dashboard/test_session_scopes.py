"""Roles narrow what a staff user's browser session may do through the API, not only in the
admin: a viewer's session reads, an author's writes, an operator's also runs bots. Superusers
and staff users without a role keep the session's admin scope."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.dashboard.conftest import PASSWORD


def _session(user) -> Client:
    client = Client()
    assert client.login(username=user.get_username(), password=PASSWORD)
    return client


def _create_persona(client: Client, slug: str):
    body = {"name": slug.title(), "slug": slug}
    return client.post("/api/personas/", json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    ("role", "may_write", "may_operate"),
    [("viewers", False, False), ("authors", True, False), ("operators", True, True)],
)
def test_a_role_limits_its_sessions_api_scope(role_user, cast, role, may_write, may_operate):
    from personamcp.auth import principal_from_user

    user = role_user(role)
    client = _session(user)
    assert client.get("/api/personas/").status_code == 200
    created = _create_persona(client, f"made-by-{role}")
    assert created.status_code == (201 if may_write else 403), created.content
    if not may_write:
        assert created.json()["error"]["code"] == -32021
    scope = principal_from_user(user).scope
    assert scope == {"viewers": "read", "authors": "write", "operators": "admin"}[role]
    assert (scope == "admin") is may_operate


def test_superusers_and_staff_without_a_role_keep_the_admin_scope(role_user, cast):
    from django.contrib.auth.models import Group

    from personamcp.auth import principal_from_user

    plain = role_user("")
    assert principal_from_user(plain).scope == "admin"
    assert _create_persona(_session(plain), "made-by-staff").status_code == 201
    boss = role_user("viewers")
    boss.is_superuser = True
    boss.save(update_fields=["is_superuser"])
    assert principal_from_user(boss).scope == "admin"
    # Several roles: the widest one counts.
    both = plain
    both.groups.add(Group.objects.get(name="viewers"), Group.objects.get(name="authors"))
    assert principal_from_user(both).scope == "write"
