"""The embedding column: pgvector's ``VectorField`` on PostgreSQL, packed float32 on SQLite.

pgvector's field stores text (``[0.1,...]``) on SQLite, about 4 KB per 384-d vector and slow to
parse. On SQLite this subclass stores the raw little-endian float32 bytes instead (1.5 KB) so
that the in-process index (``memory.index``) loads 100k vectors in well under a second. On
PostgreSQL it is exactly ``vector(N)``, so the HNSW index and ``CosineDistance`` work as usual.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pgvector import Vector
from pgvector.django import VectorField


class EmbeddingField(VectorField):
    description = "Embedding vector (pgvector on PostgreSQL, float32 blob elsewhere)"

    def db_type(self, connection: Any) -> str:
        if connection.vendor == "postgresql":
            return super().db_type(connection)
        return "blob"

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        if connection.vendor == "postgresql":
            return super().get_db_prep_value(value, connection, prepared)
        return np.asarray(value, dtype="<f4").tobytes()

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> np.ndarray | None:
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray, memoryview)):
            return np.frombuffer(value, dtype="<f4").astype(np.float32)
        return np.asarray(Vector._from_db(value), dtype=np.float32)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return np.frombuffer(value, dtype="<f4").astype(np.float32)
        return super().to_python(value)
