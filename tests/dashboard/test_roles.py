"""Roles: the groups and their permissions, enforced in the admin and the dashboard views."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from dashboard import roles
from tests.dashboard.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def perms_of(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}


def test_the_migration_creates_three_roles_with_matching_permissions():
    operators, authors, viewers = (perms_of(n) for n in roles.ROLES)
    assert {
        "bots.operate_botaccount",
        "bots.change_botaccount",
        "personas.view_persona",
    } <= operators
    assert "personas.change_persona" not in operators and "memory.delete_memory" not in operators
    assert {"personas.change_persona", "personas.add_persona", "memory.change_memory"} <= authors
    assert "bots.operate_botaccount" not in authors and "bots.change_botaccount" not in authors
    assert all(p.split(".")[1].startswith("view_") for p in viewers)
    assert {
        "personas.view_persona",
        "conversations.view_message",
        "bots.view_botaccount",
    } <= viewers
    assert "personamcp.view_apikey" in operators and "personamcp.view_apikey" not in viewers


def test_an_app_migrated_later_is_granted_by_the_post_migrate_hook():
    # As if the memory app had appeared after the roles migration: nobody holds its permissions,
    # then its post_migrate signal arrives.
    memory_perms = Permission.objects.filter(content_type__app_label="memory")
    for group in Group.objects.all():
        group.permissions.remove(*memory_perms)
    assert "memory.change_memory" not in perms_of("authors")
    roles.on_post_migrate(
        sender=apps.get_app_config("memory"), app_config=apps.get_app_config("memory")
    )
    assert {"memory.change_memory", "memory.view_memory"} <= perms_of("authors")
    assert "memory.view_memory" in perms_of("viewers")
    assert "memory.change_memory" not in perms_of("viewers")


def _client(client, role_user, role):
    user = role_user(role)
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("authors", True), ("viewers", False), ("operators", False)],
)
def test_only_authors_may_add_and_change_personas_in_the_admin(
    client, role_user, cast, role, allowed
):
    c = _client(client, role_user, role)
    assert c.get(reverse("admin:personas_persona_add")).status_code == (200 if allowed else 403)
    page = c.get(reverse("admin:personas_persona_change", args=[cast["alice"].pk]))
    assert page.status_code == 200  # everyone may view
    assert (b'name="_save"' in page.content) is allowed
    assert c.get(reverse("admin:memory_memory_add")).status_code == (200 if allowed else 403)


@pytest.mark.parametrize("role", ["authors", "viewers", "operators"])
def test_bot_actions_are_offered_to_operators_only(client, role_user, bot, role):
    c = _client(client, role_user, role)
    page = c.get(reverse("admin:bots_botaccount_changelist"))
    assert page.status_code == 200
    assert (b'value="start_bots"' in page.content) is (role == "operators")
    # the action posted directly anyway is not carried out
    c.post(
        reverse("admin:bots_botaccount_changelist"),
        {"action": "start_bots", "_selected_action": [str(bot.pk)]},
    )
    bot.run.refresh_from_db()
    assert (bot.run.status == "starting" or bot.run.wanted is True) is (role == "operators")


@pytest.mark.parametrize("role", ["authors", "viewers"])
def test_dashboard_bot_start_is_refused_with_403_without_the_operator_role(
    client, role_user, bot, role
):
    c = _client(client, role_user, role)
    response = c.post(reverse("admin:dashboard_bot_action", args=[bot.pk, "start"]))
    assert response.status_code == 403
    bot.run.refresh_from_db()
    assert bot.run.status == "stopped" and bot.run.wanted is None


def test_operators_start_a_bot_from_the_dashboard(client, role_user, bot):
    c = _client(client, role_user, "operators")
    log_page = reverse("admin:dashboard_bot_log", args=[bot.pk])
    response = c.post(
        reverse("admin:dashboard_bot_action", args=[bot.pk, "start"]), {"next": log_page}
    )
    assert response.status_code == 302 and response["Location"] == log_page
    bot.run.refresh_from_db()
    assert bot.run.wanted is True


def test_staff_without_a_role_is_refused_every_dashboard_page(client, role_user, cast, bot):
    c = _client(client, role_user, "")
    for url in (
        reverse("admin:dashboard_persona", args=["alice"]),
        reverse("admin:dashboard_graph"),
        reverse("admin:dashboard_bot_log", args=[bot.pk]),
        reverse("admin:dashboard_bot_log_stream", args=[bot.pk]),
        reverse("admin:dashboard_stream"),
    ):
        assert c.get(url).status_code == 403, url
    index = c.get(reverse("admin:index"))
    assert index.status_code == 200 and b"pm-counters" not in index.content


def test_anonymous_visitors_are_sent_to_the_login_page(client, cast):
    response = client.get(reverse("admin:dashboard_persona", args=["alice"]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = client.get(reverse("admin:dashboard_stream"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
