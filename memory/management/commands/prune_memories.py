"""manage.py prune_memories [--dry-run]: delete memories beyond the per-persona cap."""

from django.core.management.base import BaseCommand

from memory.services import memory_prune


class Command(BaseCommand):
    help = "Delete the least valuable memories of personas above MEMORY_MAX_PER_PERSONA."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args, dry_run: bool = False, **options):
        result = memory_prune(dry_run=dry_run)
        verb = "would prune" if dry_run else "pruned"
        self.stdout.write(f"{verb} {result['pruned']} memories")
        for slug, count in sorted(result["by_persona"].items()):
            self.stdout.write(f"  {slug}: {count}")
