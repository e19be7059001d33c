"""manage.py reembed [--persona SLUG]: recompute embeddings after a model change."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from memory.models import Memory
from memory.services import memory_reembed
from personas.selectors import persona_get


class Command(BaseCommand):
    help = "Recompute memory embeddings with the current EMBEDDING_MODEL (progress bar)."

    def add_arguments(self, parser):
        parser.add_argument("--persona", action="append", help="id or slug (repeatable)")
        parser.add_argument("--batch-size", type=int, default=256)

    def handle(self, *args, persona=None, batch_size: int = 256, **options):
        personas = [persona_get(persona_id=p) for p in persona] if persona else None
        qs = Memory.objects.all()
        if personas is not None:
            qs = qs.filter(persona__in=personas)
        with tqdm(total=qs.count(), unit="mem", file=self.stderr._out) as bar:
            done = memory_reembed(personas=personas, batch_size=batch_size, progress=bar.update)
        self.stdout.write(f"re-embedded {done} memories")
