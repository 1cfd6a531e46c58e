"""End-to-end throughput of `demem run` with exact dedup on real text.

Runs, on the same RFC corpus file in the same process:

* demem on FnApiRunner in-process (1 worker) and with 2 workers
  (multi-processing), through the real CLI entry point;
* the anchor: the straightforward single-process script a user would write
  instead (json.loads per line, NFC, hashlib.md5 of the text, a dict of seen
  digests, one pyarrow zstd Parquet file), which validates, quarantines,
  logs, shuffles and shards nothing.

Prints MB/s of input text for each and demem's ratio to the anchor.

    python benchmarks/bench_end_to_end.py [--corpus ~/.cache/demem-bench/rfc-50mb.jsonl]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
import unicodedata

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.config import config_from_mapping
from pipelines.pipeline import run

DEFAULT_CORPUS = os.path.expanduser("~/.cache/demem-bench/rfc-50mb.jsonl")


def anchor(path: str, out_dir: str) -> tuple[int, float]:
    start = time.perf_counter()
    seen, ids, texts, size = set(), [], [], 0
    with open(path, "rb") as fh:
        for line in fh:
            record = json.loads(line)
            text = unicodedata.normalize("NFC", record["text"])
            size += len(text.encode())
            digest = hashlib.md5(text.encode()).digest()
            if digest not in seen:
                seen.add(digest)
                ids.append(record["id"])
                texts.append(text)
    pq.write_table(pa.table({"id": ids, "text": texts}), os.path.join(out_dir, "anchor.parquet"), compression="zstd")
    return size, time.perf_counter() - start


def demem(path: str, out_dir: str, beam_args: list[str]) -> tuple[int, float, dict]:
    config = config_from_mapping({"output": {"shard_target_bytes": "16MiB"}})
    start = time.perf_counter()
    report = run([path], out_dir, config, beam_args).report
    return report["bytes"]["input_text"], time.perf_counter() - start, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    args = parser.parse_args()
    if not os.path.exists(args.corpus):
        raise SystemExit(f"corpus {args.corpus} missing: run ../shared/bench/get_corpus.sh first")
    with tempfile.TemporaryDirectory() as tmp:
        size, anchor_s = anchor(args.corpus, tmp)
        rows = [("anchor: json+md5+dict+pyarrow, 1 process", size, anchor_s, None)]
        for label, beam_args in [
            ("demem run, FnApiRunner 1 worker", []),
            ("demem run, FnApiRunner 2 workers", ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]),
        ]:
            out = os.path.join(tmp, label.split()[-2])
            size_d, seconds, report = demem(args.corpus, out, beam_args)
            assert report["accounting_ok"]
            rows.append((label, size_d, seconds, report))
    print(f"corpus: {args.corpus} ({size / 1e6:.1f} MB of text)")
    print(f"{'run':<44} {'seconds':>8} {'MB/s':>8} {'vs anchor':>10}")
    anchor_rate = size / 1e6 / anchor_s
    for label, nbytes, seconds, report in rows:
        rate = nbytes / 1e6 / seconds
        print(f"{label:<44} {seconds:>8.2f} {rate:>8.2f} {rate / anchor_rate:>9.2f}x")
        if report:
            c = report["counts"]
            print(f"    input {c['input']}, output {c['output']}, removed {c['removed']}, quarantined {c['quarantined']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
