"""The embedded mode's backend: Django's SQLite backend whose writers queue in-process."""
