"""Bot passwords and access tokens encrypted at rest (personamcp.crypto), existing rows too."""

from django.db import migrations

import personamcp.crypto

SECRETS = ["password", "access_token"]


def encrypt_existing(apps, schema_editor):
    personamcp.crypto.rotate_model(apps.get_model("bots", "BotAccount"), SECRETS)


def decrypt_existing(apps, schema_editor):
    """Back to plain text columns (the field is still encrypted while this runs: write raw)."""
    BotAccount = apps.get_model("bots", "BotAccount")
    table = schema_editor.quote_name(BotAccount._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        for pk, *values in BotAccount.objects.values_list("pk", *SECRETS).iterator():
            cursor.execute(
                f"UPDATE {table} SET password = %s, access_token = %s WHERE id = %s",
                [*values, BotAccount._meta.pk.get_db_prep_value(pk, schema_editor.connection)],
            )


class Migration(migrations.Migration):
    dependencies = [("bots", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="botaccount",
            name="password",
            field=personamcp.crypto.EncryptedTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="botaccount",
            name="access_token",
            field=personamcp.crypto.EncryptedTextField(blank=True),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
    ]
