"""The demo scene loaded by ``manage.py seed_demo``: the Wayward Goose as a spatial room.

Units are metres; the common room runs from the bar (the origin) to the door (z = 8).
Alice keeps the bar, Pip plays by the hearth, Rook sits in the far corner booth, out of
earshot of the bar (``hearing_radius`` 6): walk over to hear what Rook mutters.
"""

from __future__ import annotations

import uuid

from django.db import transaction

from personas.models import Persona
from rooms import spatial
from rooms.models import Room, RoomMember

# A fixed id, so that scripts and docs can name the tavern (docs/game-worlds.md).
TAVERN_ID = uuid.UUID("7a7e3a11-9005-4e5e-a7e3-000000000001")
TAVERN_NAME = "The Wayward Goose (tavern)"
TAVERN_RADIUS = 6.0
TAVERN_PLACES = {  # slug -> (x, y, z)
    "alice": (0.0, 0.0, 0.0),  # the innkeeper, behind the bar
    "pip": (5.0, 0.0, 2.0),  # the bard, by the hearth
    "rook": (11.0, 0.0, -4.0),  # the rogue, in the corner booth
}


def seed_tavern() -> tuple[Room, bool]:
    """Create the tavern scene once (``(room, created)``); an existing one is left as it is,
    positions included. Needs the demo personas."""
    existing = Room.objects.filter(pk=TAVERN_ID).first()
    if existing is not None:
        return existing, False
    personas = {p.slug: p for p in Persona.objects.filter(slug__in=TAVERN_PLACES)}
    with transaction.atomic():
        room = Room.objects.create(
            id=TAVERN_ID,
            name=TAVERN_NAME,
            policy=Room.Policy.NATURAL,
            spatial=True,
            hearing_radius=TAVERN_RADIUS,
        )
        order = [personas[s] for s in TAVERN_PLACES if s in personas]
        RoomMember.objects.bulk_create(
            [RoomMember(room=room, persona=p, position=i) for i, p in enumerate(order)]
        )
        for persona in order:
            spatial.place_members(room=room, personas=[persona], at=TAVERN_PLACES[persona.slug])
    return room, True
