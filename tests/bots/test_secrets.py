"""Secrets at rest: bot credentials are encrypted in the database with keys from the
environment, readable by the code, rotatable, and encrypted by the migration for old rows."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from bots import services
from bots.models import BotAccount
from personamcp import crypto

PASSWORD = "pw-at-rest-8841"
TOKEN = "syt_token_at_rest_5517"


def raw_columns(bot_id) -> tuple[str, str]:
    table = BotAccount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT password, access_token FROM {table} WHERE id = %s",
            [BotAccount._meta.pk.get_db_prep_value(bot_id, connection)],
        )
        return cursor.fetchone()


@pytest.fixture
def keys(monkeypatch):
    """Use explicit keys from the environment for the test; restore afterwards."""

    def use(*keys: bytes) -> None:
        monkeypatch.setenv(crypto.ENV, ",".join(k.decode() for k in keys))
        crypto.reset_keys()

    yield use
    monkeypatch.delenv(crypto.ENV, raising=False)
    crypto.reset_keys()


def make(demo, user_id="@alice-rest:localhost") -> BotAccount:
    return services.bot_create(
        persona=demo["alice"],
        homeserver="http://127.0.0.1:9",
        user_id=user_id,
        password=PASSWORD,
        access_token=TOKEN,
    )


def test_credentials_are_stored_encrypted_and_read_in_clear(demo, keys):
    keys(Fernet.generate_key())
    bot = make(demo)
    password, token = raw_columns(bot.pk)
    assert password.startswith("enc1:") and token.startswith("enc1:")
    assert PASSWORD not in password and TOKEN not in token
    fresh = BotAccount.objects.get(pk=bot.pk)
    assert (fresh.password, fresh.access_token) == (PASSWORD, TOKEN)
    services.bot_credentials_store(bot=fresh, access_token="syt_new_one", device_id="D2")
    assert "syt_new_one" not in raw_columns(bot.pk)[1]
    assert BotAccount.objects.get(pk=bot.pk).access_token == "syt_new_one"


def test_rotation_re_encrypts_with_the_new_key_and_the_old_key_can_go(demo, keys):
    old, new = Fernet.generate_key(), Fernet.generate_key()
    keys(old)
    bot = make(demo)
    before = raw_columns(bot.pk)
    keys(new, old)  # the new key first: it encrypts, both decrypt
    out = io.StringIO()
    call_command("rotate_secrets", stdout=out)
    assert "1 bot" in out.getvalue()
    after = raw_columns(bot.pk)
    assert after != before
    keys(new)  # the old key removed
    fresh = BotAccount.objects.get(pk=bot.pk)
    assert (fresh.password, fresh.access_token) == (PASSWORD, TOKEN)
    keys(old)  # only the old key: the rotated values cannot be read with it
    with pytest.raises(Exception, match="cannot be decrypted"):
        BotAccount.objects.get(pk=bot.pk)


def test_a_wrong_key_setting_is_a_clear_configuration_error(keys, monkeypatch):
    monkeypatch.setenv(crypto.ENV, "not-a-fernet-key")
    crypto.reset_keys()
    with pytest.raises(Exception, match="Fernet keys"):
        crypto.encrypt("x")


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_rows_stored_in_clear(demo, keys):
    from django.db.migrations.executor import MigrationExecutor

    keys(Fernet.generate_key())
    executor = MigrationExecutor(connection)
    executor.migrate([("bots", "0001_initial")])
    old_apps = executor.loader.project_state([("bots", "0001_initial")]).apps
    OldBot = old_apps.get_model("bots", "BotAccount")
    legacy = OldBot.objects.create(
        persona_id=demo["rook"].pk,
        homeserver="http://127.0.0.1:9",
        user_id="@rook-legacy:localhost",
        password=PASSWORD,
        access_token=TOKEN,
    )
    assert raw_columns(legacy.pk) == (PASSWORD, TOKEN)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    password, token = raw_columns(legacy.pk)
    assert password.startswith("enc1:") and token.startswith("enc1:")
    bot = BotAccount.objects.get(pk=legacy.pk)
    assert (bot.password, bot.access_token) == (PASSWORD, TOKEN)
