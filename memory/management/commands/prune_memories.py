"""manage.py prune_memories [--dry-run]: delete memories beyond the per-persona cap."""

from memory.management.dry_run import DryRunCommand
from memory.services import memory_prune


class Command(DryRunCommand):
    help = "Delete the least valuable memories of personas above MEMORY_MAX_PER_PERSONA."
    service = staticmethod(memory_prune)
    count_key = "pruned"
    verbs = ("would prune", "pruned")
    dry_run_help = "count, delete nothing"
