"""``manage.py import_cards DIR``: every card file in a folder becomes a persona."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from personamcp.exceptions import ValidationFailed
from personas import cards, services

SUFFIXES = {".png", ".json", ".charx"}
MAX_BYTES = 64 * 1024 * 1024


class Command(BaseCommand):
    help = "Import every character card (.png, .json, .charx) in DIR as a persona."

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--recursive", action="store_true", help="look in sub-folders too")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        root = Path(options["directory"])
        if not root.is_dir():
            raise CommandError(f"not a directory: {root}")
        pattern = "**/*" if options["recursive"] else "*"
        files = sorted(p for p in root.glob(pattern) if p.suffix.lower() in SUFFIXES)
        imported, failed = 0, []
        bar = tqdm(
            files,
            desc="import_cards",
            unit="card",
            file=self.stderr._out,
            disable=options["no_progress"] or not files,
        )
        for path in bar:
            try:
                if path.stat().st_size > MAX_BYTES:
                    raise ValidationFailed([{"field": "file", "message": "larger than 64 MiB"}])
                kind, value = cards.sniff(path.read_bytes(), field="file")
                persona = services.persona_import(**{kind: value}, field="file")
            except ValidationFailed as exc:
                reasons = "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
                failed.append(f"{path.name}: {reasons}")
                continue
            imported += 1
            bar.set_postfix_str(persona.slug)
        for line in failed:
            self.stderr.write(f"failed {line}")
        self.stdout.write(f"import_cards: {imported} imported, {len(failed)} failed.")
        if failed and not imported:
            raise CommandError("no card could be imported")
