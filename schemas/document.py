"""The document record that flows between stages, and its output schema.

Inside the pipeline a document is a plain ``dict`` (Beam's fast primitive
coder encodes dicts of primitives without pickle):

====================  =======  ==================================================
key                   type     meaning
====================  =======  ==================================================
``id``                str      unique within the input (duplicates are quarantined)
``text``              str      NFC-normalized (configurable) text, never empty
``source``            str      the input file's path or URI
``position``          int      1-based line for JSONL, 0-based row for Parquet,
                               0 for a plain-text file (one document per file)
``metadata``          str      every other input field as canonical JSON, or None
====================  =======  ==================================================

Stages add keys of their own: ``substring_bytes_cut`` (int),
``trace_counts`` and ``pii_counts`` (dicts name -> count), ``sensitive``
(spans of the sensitive values in the text, ``sanitize.sensitive``) and
``order_key`` (a place in training order, ``pipelines.order``). The writer keeps
only the columns of :data:`OUTPUT_SCHEMA` (:func:`output_row`), with counts
as lists of ``{name, count}`` structs, which pyarrow, polars and Hugging Face
datasets all read. ``source`` and ``position`` stay out of the output on
purpose: provenance lives in removed/ and quarantine/, and an output row must
not reveal how it got there (canaries rely on that). Users who want the source
in their training data carry it as an input field; it lands in ``metadata``.
"""
from __future__ import annotations

import pyarrow as pa

ID = "id"
TEXT = "text"
SOURCE = "source"
POSITION = "position"
METADATA = "metadata"

COUNTS = pa.list_(pa.struct([pa.field("name", pa.string()), pa.field("count", pa.int64())]))

OUTPUT_SCHEMA = pa.schema(
    [
        pa.field(ID, pa.string(), nullable=False),
        pa.field(TEXT, pa.string(), nullable=False),
        pa.field(METADATA, pa.string(), nullable=True),
        pa.field("substring_bytes_cut", pa.int64(), nullable=False),
        pa.field("trace_counts", COUNTS, nullable=False),
        pa.field("pii_counts", COUNTS, nullable=False),
    ]
)


def _counts(counts: dict | None) -> list[dict]:
    return [{"name": name, "count": n} for name, n in sorted((counts or {}).items())]


def output_row(doc: dict) -> dict:
    """The output columns of a document; stages that did not run leave zeros and empty lists."""
    return {
        ID: doc[ID],
        TEXT: doc[TEXT],
        METADATA: doc[METADATA],
        "substring_bytes_cut": doc.get("substring_bytes_cut", 0),
        "trace_counts": _counts(doc.get("trace_counts")),
        "pii_counts": _counts(doc.get("pii_counts")),
    }


def corpus_order(doc: dict) -> tuple[str, int]:
    """The corpus order: by source path, then position inside the file.

    Every "first occurrence wins" rule in demem (which exact duplicate is kept,
    which record keeps a duplicated id) means first in this order. It depends
    only on the input, never on arrival order or the number of workers.
    """
    return doc[SOURCE], doc[POSITION]
