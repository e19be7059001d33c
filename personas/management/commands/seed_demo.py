from django.core.management.base import BaseCommand
from django.db import transaction

from personas import services
from personas.demo import DEMO_PERSONAS
from personas.models import Persona


class Command(BaseCommand):
    help = "Load the demo personas (idempotent: existing slugs are left as they are)."

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
