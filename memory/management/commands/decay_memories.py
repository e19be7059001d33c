"""manage.py decay_memories [--dry-run]: lower the importance of old, unused memories."""

from memory.management.dry_run import DryRunCommand
from memory.services import memory_decay


class Command(DryRunCommand):
    help = "Lower the importance of old, unused memories (protected ones are never touched)."
    service = staticmethod(memory_decay)
    count_key = "decayed"
    verbs = ("would decay", "decayed")
