"""Validation and normalization: raw input records become documents or quarantine rows.

Contract: every raw record handed to :func:`validate_fields` or
:func:`parse_json_line` yields exactly one result, either a document dict
(see ``schemas.document``) or a quarantine row (see ``schemas.quarantine``).
Nothing is dropped. Reasons name the problem and its location, never content.

Rules, in the order they are checked:

1. a JSONL line must be UTF-8 (``invalid_utf8``), JSON (``malformed_json``)
   and an object (``not_an_object``);
2. the text field must exist and be non-null (``missing_text``) and be a
   string (``text_not_string``) whose UTF-8 encoding is valid, which rules out
   lone surrogates from ``\\ud800``-style escapes (``invalid_utf8``);
3. the id field, when present and not null, must be a string or an integer
   (``invalid_id``); an absent or null id becomes ``"<source>#<position>"``;
4. the text is normalized (NFC by default), then must not be empty or
   whitespace-only (``empty_text``) and must fit ``max_text_bytes`` UTF-8
   bytes (``text_too_large``);
5. corpus-wide, an id must be unique: :class:`UniqueIds` keeps
   the first record in corpus order and quarantines the rest (``duplicate_id``).

All other fields are kept, as canonical JSON, in the document's ``metadata``.
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

import apache_beam as beam

from schemas import quarantine as q
from schemas.document import corpus_order


@dataclass(frozen=True)
class ValidationConfig:
    normalization: Literal["NFC", "NFKC", "none"] = field(
        default="NFC", metadata={"help": "Unicode normalization applied before hashing and output"}
    )
    max_text_bytes: int = field(
        default=50 * 2**20, metadata={"unit": "bytes", "min": 1, "help": "larger texts are quarantined"}
    )
    quarantine_raw_bytes: int = field(
        default=4096, metadata={"unit": "bytes", "min": 0, "help": "raw bytes kept per quarantine row"}
    )


class RecordValidator:
    """Turns raw fields into a document, or a quarantine row. Plain Python, no Beam."""

    def __init__(self, id_field: str, text_field: str, config: ValidationConfig):
        self.id_field = id_field
        self.text_field = text_field
        self.config = config

    def _quarantine(self, source: str, position: int, code: str, reason: str, raw: bytes | dict, rid=None) -> dict:
        if isinstance(raw, dict):  # a parsed row without original bytes (Parquet): keep it as JSON
            raw = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8", "replace")
        return q.quarantine_record(source, position, code, reason, raw, self.config.quarantine_raw_bytes, rid)

    def parse_json_line(self, line: bytes, source: str, position: int) -> dict:
        """One JSONL line (without its newline) to a document or quarantine row."""
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError as err:
            return self._quarantine(
                source, position, q.INVALID_UTF8, f"line {position}: invalid UTF-8 at byte {err.start}", line
            )
        try:
            record = json.loads(decoded)
        except json.JSONDecodeError as err:
            return self._quarantine(
                source, position, q.MALFORMED_JSON, f"line {position}: malformed JSON: {err.msg} at column {err.colno}", line
            )
        if not isinstance(record, dict):
            kind = type(record).__name__
            return self._quarantine(
                source, position, q.NOT_AN_OBJECT, f"line {position}: a JSON {kind}, not an object", line
            )
        return self.validate_fields(record, source, position, line)

    def validate_fields(self, record: dict, source: str, position: int, raw: bytes | None = None) -> dict:
        """A parsed record (JSON object or Parquet row) to a document or quarantine row.

        ``raw`` is the record's original bytes for the quarantine row; without
        them the row stores the parsed record as JSON.
        """
        raw = record if raw is None else raw
        where = f"record at {source}:{position}"
        text = record.get(self.text_field)
        if text is None:
            return self._quarantine(source, position, q.MISSING_TEXT, f"{where}: no '{self.text_field}' field", raw)
        if not isinstance(text, str):
            kind = type(text).__name__
            return self._quarantine(
                source, position, q.TEXT_NOT_STRING, f"{where}: '{self.text_field}' is a {kind}, not a string", raw
            )
        raw_id = record.get(self.id_field)
        if raw_id is None:
            doc_id = f"{source}#{position}"
        elif isinstance(raw_id, str) or (isinstance(raw_id, int) and not isinstance(raw_id, bool)):
            doc_id = str(raw_id)
        else:
            kind = type(raw_id).__name__
            return self._quarantine(
                source, position, q.INVALID_ID, f"{where}: '{self.id_field}' is a {kind}, not a string or integer", raw
            )
        if self.config.normalization != "none" and not unicodedata.is_normalized(self.config.normalization, text):
            text = unicodedata.normalize(self.config.normalization, text)
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as err:
            return self._quarantine(
                source, position, q.INVALID_UTF8, f"{where}: text has a lone surrogate at character {err.start}", raw, doc_id
            )
        if not text.strip():
            return self._quarantine(source, position, q.EMPTY_TEXT, f"{where}: text is empty or whitespace only", raw, doc_id)
        if size > self.config.max_text_bytes:
            return self._quarantine(
                source,
                position,
                q.TEXT_TOO_LARGE,
                f"{where}: text is {size} bytes, over the limit of {self.config.max_text_bytes}",
                raw,
                doc_id,
            )
        extra = {k: v for k, v in record.items() if k not in (self.id_field, self.text_field)}
        metadata = json.dumps(extra, sort_keys=True, ensure_ascii=False, default=str) if extra else None
        return {"id": doc_id, "text": text, "source": source, "position": position, "metadata": metadata}


def is_quarantine(result: dict) -> bool:
    """True for a quarantine row, False for a document."""
    return "error_code" in result


def split_duplicate_ids(records: list[dict], raw_limit: int) -> tuple[dict, list[dict]]:
    """Of records (documents or fingerprints) sharing one id: the first in corpus order, and
    a ``duplicate_id`` quarantine row for each of the others."""
    ordered = sorted(records, key=corpus_order)
    first = ordered[0]
    rejected = [
        q.quarantine_record(
            r["source"],
            r["position"],
            q.DUPLICATE_ID,
            f"record at {r['source']}:{r['position']}: id already used by the record at "
            f"{first['source']}:{first['position']}",
            None,
            raw_limit,
            r["id"],
        )
        for r in ordered[1:]
    ]
    return first, rejected


class _FirstPerId(beam.DoFn):
    def __init__(self, raw_limit: int):
        self.raw_limit = raw_limit

    def process(self, keyed):
        doc_id, records = keyed
        records = list(records)
        if len(records) == 1:
            yield records[0]
            return
        first, rejected = split_duplicate_ids(records, self.raw_limit)
        yield first
        for row in rejected:
            yield beam.pvalue.TaggedOutput(DECISIONS, (doc_id, row))


DECISIONS = "decisions"


class UniqueIds(beam.PTransform):
    """Fingerprints in; ``{"fingerprints": one per id, "decisions": (id, quarantine row)}`` out.

    Runs before any duplicate detection, so a record that loses its id is
    never chosen to represent a group of duplicates. One shuffle of
    fingerprints keyed by id; memory: one id's fingerprints on one worker.
    """

    def __init__(self, raw_limit: int):
        super().__init__()
        self.raw_limit = raw_limit

    def expand(self, fingerprints):
        results = (
            fingerprints
            | "KeyById" >> beam.Map(lambda fp: (fp["id"], fp))
            | "GroupById" >> beam.GroupByKey()
            | "FirstPerId" >> beam.ParDo(_FirstPerId(self.raw_limit)).with_outputs(DECISIONS, main="fingerprints")
        )
        return {"fingerprints": results.fingerprints, "decisions": results[DECISIONS]}
