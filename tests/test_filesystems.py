"""demem reads and writes only through Beam's FileSystems: a run works on a non-local scheme.

``memfs://`` is a Beam FileSystem kept in this process's memory. If any code
path used ``open()`` or ``os`` on a path, this run would fail.
"""
from __future__ import annotations

import gzip
import io
import json

import pyarrow.parquet as pq
from apache_beam.io.filesystem import BeamIOError, FileMetadata, FileSystem

from pipelines.config import Config
from pipelines.pipeline import run

STORE: dict[str, bytes] = {}


class _Writer(io.BytesIO):
    def __init__(self, path):
        super().__init__()
        self.path = path

    def close(self):
        STORE[self.path] = self.getvalue()
        super().close()


class MemoryFileSystem(FileSystem):
    @classmethod
    def scheme(cls):
        return "memfs"

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path):
        head, _, tail = path.rpartition("/")
        return head, tail

    def mkdirs(self, path):
        pass

    def has_dirs(self):
        return False

    def _list(self, dir_or_prefix):
        for path, data in sorted(STORE.items()):
            if path.startswith(dir_or_prefix):
                yield FileMetadata(path, len(data))

    def create(self, path, mime_type="application/octet-stream", compression_type=None):
        return _Writer(path)

    def open(self, path, mime_type="application/octet-stream", compression_type=None):
        if path not in STORE:
            raise BeamIOError("not found", {path: FileNotFoundError(path)})
        return io.BytesIO(STORE[path])

    def copy(self, source_file_names, destination_file_names):
        for src, dst in zip(source_file_names, destination_file_names):
            STORE[dst] = STORE[src]

    def rename(self, source_file_names, destination_file_names):
        for src, dst in zip(source_file_names, destination_file_names):
            STORE[dst] = STORE.pop(src)

    def exists(self, path):
        return path in STORE or any(p.startswith(path.rstrip("/") + "/") for p in STORE)

    def size(self, path):
        return len(STORE[path])

    def last_updated(self, path):
        return 0.0

    def checksum(self, path):
        return str(hash(STORE[path]))

    def metadata(self, path):
        return FileMetadata(path, len(STORE[path]))

    def delete(self, paths):
        for path in paths:
            for key in [k for k in STORE if k == path or k.startswith(path.rstrip("/") + "/")]:
                del STORE[key]


def test_a_run_on_a_non_local_filesystem_reads_and_writes_through_beam():
    STORE.clear()
    records = [{"id": f"m{i}", "text": f"memory document {i % 4}"} for i in range(10)]
    STORE["memfs://bucket/in/a.jsonl.gz"] = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    STORE["memfs://bucket/in/b.txt"] = b"one plain text document"
    report = run(["memfs://bucket/in/*"], "memfs://bucket/out", Config()).report
    assert report["accounting_ok"]
    assert report["counts"] == {"input": 11, "output": 5, "removed": {"exact_dedup": 6, "near_dedup": 0, "substring": 0},
                                "quarantined": 0, "canary_documents": 0}
    shard = STORE["memfs://bucket/out/data/part-00000-of-00001.parquet"]
    texts = sorted(pq.read_table(io.BytesIO(shard)).column("text").to_pylist())
    assert texts == ["memory document 0", "memory document 1", "memory document 2", "memory document 3",
                     "one plain text document"]
    assert "memfs://bucket/out/report.json" in STORE
    assert not [k for k in STORE if "/.staging/" in k]
