"""Rebuild the PostgreSQL HNSW index over half-precision copies of the vectors.

The index is an expression index on ``embedding::halfvec(N)`` (``halfvec_cosine_ops``, m 16,
ef_construction 200 as in 0003); the column keeps full precision. The graph takes half the
pages, so a search reads half the buffers and an insertion compares half the bytes. Measured
at 100k on the benchmark's near-duplicate vectors (bench/README.md, "halfvec"): the candidate
query and the build are faster and recall@10 stays above 0.98 (the similarity a search returns
is still computed on the full vectors). The candidate statement orders by the same expression
(``memory.candidates.pg_statement``) so that the planner uses the index.

A large table is locked against writes while the index is rebuilt: run this migration in a
quiet moment. SQLite: nothing (the in-process index has its own settings).
"""

from django.conf import settings
from django.db import migrations

HALF = f"halfvec({int(settings.EMBEDDING_DIMENSIONS)})"
HNSW_SQL = (
    "CREATE INDEX IF NOT EXISTS memory_embedding_hnsw ON memory_memory "
    f"USING hnsw ((embedding::{HALF}) halfvec_cosine_ops) WITH (m = 16, ef_construction = 200)"
)
OLD_HNSW_SQL = (
    "CREATE INDEX IF NOT EXISTS memory_embedding_hnsw ON memory_memory "
    "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 200)"
)


def _rebuild(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute("DROP INDEX IF EXISTS memory_embedding_hnsw")
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("memory", "0003_hnsw_ef_construction")]

    operations = [migrations.RunPython(_rebuild(HNSW_SQL), _rebuild(OLD_HNSW_SQL))]
