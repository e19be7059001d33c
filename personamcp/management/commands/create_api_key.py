from django.core.management.base import BaseCommand, CommandError

from personamcp import hooks
from personamcp.exceptions import DomainError
from personamcp.models import SCOPES
from personamcp.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--scope", choices=SCOPES, default="read")
        parser.add_argument(
            "--persona", action="append", default=[], help="limit to this persona (repeatable)"
        )
        parser.add_argument("--quiet", action="store_true", help="print only the key")

    def handle(self, *args, name, scope, persona, quiet, **options):
        try:
            personas = [hooks.persona_lookup(p) for p in persona]
            key, raw = api_key_create(name=name, scope=scope, personas=personas)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if quiet:
            self.stdout.write(raw)
            return
        limited = ", ".join(p.slug for p in personas) or "all personas"
        self.stdout.write(f"API key {key.name!r} (scope {scope}, {limited}):")
        self.stdout.write(raw)
        self.stdout.write("Store it now: it cannot be shown again.")
