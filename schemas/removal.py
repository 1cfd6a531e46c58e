"""The removal log: one row per document a stage took out of the corpus.

``DIR/removed/*.parquet`` answers "where did document X go?". It holds ids,
provenance and the decision, never text: the log is shared more widely than
the data and must not carry PII.
"""
from __future__ import annotations

import pyarrow as pa

REMOVAL_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("position", pa.int64(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("kept_id", pa.string(), nullable=True),
        pa.field("cluster_id", pa.string(), nullable=True),
        pa.field("text_bytes", pa.int64(), nullable=False),
    ]
)


def removal_record(
    record: dict, stage: str, reason: str, kept_id: str | None = None, cluster_id: str | None = None
) -> dict:
    """The removal row for ``record``, taken out by ``stage`` for ``reason``.

    ``record`` is a document or its fingerprint: it needs ``id``, ``source``,
    ``position`` and either ``text_bytes`` or ``text``.
    """
    size = record["text_bytes"] if "text_bytes" in record else len(record["text"].encode("utf-8"))
    return {
        "id": record["id"],
        "source": record["source"],
        "position": record["position"],
        "stage": stage,
        "reason": reason,
        "kept_id": kept_id,
        "cluster_id": cluster_id,
        "text_bytes": size,
    }
