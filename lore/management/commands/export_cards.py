"""``manage.py export_cards DIR``: every persona (or the named ones) as a card file."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from personas import cards
from personas.models import Persona

SUFFIX = {"json": "json", "png": "png", "charx": "charx"}


class Command(BaseCommand):
    help = "Write every persona (or those named with --persona) as a card into DIR."

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--format", choices=["ccv3", "ccv2"], default="ccv3")
        parser.add_argument("--as", dest="as_", choices=["json", "png", "charx"], default="png")
        parser.add_argument("--persona", action="append", help="slug; repeat for several")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        root = Path(options["directory"])
        root.mkdir(parents=True, exist_ok=True)
        personas = Persona.objects.order_by("slug")
        if options["persona"]:
            personas = personas.filter(slug__in=options["persona"])
            missing = set(options["persona"]) - set(personas.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"no persona with slug {', '.join(sorted(missing))}")
        personas = list(personas)
        fmt, as_ = options["format"], options["as_"]
        for persona in tqdm(
            personas,
            desc="export_cards",
            unit="card",
            file=self.stderr._out,
            disable=options["no_progress"] or not personas,
        ):
            target = root / f"{persona.slug}.{SUFFIX[as_]}"
            if as_ == "json":
                card = cards.persona_to_card(persona, fmt=fmt)
                target.write_text(json.dumps(card, ensure_ascii=False, indent=2), encoding="utf-8")
            elif as_ == "png":
                target.write_bytes(cards.persona_card_png(persona, fmt=fmt))
            else:
                target.write_bytes(cards.persona_card_charx(persona, fmt=fmt))
        self.stdout.write(f"export_cards: {len(personas)} written to {root}.")
