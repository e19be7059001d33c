"""The roles: operators, authors and viewers, with the permissions of the apps present now.

Apps installed later get theirs from ``dashboard.roles.on_post_migrate``.
"""

from django.db import migrations

from dashboard.roles import grant_all


def noop(apps, schema_editor):
    pass  # groups are kept on the way back: users may be in them


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("personamcp", "0001_initial"),
        ("personas", "0001_initial"),
        ("memory", "0002_memory_fillfactor"),
        ("conversations", "0003_message_processed_at"),
        ("bots", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant_all, noop)]
