"""Leave room on each PostgreSQL page so that touching a memory (last access time and count,
updated on every retrieval) is a HOT update: no new HNSW index entry, which would otherwise
cost far more than the search itself."""

from django.db import migrations


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE memory_memory SET (fillfactor = 70)")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE memory_memory RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("memory", "0001_initial")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
