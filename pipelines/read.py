"""Reading: input patterns to documents and quarantine rows.

Formats, chosen by file name (``input.format: auto``) or forced by config:

* JSONL: ``.jsonl``, ``.ndjson``, ``.json``, each optionally ``.gz``,
  ``.zst``/``.zstd``, ``.bz2`` or ``.xz``; one JSON object per line; blank
  lines are not records and are skipped.
* Parquet: ``.parquet``, read one row group at a time.
* Plain text: anything else under ``format: auto`` with a ``.txt`` or
  ``.text`` suffix (optionally compressed); the whole file is one document.

Every path goes through Beam's ``FileSystems`` (local, ``gs://``, ``s3://`` …,
whatever filesystems the installed Beam extras provide), never ``open()``.
Decompression is done here rather than by Beam so that a truncated stream is
detected (the decompressor never reached end-of-stream) and quarantined as
``truncated_file`` after the records before it were emitted.

Each file is read by one worker from start to end; a worker holds one line
(JSONL), one row group (Parquet) or one file (text) in memory at a time.
"""
from __future__ import annotations

import bz2
import logging
import lzma
import time
import zlib
from dataclasses import dataclass, field
from typing import Iterator, Literal

import apache_beam as beam
import pyarrow.parquet as pq
import zstandard
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.validate import RecordValidator, ValidationConfig, is_quarantine
from schemas import quarantine as q

LOG = logging.getLogger(__name__)

_CHUNK = 1 << 20  # 1 MiB reads: large enough to amortize filesystem calls, small next to a worker's memory
_PROGRESS_SECONDS = 30.0

_DECOMPRESSORS = {
    ".gz": lambda: zlib.decompressobj(wbits=47),  # 32 + 15: gzip or zlib header, auto-detected
    ".zst": lambda: zstandard.ZstdDecompressor().decompressobj(),
    ".zstd": lambda: zstandard.ZstdDecompressor().decompressobj(),
    ".bz2": bz2.BZ2Decompressor,
    ".xz": lzma.LZMADecompressor,
}
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
_TEXT_SUFFIXES = (".txt", ".text")


@dataclass(frozen=True)
class InputConfig:
    format: Literal["auto", "jsonl", "parquet", "text"] = field(
        default="auto", metadata={"help": "input format; auto decides per file by its suffix"}
    )
    id_field: str = field(default="id", metadata={"nonempty": True, "help": "field holding the document id"})
    text_field: str = field(default="text", metadata={"nonempty": True, "help": "field holding the document text"})


class TruncatedStream(Exception):
    """A compressed stream ended before its end-of-stream marker."""


# What a damaged compressed stream raises part-way through a file.
_STREAM_ERRORS = (TruncatedStream, zlib.error, zstandard.ZstdError, lzma.LZMAError, OSError, EOFError)


def _compression_suffix(path: str) -> str | None:
    lower = path.lower()
    return next((s for s in _DECOMPRESSORS if lower.endswith(s)), None)


def detect_format(path: str, configured: str) -> str | None:
    """The format to read ``path`` as, or None when ``auto`` cannot tell."""
    if configured != "auto":
        return configured
    lower = path.lower()
    suffix = _compression_suffix(lower)
    if suffix:
        lower = lower[: -len(suffix)]
    if lower.endswith(_JSONL_SUFFIXES):
        return "jsonl"
    if lower.endswith(".parquet") and not suffix:
        return "parquet"
    if lower.endswith(_TEXT_SUFFIXES):
        return "text"
    return None


def _decompressed_chunks(raw, suffix: str | None) -> Iterator[bytes]:
    """The decompressed bytes of ``raw`` in chunks; raises TruncatedStream at a cut-off end.

    Concatenated members (multi-member gzip, several zstd frames) are read
    through, as ``gzip`` and ``zstd`` command-line tools do.
    """
    if suffix is None:
        while chunk := raw.read(_CHUNK):
            yield chunk
        return
    decompressor = _DECOMPRESSORS[suffix]()
    started = False
    while chunk := raw.read(_CHUNK):
        started = True
        while chunk:
            out = decompressor.decompress(chunk)
            if out:
                yield out
            if decompressor.eof:
                chunk = decompressor.unused_data
                decompressor = _DECOMPRESSORS[suffix]() if chunk else decompressor
            else:
                chunk = b""
    if started and not decompressor.eof:
        raise TruncatedStream("the compressed stream ends before its end-of-stream marker")


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Split a byte stream on b"\\n"; a final line without newline is still a line."""
    pending = b""
    for chunk in chunks:
        pieces = (pending + chunk).split(b"\n")
        pending = pieces.pop()
        yield from pieces
    if pending:
        yield pending


class _Progress:
    """Logs how far a long file has been read, at most every 30 s (counts only, no content)."""

    def __init__(self, path: str):
        self.path, self.records, self.bytes = path, 0, 0
        self.next_report = time.monotonic() + _PROGRESS_SECONDS

    def tick(self, size: int) -> None:
        self.records += 1
        self.bytes += size
        if time.monotonic() >= self.next_report:
            LOG.info("reading %s: %d records, %.1f MB so far", self.path, self.records, self.bytes / 1e6)
            self.next_report = time.monotonic() + _PROGRESS_SECONDS


class ReadFile(beam.DoFn):
    """A matched file path to documents (main output) and quarantine rows (tag ``quarantine``)."""

    QUARANTINE = "quarantine"

    def __init__(self, input_config: InputConfig, validation: ValidationConfig):
        self.input_config = input_config
        self.validation = validation

    def setup(self):
        self.validator = RecordValidator(self.input_config.id_field, self.input_config.text_field, self.validation)
        self.records_read = beam.metrics.Metrics.counter("demem", "records_read")

    def process(self, path: str):
        fmt = detect_format(path, self.input_config.format)
        if fmt is None:
            results = [self._file_problem(path, 0, q.UNSUPPORTED_FORMAT, "cannot tell the format from the file name; "
                                          "set input.format to jsonl, parquet or text")]
        else:
            results = {"jsonl": self._read_jsonl, "parquet": self._read_parquet, "text": self._read_text}[fmt](path)
        for result in results:
            self.records_read.inc()
            if is_quarantine(result):
                yield beam.pvalue.TaggedOutput(self.QUARANTINE, result)
            else:
                yield result

    def _file_problem(self, path: str, position: int, code: str, reason: str) -> dict:
        return q.quarantine_record(path, position, code, f"{path}: {reason}", None, 0)

    def _open(self, path: str):
        return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)

    def _read_jsonl(self, path: str, wanted=None) -> Iterator[dict]:
        try:
            raw = self._open(path)
        except OSError as err:
            yield self._file_problem(path, 0, q.UNREADABLE_FILE, f"cannot be opened ({type(err).__name__})")
            return
        progress = _Progress(path)
        line_number = 0
        with raw:
            try:
                for line_number, line in enumerate(_lines(_decompressed_chunks(raw, _compression_suffix(path))), 1):
                    if wanted is not None and (path, line_number) not in wanted:
                        continue
                    if line.strip():
                        progress.tick(len(line))
                        yield self.validator.parse_json_line(line.rstrip(b"\r"), path, line_number)
            except _STREAM_ERRORS as err:
                position = line_number + 1
                yield self._file_problem(
                    path, position, q.TRUNCATED_FILE,
                    f"unreadable from line {position} on ({type(err).__name__}); the lines before it were read",
                )

    def _read_text(self, path: str) -> Iterator[dict]:
        try:
            with self._open(path) as raw:
                data = b"".join(_decompressed_chunks(raw, _compression_suffix(path)))
        except (OSError, *_STREAM_ERRORS) as err:
            yield self._file_problem(path, 0, q.UNREADABLE_FILE, f"cannot be read ({type(err).__name__})")
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            yield q.quarantine_record(path, 0, q.INVALID_UTF8, f"{path}: invalid UTF-8 at byte {err.start}", data,
                                      self.validation.quarantine_raw_bytes)
            return
        yield self.validator.validate_fields({self.input_config.text_field: text}, path, 0, data)

    def _read_parquet(self, path: str) -> Iterator[dict]:
        try:
            handle = self._open(path)
            parquet = pq.ParquetFile(handle)
        except Exception as err:  # pyarrow raises several types for a bad footer
            yield self._file_problem(path, 0, q.UNREADABLE_FILE, f"not a readable Parquet file ({type(err).__name__})")
            return
        with handle:
            first_row = 0
            for group in range(parquet.num_row_groups):
                rows = parquet.metadata.row_group(group).num_rows
                try:
                    records = parquet.read_row_group(group).to_pylist()
                except Exception as err:  # ArrowInvalid, OSError (checksum, decompression) …
                    yield q.quarantine_record(
                        path, first_row, q.UNREADABLE_ROW_GROUP,
                        f"{path}: row group {group} (rows {first_row}..{first_row + rows - 1}) cannot be decoded "
                        f"({type(err).__name__})", None, 0)
                else:
                    for offset, record in enumerate(records):
                        yield self.validator.validate_fields(record, path, first_row + offset)
                first_row += rows


class RereadFile(ReadFile):
    """A matched path to the documents at ``only``'s (source, position) pairs, parsing nothing else.

    For stages that need the text of a few documents after corpus-wide
    decisions (near dedup's exact check): reading them again from storage
    is cheaper than holding every document until the decision is known.
    Quarantine rows are not repeated; counters are not incremented.
    """

    def process(self, path: str, only):
        if not any(source == path for source, _ in only):
            return
        fmt = detect_format(path, self.input_config.format)
        if fmt == "jsonl":
            results = self._read_jsonl(path, wanted=only)
        else:
            results = {"parquet": self._read_parquet, "text": self._read_text}[fmt](path)
        for result in results:
            if not is_quarantine(result) and (result["source"], result["position"]) in only:
                yield result


def expand_patterns(patterns: list[str]) -> list[str]:
    """All file paths matched by ``patterns``, sorted and unique.

    Raises ``FileNotFoundError`` naming the first pattern that matches nothing.
    """
    paths = set()
    for pattern in patterns:
        matched = FileSystems.match([pattern])[0].metadata_list
        files = [m.path for m in matched if m.size_in_bytes >= 0]
        if not files:
            raise FileNotFoundError(f"input pattern {pattern} matched no files")
        paths.update(files)
    return sorted(paths)


class ReadCorpus(beam.PTransform):
    """Input patterns to ``{"docs": documents, "quarantine": rows}``.

    Files are matched inside the pipeline (``fileio.MatchAll``), de-duplicated
    and spread over workers, so a run over many files scales out.
    """

    def __init__(self, patterns: list[str], input_config: InputConfig, validation: ValidationConfig):
        super().__init__()
        self.patterns = list(patterns)
        self.input_config = input_config
        self.validation = validation

    def paths(self, pbegin):
        return (
            pbegin
            | "Patterns" >> beam.Create(self.patterns)
            | "Match" >> fileio.MatchAll()
            | "Paths" >> beam.Map(lambda metadata: metadata.path)
            | "UniquePaths" >> beam.Distinct()
        )

    def expand(self, pbegin):
        results = self.paths(pbegin) | "Read" >> beam.ParDo(ReadFile(self.input_config, self.validation)).with_outputs(
            ReadFile.QUARANTINE, main="docs"
        )
        return {"docs": results.docs, "quarantine": results[ReadFile.QUARANTINE]}


class RereadCorpus(ReadCorpus):
    """The documents at the (source, position) pairs in ``only``, a one-element PCollection of a set."""

    def __init__(self, patterns: list[str], input_config: InputConfig, validation: ValidationConfig, only):
        super().__init__(patterns, input_config, validation)
        self.only = only

    def expand(self, pbegin):
        reread = RereadFile(self.input_config, self.validation)
        return self.paths(pbegin) | "Reread" >> beam.ParDo(reread, only=beam.pvalue.AsSingleton(self.only))
