"""``manage.py runbot <persona slug or bot id>``: run one persona's Matrix bot in the foreground."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from bots import runner, selectors
from bots.exceptions import BotNotFound


class Command(BaseCommand):
    help = "Run a persona's Matrix bot in the foreground until SIGTERM / Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("bot", help="bot id (UUID) or the slug of a persona with one bot")
        parser.add_argument(
            "--no-console",
            action="store_true",
            help="log only to the bot's log file (used when the supervisor spawns the bot)",
        )

    def handle(self, *args, **options):
        try:
            bot = selectors.bot_get_by_ref(ref=options["bot"])
        except BotNotFound as exc:
            raise CommandError(exc.message) from None
        if not bot.enabled:
            raise CommandError(f"bot {bot.user_id} is disabled")
        sys.exit(runner.run_bot(bot, console=not options["no_console"]))
