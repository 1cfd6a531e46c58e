"""Throughput of the de-identification trace stage alone, one core, on real text.

Runs the trace finder + replacement (``sanitize.traces.scrub_traces``, the
stage's per-document work) over the RFC corpus and prints MB/s, next to the
anchor: the same catalogue run the naive way, one ``re.finditer`` per family
over every document. Target: >= 20 MB/s per core.

    python benchmarks/bench_traces.py [--corpus ~/.cache/demem-bench/rfc-50mb.jsonl]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import time

from sanitize.traces import CATALOGUE, TraceFinder, TracesConfig, scrub_traces

DEFAULT_CORPUS = os.path.expanduser("~/.cache/demem-bench/rfc-50mb.jsonl")


class _Generator:
    """Surrogates are out of scope here: the RFCs carry almost no markers."""

    def surrogate(self, entity_type, original, doc_id, salt=""):
        return "x"

    def hmac_hex(self, entity_type, original, length=16):
        return "0" * length


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    args = parser.parse_args()
    with open(args.corpus, encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh]
    size = sum(len(d["text"].encode()) for d in docs) / 1e6

    finder, config, generator = TraceFinder(), TracesConfig(), _Generator()
    start = time.perf_counter()
    found = 0
    for d in docs:
        _, counts, _, _ = scrub_traces(d["text"], d["id"], config, finder, generator)
        found += sum(counts.values())
    ours = time.perf_counter() - start

    patterns = [re.compile(f.pattern, f.flags) for f in CATALOGUE]
    start = time.perf_counter()
    naive = sum(1 for d in docs for p in patterns for _ in p.finditer(d["text"]))
    anchor = time.perf_counter() - start

    print(f"corpus: {args.corpus} ({size:.1f} MB, {len(docs)} documents)")
    print(f"demem trace stage (find, replace, verify):  {size / ours:8.1f} MB/s   {found} markers")
    print(f"anchor: one finditer per family (find only): {size / anchor:8.1f} MB/s   {naive} raw matches")
    print(f"ratio: {anchor / ours:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
