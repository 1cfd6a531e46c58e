"""Writing: rows to deterministic, atomically published Parquet shards.

Layout: ``DIR/<name>/part-NNNNN-of-MMMMM.parquet`` for ``data``, ``removed``
and ``quarantine``, zstd-compressed by default, the Arrow schema from
``schemas/`` embedded with key-value metadata ``demem.version``,
``demem.config_hash`` and ``demem.kind``.

Determinism: the bytes of every shard depend only on the rows and the
config, never on workers or arrival order. Each row has a 64-bit
*placement hash* and a *sort key*; with ``M = ceil(total_bytes /
shard_target_bytes)`` shards, a row goes to shard ``(hash * M) >> 64`` and
rows are sorted by sort key inside their shard. For documents the hash is a
seeded MurmurHash3 of the id, so the shards are a seeded shuffle of the
corpus: training order never follows source order, and since the hash is
uniform the shards come out about equally large.

Atomicity: shards are written under ``DIR/.staging/`` and renamed into place
only once every shard of the collection is complete, so a crashed run never
leaves a shard that looks complete; ``report.json``, written last, marks a
finished run.

Memory: the worker writing a shard holds all its rows plus the encoded
Parquet file, about 3 × ``shard_target_bytes`` at peak.
"""
from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass, field
from typing import Callable, Literal

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from dedup.hashing import murmur3_128
from pipelines.report import CountAndBytes

LOG = logging.getLogger(__name__)
STAGING = ".staging"


@dataclass(frozen=True)
class OutputConfig:
    shard_target_bytes: int = field(
        default=256 * 2**20, metadata={"unit": "bytes", "min": 1, "help": "aimed-for text bytes per shard"}
    )
    row_group_bytes: int = field(
        default=64 * 2**20, metadata={"unit": "bytes", "min": 1, "help": "text bytes per Parquet row group"}
    )
    compression: Literal["zstd", "snappy", "gzip", "none"] = field(
        default="zstd", metadata={"help": "Parquet compression codec"}
    )
    compression_level: int = field(default=3, metadata={"min": 1, "max": 22, "help": "zstd/gzip level"})


def placement_hash(key: str, seed: int) -> int:
    """A uniform 64-bit hash of ``key`` under ``seed``: where a row lands."""
    return murmur3_128(key.encode("utf-8"), seed)[0]


def shard_count(total_bytes: int, rows: int, target: int) -> int:
    """Number of shards for ``total_bytes`` at ``target`` bytes each (at least 1, at most ``rows``).

    A shard that receives no row is still written, empty, so that all M
    files named ``-of-M`` exist.
    """
    return max(1, min(rows, math.ceil(total_bytes / target)))


def shard_of(hash64: int, shards: int) -> int:
    """Range-partition the 64-bit hash space into ``shards`` equal parts."""
    return (hash64 * shards) >> 64


def shard_name(index: int, shards: int) -> str:
    return f"part-{index:05d}-of-{shards:05d}.parquet"


def encode_parquet(rows: list[dict], schema: pa.Schema, size: Callable[[dict], int], config: OutputConfig,
                   to_row: Callable[[dict], dict] = lambda row: row) -> bytes:
    """``rows`` (already in order) as one Parquet file, a row group per ``row_group_bytes``.

    ``to_row`` maps a row to the schema's columns (documents carry more keys).
    """
    rows = [to_row(row) for row in rows]
    sink = pa.BufferOutputStream()
    compression = None if config.compression == "none" else config.compression
    level = config.compression_level if compression in ("zstd", "gzip") else None
    with pq.ParquetWriter(sink, schema, compression=compression or "none", compression_level=level) as writer:
        start, budget = 0, 0
        for i, row in enumerate(rows):
            budget += size(row)
            if budget >= config.row_group_bytes:
                writer.write_table(pa.Table.from_pylist(rows[start : i + 1], schema=schema), row_group_size=i + 1 - start)
                start, budget = i + 1, 0
        if start < len(rows) or not rows:
            writer.write_table(pa.Table.from_pylist(rows[start:], schema=schema), row_group_size=max(1, len(rows) - start))
    return sink.getvalue().to_pybytes()


def _write_bytes(path: str, payload: bytes) -> None:
    with FileSystems.create(path) as handle:
        handle.write(payload)


def _ensure_dir(path: str) -> None:
    if not FileSystems.exists(path):
        try:
            FileSystems.mkdirs(path)
        except OSError:  # created meanwhile by another worker
            pass


@dataclass(frozen=True)
class ShardLayout:
    """What one written collection looks like: where it goes and how rows are placed."""

    output_dir: str
    name: str
    schema: pa.Schema
    placement: Callable[[dict], int]
    sort_key: Callable[[dict], object]
    size: Callable[[dict], int]
    config: OutputConfig
    to_row: Callable[[dict], dict] = lambda row: row

    def staging_path(self, file_name: str) -> str:
        return FileSystems.join(self.output_dir, STAGING, self.name, file_name)

    def final_path(self, file_name: str) -> str:
        return FileSystems.join(self.output_dir, self.name, file_name)


class _WriteShard(beam.DoFn):
    def __init__(self, layout: ShardLayout):
        self.layout = layout

    def process(self, keyed, shards):
        index, rows = keyed
        rows = sorted(rows, key=self.layout.sort_key)
        name = shard_name(index, shards)
        payload = encode_parquet(rows, self.layout.schema, self.layout.size, self.layout.config, self.layout.to_row)
        _ensure_dir(FileSystems.join(self.layout.output_dir, STAGING, self.layout.name))
        _write_bytes(self.layout.staging_path(name), payload)
        LOG.info("wrote %s/%s: %d rows, %.1f MB", self.layout.name, name, len(rows), len(payload) / 1e6)
        yield {"file": f"{self.layout.name}/{name}", "rows": len(rows), "bytes": len(payload)}


class _Publish(beam.DoFn):
    """Rename every staged shard into place at once, after writing any shard that got no rows."""

    def __init__(self, layout: ShardLayout):
        self.layout = layout

    def process(self, written: list[dict], shards: int):
        layout = self.layout
        _ensure_dir(FileSystems.join(layout.output_dir, STAGING, layout.name))
        _ensure_dir(FileSystems.join(layout.output_dir, layout.name))
        present = {entry["file"] for entry in written}
        written = list(written)
        for index in range(shards):
            name = shard_name(index, shards)
            if f"{layout.name}/{name}" not in present:
                payload = encode_parquet([], layout.schema, layout.size, layout.config)
                _write_bytes(layout.staging_path(name), payload)
                written.append({"file": f"{layout.name}/{name}", "rows": 0, "bytes": len(payload)})
        names = [entry["file"].split("/", 1)[1] for entry in written]
        FileSystems.rename([layout.staging_path(n) for n in names], [layout.final_path(n) for n in names])
        yield sorted(written, key=lambda entry: entry["file"])


class WriteShards(beam.PTransform):
    """Rows in; one element out: the sorted list of ``{"file", "rows", "bytes"}`` written.

    The shard count comes from ``size_basis``, a one-element PCollection of
    ``{"rows", "bytes"}``, when given, else from the rows themselves. Sizing
    from the rows makes the runner hold the whole collection until its total
    is known (one extra pass over it); the pipeline therefore sizes ``data/``
    from the validated input, so shards come out smaller than
    ``shard_target_bytes`` by the fraction of bytes the stages remove.
    """

    def __init__(self, layout: ShardLayout, size_basis=None):
        super().__init__()
        self.layout = layout
        self.size_basis = size_basis

    def expand(self, rows):
        layout = self.layout
        basis = self.size_basis
        if basis is None:
            basis = rows | "Total" >> beam.CombineGlobally(CountAndBytes(layout.size))
        shards = basis | "ShardCount" >> beam.Map(
            lambda total: shard_count(total["bytes"], total["rows"], layout.config.shard_target_bytes)
        )
        written = (
            rows
            | "Place" >> beam.Map(
                lambda row, m: (shard_of(layout.placement(row), m), row), m=beam.pvalue.AsSingleton(shards)
            )
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShard(layout), shards=beam.pvalue.AsSingleton(shards))
        )
        return (
            written
            | "AllShards" >> beam.combiners.ToList()
            | "Publish" >> beam.ParDo(_Publish(layout), shards=beam.pvalue.AsSingleton(shards))
        )
