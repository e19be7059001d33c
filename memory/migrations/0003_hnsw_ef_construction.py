"""Rebuild the PostgreSQL HNSW index with ef_construction 200 (was 64), m 16 as before.

recall@10 against exact search at 100k on the benchmark's near-duplicate vectors
(bench/memory_search.py, bench/README.md "Recall"): at hnsw.ef_search 200, 0.960 with
ef_construction 64 and 0.984 with 200 (0.996 at 400). The build takes about twice as long
(100k rows: 57 s -> 122 s on two loaded cores); a large table is locked against writes while
it is rebuilt, so run this migration in a quiet moment. SQLite: nothing (the in-process index
has its own MEMORY_ANN_EF_CONSTRUCTION).
"""

from django.db import migrations

HNSW_SQL = (
    "CREATE INDEX IF NOT EXISTS memory_embedding_hnsw ON memory_memory "
    "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 200)"
)
OLD_HNSW_SQL = HNSW_SQL.replace("ef_construction = 200", "ef_construction = 64")


def _rebuild(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute("DROP INDEX IF EXISTS memory_embedding_hnsw")
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("memory", "0002_memory_fillfactor")]

    operations = [migrations.RunPython(_rebuild(HNSW_SQL), _rebuild(OLD_HNSW_SQL))]
