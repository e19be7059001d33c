from django.core.management.base import BaseCommand
from django.db import transaction

from personas import services
from personas.demo import DEMO_PERSONAS
from personas.models import Persona


class Command(BaseCommand):
    help = (
        "Load the demo personas and the demo tavern scene (idempotent: existing slugs and an "
        "existing tavern are left as they are)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-scene", action="store_true", help="Only the personas, not the tavern scene."
        )

    @transaction.atomic
    def handle(self, *args, **options):
        created = 0
        for spec in DEMO_PERSONAS:
            if Persona.objects.filter(slug=spec["slug"]).exists():
                continue
            services.persona_create(**spec)
            created += 1
        total = Persona.objects.count()
        self.stdout.write(f"seed_demo: {created} persona(s) created, {total} in total.")
        if options.get("no_scene"):
            return
        from rooms.demo import seed_tavern

        room, made = seed_tavern()
        state = "created" if made else "already there"
        self.stdout.write(f"seed_demo: tavern scene {room.name!r} ({room.id}) {state}.")
