"""Roles: Django groups with matching permissions, enforced in the admin and the dashboard.

- *operators*: start, stop and restart bots, manage bot accounts, view everything.
- *authors*: edit personas, lorebooks and memories; view everything else.
- *viewers*: read only.

Apps are named by label, so models that appear later (lorebooks, the audit log, rooms) are
covered: the roles migration grants what exists when it runs, and a ``post_migrate`` hook grants
each app's permissions right after Django creates them. Grants are additive.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions

OPERATORS, AUTHORS, VIEWERS = "operators", "authors", "viewers"
# App labels whose models every role may view.
VIEWABLE = ("personas", "memory", "conversations", "rooms", "bots", "lore", "audit", "dashboard")
# role -> apps it may view, apps whose every permission it has, extra permissions (app, codename)
ROLES: dict[str, dict] = {
    OPERATORS: {
        "view": (*VIEWABLE, "personamcp"),
        "manage": ("bots",),
        "extra": (("bots", "operate_botaccount"),),
    },
    AUTHORS: {"view": VIEWABLE, "manage": ("personas", "memory", "lore"), "extra": ()},
    VIEWERS: {"view": VIEWABLE, "manage": (), "extra": ()},
}
# A permission the bots app's models do not declare: starting and stopping bot processes.
OPERATE_BOTS = ("bots", "botaccount", "operate_botaccount", "Can start, stop and restart bots")
OPERATE_BOTS_PERM = "bots.operate_botaccount"


def ensure_groups(apps, using: str = "default") -> dict:
    Group = apps.get_model("auth", "Group")
    return {name: Group.objects.using(using).get_or_create(name=name)[0] for name in ROLES}


def grant_app(apps, app_label: str, using: str = "default") -> None:
    """Give each role its permissions on ``app_label``'s models (which must exist by now)."""
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    groups = ensure_groups(apps, using)
    if app_label == OPERATE_BOTS[0]:
        ct = ContentType.objects.using(using).filter(app_label="bots", model=OPERATE_BOTS[1])
        if ct.exists():
            Permission.objects.using(using).get_or_create(
                content_type=ct.get(), codename=OPERATE_BOTS[2], defaults={"name": OPERATE_BOTS[3]}
            )
    perms = list(Permission.objects.using(using).filter(content_type__app_label=app_label))
    if not perms:
        return
    for name, role in ROLES.items():
        chosen = [
            p
            for p in perms
            if app_label in role["manage"]
            or (app_label in role["view"] and p.codename.startswith("view_"))
            or (app_label, p.codename) in role["extra"]
        ]
        if chosen:
            groups[name].permissions.add(*chosen)


def grant_all(apps, schema_editor) -> None:
    """The roles migration: create every installed app's permissions now, then grant them."""
    using = schema_editor.connection.alias
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
        app_config.models_module = None
    ensure_groups(apps, using)
    for app_config in apps.get_app_configs():
        grant_app(apps, app_config.label, using)


# The models granting needs; a partial ``migrate <app> <migration>`` may stop before them.
NEEDED_MODELS = (("auth", "Group"), ("auth", "Permission"), ("contenttypes", "ContentType"))


def on_post_migrate(sender, app_config=None, using: str = "default", apps=None, **kwargs) -> None:
    """Grant the roles ``app_config``'s permissions once they exist. Skipped when the migrated
    state has no auth or contenttypes models yet (as Django's own ``create_permissions``
    does): the grants follow with the migration that brings them."""
    from django.apps import apps as global_apps

    app_config = app_config or sender
    label = getattr(app_config, "label", None)
    if not label or not global_apps.is_installed("django.contrib.auth"):
        return
    state = apps or global_apps
    try:
        for app_label, model in NEEDED_MODELS:
            state.get_model(app_label, model)
    except LookupError:
        return
    grant_app(state, label, using)


def role_names(user) -> list[str]:
    """The roles a user has (for display)."""
    if user.is_superuser:
        return ["superuser"]
    return sorted(user.groups.filter(name__in=ROLES).values_list("name", flat=True))


# The API scope of each role's browser session (REST, /mcp, the chat page), from the least.
SESSION_SCOPES = {VIEWERS: "read", AUTHORS: "write", OPERATORS: "admin"}


def session_scope(user) -> str | None:
    """The widest scope among the user's roles; None (unchanged: admin) for a superuser or a
    staff user with no role, so roles only ever narrow what a session may do."""
    if user.is_superuser:
        return None
    names = set(user.groups.filter(name__in=SESSION_SCOPES).values_list("name", flat=True))
    for role in (OPERATORS, AUTHORS, VIEWERS):
        if role in names:
            return SESSION_SCOPES[role]
    return None
