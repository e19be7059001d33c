"""What the dashboard keeps beyond the other apps' rows: a persona's mood and energy over time."""

from __future__ import annotations

from django.db import models


class StateSample(models.Model):
    """One reading of a persona's state, taken whenever the state is saved."""

    persona = models.ForeignKey(
        "personas.Persona", on_delete=models.CASCADE, related_name="state_samples"
    )
    at = models.DateTimeField()
    mood = models.FloatField()
    energy = models.FloatField()
    emotion = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["persona", "at"]
        indexes = [models.Index(fields=["persona", "at"], name="state_sample_persona_at")]

    def __str__(self) -> str:
        return f"{self.persona_id} at {self.at}: mood {self.mood:+.2f}, energy {self.energy:.2f}"
