"""manage.py decay_memories [--dry-run]: lower the importance of old, unused memories."""

from django.core.management.base import BaseCommand

from memory.services import memory_decay


class Command(BaseCommand):
    help = "Lower the importance of old, unused memories (protected ones are never touched)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")

    def handle(self, *args, dry_run: bool = False, **options):
        result = memory_decay(dry_run=dry_run)
        verb = "would decay" if dry_run else "decayed"
        self.stdout.write(f"{verb} {result['decayed']} memories")
        for slug, count in sorted(result["by_persona"].items()):
            self.stdout.write(f"  {slug}: {count}")
