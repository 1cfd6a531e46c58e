"""The canary manifest: the one secret file that names every planted canary.

A run with canaries writes ``DIR/canaries/manifest.jsonl`` (or the path the
user names), file mode 0600, never inside ``data/``. It is what ``demem audit``
reads, and it must never ship with the data: anyone holding it can tell the
canaries from real documents and the audit is void.

JSON Lines, one record per line, each with a ``record`` key:

1. one ``header`` (:func:`header_record`): schema name, generator version,
   seed, config hash, the warning above;
2. one ``corpus`` (:func:`corpus_record`): totals of the corpus *as written*
   (canaries included), so a canary's frequency relative to corpus size
   (Hubble) is known, plus how many canary documents and copies were added;
3. one ``canary`` per canary (:func:`canary_record`), with the keys of
   :data:`CANARY_KEYS`:

   =====================  ==================================================
   ``canary_id``          manifest-only name (``profile-5x-03``); never in data
   ``family``             ``profile`` | ``secret`` | ``trap``
   ``content_type``       biography, social_post, … for profiles;
                          ``secret_sentence``; ``trap_sequence``
   ``format``             template (``clinical_note/2``), secret format
                          (``pin``) or trap length (``50_words``)
   ``text``, ``sha256``   the exact inserted text and its sha256 (UTF-8)
   ``secret``             the slot value; ``text = prefix + secret + suffix``
   ``secret_start/end``   character span of the slot in ``text``
   ``secret_field``       the profile field in the slot, ``secret`` or
                          ``continuation`` (traps: the words after the prefix)
   ``randomness_space``   ``kind``, ``pattern`` or ``vocabulary``/``length``,
                          ``size_log2`` and whether it is ``approximate``
   ``profile``            the synthetic person (profiles), else null
   ``replication_rate``   how many copies were inserted
   ``placement``/``mode`` ``spread``|``block``, ``standalone``|``splice``
   ``copies``             one per copy: ``copy``, ``document_id``,
                          ``char_offset``, ``mode``, ``shard_file``,
                          ``row_index`` (the last two null until
                          :func:`complete_placements` fills them after the
                          shards are written)
   ``references``         held-out ``reference_id`` + ``text`` drawn from the
                          same space and never inserted
   ``generator_version``, ``seed``, ``config_hash``
   =====================  ==================================================

The file is written atomically (a temporary file renamed into place) with
mode 0600 on local disks; on object stores (``gs://``, ``s3://``) the bucket's
access control has to do that job.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Iterable, Mapping

MANIFEST_SCHEMA = "demem.canary_manifest/1"
MANIFEST_MODE = 0o600
WARNING = (
    "SECRET: this manifest names every planted canary. Keep it away from the training data "
    "and from anyone training on it; ship data/ without it."
)

CANARY_KEYS = (
    "record", "canary_id", "family", "content_type", "format", "text", "sha256", "secret", "secret_start",
    "secret_end", "secret_field", "randomness_space", "profile", "replication_rate", "placement", "mode",
    "copies", "references", "generator_version", "seed", "config_hash",
)
COPY_KEYS = ("copy", "document_id", "char_offset", "mode", "shard_file", "row_index")
REFERENCE_KEYS = ("reference_id", "text")
CORPUS_KEYS = ("record", "documents", "bytes", "whitespace_tokens", "canary_documents", "canary_copies",
               "hosts_spliced")
SPACE_KEYS = ("kind", "size_log2", "approximate")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def header_record(generator_version: str, seed: int, config_hash: str, canaries: int) -> dict:
    return {"record": "header", "schema": MANIFEST_SCHEMA, "warning": WARNING,
            "generator_version": generator_version, "seed": seed, "config_hash": config_hash, "canaries": canaries}


def corpus_record(documents: int, text_bytes: int, whitespace_tokens: int, canary_documents: int,
                  canary_copies: int, hosts_spliced: int) -> dict:
    return {"record": "corpus", "documents": documents, "bytes": text_bytes, "whitespace_tokens": whitespace_tokens,
            "canary_documents": canary_documents, "canary_copies": canary_copies, "hosts_spliced": hosts_spliced}


def copy_placement(copy: int, document_id: str, char_offset: int, mode: str) -> dict:
    return {"copy": copy, "document_id": document_id, "char_offset": char_offset, "mode": mode,
            "shard_file": None, "row_index": None}


def canary_record(**fields) -> dict:
    """A manifest canary record; every key of :data:`CANARY_KEYS` but ``record`` must be given."""
    record = {"record": "canary", **fields}
    check_canary_record(record)
    return {key: record[key] for key in CANARY_KEYS}


def check_canary_record(record: Mapping) -> None:
    """Raise ValueError naming the first missing or inconsistent key (never the text)."""
    name = record.get("canary_id", "?")
    for key in CANARY_KEYS:
        if key not in record:
            raise ValueError(f"canary record {name}: missing key {key!r}")
    if record["sha256"] != sha256_text(record["text"]):
        raise ValueError(f"canary record {name}: sha256 does not match the text")
    start, end = record["secret_start"], record["secret_end"]
    if not 0 <= start <= end <= len(record["text"]) or record["text"][start:end] != record["secret"]:
        raise ValueError(f"canary record {name}: the secret span does not match the text")
    for key in SPACE_KEYS:
        if key not in record["randomness_space"]:
            raise ValueError(f"canary record {name}: randomness_space lacks {key!r}")
    if len(record["copies"]) != record["replication_rate"]:
        raise ValueError(f"canary record {name}: {len(record['copies'])} copies for replication rate "
                         f"{record['replication_rate']}")
    for copy in record["copies"]:
        for key in COPY_KEYS:
            if key not in copy:
                raise ValueError(f"canary record {name}: a copy lacks {key!r}")
    for reference in record["references"]:
        for key in REFERENCE_KEYS:
            if key not in reference:
                raise ValueError(f"canary record {name}: a reference lacks {key!r}")


def complete_placements(records: Iterable[dict], locations: Mapping[str, tuple[str, int]]) -> list[dict]:
    """Canary records with every copy's ``shard_file`` and ``row_index`` filled in.

    ``locations`` maps a document id to (shard file relative to the output
    directory, 0-based row index in that file), as found after writing. A
    copy whose document is missing is an error: the canary did not reach the
    output, and the audit would measure something that was never trained on.
    """
    completed = []
    for record in records:
        if record.get("record") != "canary":
            completed.append(record)
            continue
        copies = []
        for copy in record["copies"]:
            if copy["document_id"] not in locations:
                raise ValueError(f"canary {record['canary_id']} copy {copy['copy']}: its document is not in the "
                                 "written shards")
            shard_file, row_index = locations[copy["document_id"]]
            copies.append({**copy, "shard_file": shard_file, "row_index": int(row_index)})
        completed.append({**record, "copies": copies})
    return completed


@dataclass(frozen=True)
class Manifest:
    header: dict
    corpus: dict
    canaries: list[dict]

    def records(self) -> list[dict]:
        return [self.header, self.corpus, *self.canaries]


def _inside(path: str, directory: str) -> bool:
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return os.path.commonpath([path, directory]) == directory


def manifest_lines(records: Iterable[dict]) -> bytes:
    return b"".join(json.dumps(r, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n" for r in records)


def write_manifest(path: str, records: Iterable[dict], forbidden_dir: str | None = None) -> str:
    """Write the records as JSON Lines at ``path``, mode 0600, atomically; returns the path.

    ``forbidden_dir`` is the data directory: a manifest inside it would ship
    with the data, so that is refused.
    """
    payload = manifest_lines(records)
    if "://" in path:
        from apache_beam.io.filesystems import FileSystems  # object stores: access control is the bucket's

        if forbidden_dir and path.startswith(forbidden_dir.rstrip("/") + "/"):
            raise ValueError("the canary manifest must not be written inside the data directory")
        with FileSystems.create(path) as handle:
            handle.write(payload)
        return path
    if forbidden_dir and _inside(path, forbidden_dir):
        raise ValueError("the canary manifest must not be written inside the data directory")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=directory)
    try:
        os.fchmod(fd, MANIFEST_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    os.chmod(path, MANIFEST_MODE)
    return path


def read_manifest(path: str) -> Manifest:
    """Parse a manifest; raises ValueError when it is not one (schema, missing parts)."""
    if "://" in path:
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.open(path) as handle:
            lines = handle.read().decode("utf-8").splitlines()
    else:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    header, corpus, canaries = None, None, []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"{path}: line {number} is not JSON") from None
        kind = record.get("record")
        if kind == "header":
            header = record
        elif kind == "corpus":
            corpus = record
        elif kind == "canary":
            check_canary_record(record)
            canaries.append(record)
        else:
            raise ValueError(f"{path}: line {number} has an unknown record kind {kind!r}")
    if header is None or header.get("schema") != MANIFEST_SCHEMA:
        raise ValueError(f"{path}: not a demem canary manifest (no {MANIFEST_SCHEMA} header)")
    if corpus is None:
        raise ValueError(f"{path}: the corpus totals record is missing")
    return Manifest(header, corpus, canaries)
