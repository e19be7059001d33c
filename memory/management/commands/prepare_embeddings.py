import time

from django.core.management.base import BaseCommand

from memory.embeddings import embedding_info, warm_up


class Command(BaseCommand):
    help = "Load the embedding model once (exporting the ONNX copy on first use) so that the server's first turn is fast."

    def handle(self, *args, **options):
        start = time.perf_counter()
        warm_up()
        info = embedding_info()
        self.stdout.write(
            f"embeddings ready: {info['model']} ({info['dimensions']} dims, {info['backend']}) "
            f"in {time.perf_counter() - start:.1f}s"
        )
