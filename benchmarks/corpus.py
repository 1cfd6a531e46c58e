"""The benchmark corpus: where ``../shared/bench/get_corpus.sh`` puts it, and reading a prefix of it.

Benchmarks run as scripts (``python benchmarks/bench_x.py``), so they import
this module as ``corpus`` from their own directory.
"""
from __future__ import annotations

import json
import os

CACHE = os.path.expanduser("~/.cache/demem-bench")
DEFAULT_CORPUS = os.path.join(CACHE, "rfc-50mb.jsonl")


def read_prefix(path: str, megabytes: float) -> tuple[list[dict], int]:
    """The first records of a JSONL corpus until their texts reach ``megabytes`` (UTF-8), and that size.

    Each record gets ``source`` (the path) and ``position`` (1-based line),
    as demem's reader gives them.
    """
    records, size = [], 0
    with open(path, "rb") as fh:
        for position, line in enumerate(fh, 1):
            record = json.loads(line)
            records.append({**record, "source": path, "position": position})
            size += len(record["text"].encode("utf-8"))
            if size >= megabytes * 1e6:
                break
    return records, size


def read_texts(path: str, megabytes: float) -> tuple[list[str], int]:
    """The texts of :func:`read_prefix`."""
    records, size = read_prefix(path, megabytes)
    return [r["text"] for r in records], size
