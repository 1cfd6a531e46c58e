"""Quarantined input: every record demem could not accept, and why.

A quarantined record is one input unit that never became a document. Each is
one row of ``DIR/quarantine/*.parquet``. ``raw`` holds the record's original
bytes truncated to ``validation.quarantine_raw_bytes``: it is input data, kept
for the user to inspect, and is never logged. ``reason`` names the problem and
where it is, never the record's content.

An unreadable stretch whose records cannot be told apart (the rest of a
truncated compressed file, an undecodable Parquet row group, a file that
cannot be opened) is one input unit and one quarantine row.
"""
from __future__ import annotations

import pyarrow as pa

MALFORMED_JSON = "malformed_json"
NOT_AN_OBJECT = "not_an_object"
INVALID_UTF8 = "invalid_utf8"
MISSING_TEXT = "missing_text"
TEXT_NOT_STRING = "text_not_string"
INVALID_ID = "invalid_id"
EMPTY_TEXT = "empty_text"
TEXT_TOO_LARGE = "text_too_large"
DUPLICATE_ID = "duplicate_id"
UNREADABLE_ROW_GROUP = "unreadable_row_group"
TRUNCATED_FILE = "truncated_file"
UNREADABLE_FILE = "unreadable_file"
UNSUPPORTED_FORMAT = "unsupported_format"

ERROR_CODES = (
    MALFORMED_JSON,
    NOT_AN_OBJECT,
    INVALID_UTF8,
    MISSING_TEXT,
    TEXT_NOT_STRING,
    INVALID_ID,
    EMPTY_TEXT,
    TEXT_TOO_LARGE,
    DUPLICATE_ID,
    UNREADABLE_ROW_GROUP,
    TRUNCATED_FILE,
    UNREADABLE_FILE,
    UNSUPPORTED_FORMAT,
)

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("position", pa.int64(), nullable=False),
        pa.field("error_code", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.binary(), nullable=True),
        pa.field("raw_bytes", pa.int64(), nullable=False),
        pa.field("id", pa.string(), nullable=True),
    ]
)


def quarantine_record(
    source: str, position: int, code: str, reason: str, raw: bytes | None, raw_limit: int, record_id: str | None = None
) -> dict:
    """One quarantine row; ``raw`` is truncated to ``raw_limit`` bytes, its full size kept."""
    if code not in ERROR_CODES:
        raise ValueError(f"unknown quarantine error code {code!r}")
    return {
        "source": source,
        "position": position,
        "error_code": code,
        "reason": reason,
        "raw": None if raw is None else bytes(raw[:raw_limit]),
        "raw_bytes": 0 if raw is None else len(raw),
        "id": record_id,
    }
