"""Lorebooks (World Info) and their entries.

Entries keep the Character Card V2/V3 ``character_book`` entry fields as columns; optional
fields are nullable so that an imported book is exported back exactly as written (``None``:
the field was absent). SillyTavern's extra options live in ``extensions`` under the names its
own card exports use (``position``, ``depth``, ``selectiveLogic``, ``probability``, …).
"""

from __future__ import annotations

import uuid

from django.db import models


class Lorebook(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    scan_depth = models.PositiveIntegerField(null=True, blank=True)
    token_budget = models.PositiveIntegerField(null=True, blank=True)
    recursive_scanning = models.BooleanField(null=True, blank=True)
    extensions = models.JSONField(default=dict, blank=True)
    # Fields of an imported book or World Info file that have no column, given back on export.
    extra = models.JSONField(default=dict, blank=True)
    # The persona whose card's ``character_book`` this is (exported back into its card).
    owner = models.ForeignKey(
        "personas.Persona",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="own_lorebooks",
    )
    # Standalone books shared by several personas (a world).
    personas = models.ManyToManyField("personas.Persona", blank=True, related_name="lorebooks")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["name", "id"], name="lorebook_name_id")]

    def __str__(self) -> str:
        return self.name


class LorebookRoom(models.Model):
    """A lorebook attached to a room: every member persona scans it in that room.

    The room is referenced by id (rooms are moving between apps; a room's deletion detaches
    its books through ``lore.services.lorebook_rooms_forget``).
    """

    lorebook = models.ForeignKey(Lorebook, on_delete=models.CASCADE, related_name="room_links")
    room_id = models.UUIDField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lorebook", "room_id"], name="lorebook_room_unique")
        ]

    def __str__(self) -> str:
        return f"{self.lorebook_id} in room {self.room_id}"


class LoreEntry(models.Model):
    lorebook = models.ForeignKey(Lorebook, on_delete=models.CASCADE, related_name="entries")
    uid = models.IntegerField(null=True, blank=True, help_text="the entry's id in its book")
    keys = models.JSONField(default=list, blank=True)
    secondary_keys = models.JSONField(null=True, blank=True)
    content = models.TextField(blank=True)
    name = models.CharField(max_length=500, null=True, blank=True)
    comment = models.TextField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    constant = models.BooleanField(null=True, blank=True)
    selective = models.BooleanField(null=True, blank=True)
    case_sensitive = models.BooleanField(null=True, blank=True)
    use_regex = models.BooleanField(null=True, blank=True)
    insertion_order = models.IntegerField(default=100)
    priority = models.IntegerField(null=True, blank=True)
    position = models.CharField(max_length=16, null=True, blank=True)
    extensions = models.JSONField(default=dict, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    sort = models.PositiveIntegerField(default=0, help_text="the entry's place in its book")

    class Meta:
        ordering = ["lorebook", "sort", "id"]
        verbose_name_plural = "lore entries"

    def __str__(self) -> str:
        return self.name or self.comment or ", ".join(self.keys[:3]) or f"entry {self.uid}"
