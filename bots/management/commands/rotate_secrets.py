"""``manage.py rotate_secrets``: re-encrypt every stored secret with the newest key."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from bots.models import BotAccount
from personamcp import crypto


class Command(BaseCommand):
    help = (
        "Re-encrypt stored secrets (bot passwords, access tokens, crypto-store keys) with the "
        "first key of PERSONAMCP_SECRET_KEYS. Run it after putting a new key first; then the "
        "old keys can be removed."
    )

    def handle(self, *args, **options):
        rows = crypto.rotate_model(BotAccount, list(BotAccount.SECRET_FIELDS))
        self.stdout.write(f"re-encrypted the secrets of {rows} bot(s)")
