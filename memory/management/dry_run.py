"""The shape shared by the memory maintenance commands: run a service, optionally as a dry
run, and print how many memories it touched, then the count per persona."""

from __future__ import annotations

from collections.abc import Callable

from django.core.management.base import BaseCommand


class DryRunCommand(BaseCommand):
    """Subclasses name the service, the result key counted, the two verbs and the flag's help."""

    service: Callable[..., dict]
    count_key: str
    verbs: tuple[str, str]  # (dry run, real run)
    dry_run_help = "count, change nothing"

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help=self.dry_run_help)

    def handle(self, *args, dry_run: bool = False, **options):
        result = type(self).service(dry_run=dry_run)
        verb = self.verbs[0] if dry_run else self.verbs[1]
        self.stdout.write(f"{verb} {result[self.count_key]} memories")
        for slug, count in sorted(result["by_persona"].items()):
            self.stdout.write(f"  {slug}: {count}")
