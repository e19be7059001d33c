"""manage.py import_memories FILE.jsonl: bulk-load memories in batches with a progress bar.

One JSON object per line: ``persona`` (id or slug) and ``content`` required; ``kind``,
``importance``, ``visibility``, ``about``, ``metadata``, ``created_at`` (ISO 8601) optional.
A bad line stops the import with its line number; batches before it stay stored.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from memory.services import memory_store_many
from personamcp.exceptions import DomainError
from personas.selectors import persona_get

FIELDS = {"content", "kind", "importance", "visibility", "about", "metadata"}


class Command(BaseCommand):
    help = "Bulk-load memories from a JSON Lines file (batched embedding, progress bar)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--batch-size", type=int, default=256)

    def handle(self, *args, file: Path, batch_size: int = 256, **options):
        if not file.exists():
            raise CommandError(f"no such file: {file}")
        lines = [
            (n, line)
            for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1)
            if line.strip()
        ]
        personas: dict[str, object] = {}
        batch: list[tuple[int, object, dict]] = []
        stored = 0

        def flush() -> int:
            by_persona: dict = {}
            for lineno, persona, item in batch:
                by_persona.setdefault(persona.pk, (persona, []))[1].append((lineno, item))
            count = 0
            for persona, entries in by_persona.values():
                try:
                    count += len(
                        memory_store_many(
                            persona=persona, items=[i for _, i in entries], publish=False
                        )
                    )
                except DomainError as exc:
                    first = entries[0][0]
                    raise CommandError(
                        f"batch starting at line {first}: {exc.message} {exc.data}"
                    ) from exc
            batch.clear()
            return count

        with tqdm(total=len(lines), unit="mem", file=self.stderr._out) as bar:
            for lineno, line in lines:
                bar.update(1)
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CommandError(f"line {lineno}: invalid JSON ({exc})") from exc
                if not isinstance(row, dict) or "persona" not in row:
                    raise CommandError(f"line {lineno}: an object with 'persona' is required")
                ref = str(row.pop("persona"))
                if ref not in personas:
                    try:
                        personas[ref] = persona_get(persona_id=ref)
                    except DomainError as exc:
                        raise CommandError(f"line {lineno}: {exc.message}") from exc
                created = row.pop("created_at", None)
                unknown = set(row) - FIELDS
                if unknown:
                    raise CommandError(f"line {lineno}: unknown fields {sorted(unknown)}")
                if created:
                    moment = parse_datetime(str(created))
                    if moment is None:
                        raise CommandError(f"line {lineno}: bad created_at {created!r}")
                    row["created_at"] = moment
                batch.append((lineno, personas[ref], row))
                if len(batch) >= batch_size:
                    stored += flush()
            if batch:
                stored += flush()
        self.stdout.write(f"imported {stored} memories")
