"""End-to-end throughput and peak memory of `demem run` on real text.

Runs, on the same RFC corpus file in the same invocation:

* the anchor: the straightforward single-process script a user would write
  for exact dedup alone (json.loads per line, NFC, hashlib.md5 of the text, a
  dict of seen digests, one pyarrow zstd Parquet file), which validates,
  quarantines, logs, shuffles and shards nothing;
* demem with exact dedup only, and with exact + near dedup (the text stages
  -- substring, traces, PII -- off: they have benchmarks of their own), each
  on FnApiRunner in-process (1 worker) and with 2 workers (multi-processing).

Each demem run is a separate child process, so its peak resident memory
(the largest process of the run: with 2 workers that is the runner, which
holds Beam's shuffle buffers) is measured in isolation. Prints MB/s of input
text, the ratio to the anchor, per-stage busy seconds and peak memory.

    python benchmarks/bench_end_to_end.py [--corpus ~/.cache/demem-bench/rfc-50mb.jsonl] [--only-near]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import unicodedata

import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_CORPUS = os.path.expanduser("~/.cache/demem-bench/rfc-50mb.jsonl")
TWO_WORKERS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
_TEXT_STAGES_OFF = {"substring": {"enabled": False}, "traces": {"enabled": False}, "pii": {"enabled": False}}
CONFIGS = {
    "exact dedup only": {"near_dedup": {"enabled": False}, **_TEXT_STAGES_OFF},
    "exact + near dedup": dict(_TEXT_STAGES_OFF),
}


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


def child(corpus: str, out_dir: str, config_json: str, beam_args: list[str]) -> None:
    """Run demem once in this process and print its report as JSON."""
    from pipelines.config import config_from_mapping
    from pipelines.pipeline import run

    mapping = {"output": {"shard_target_bytes": "64MiB"}, **json.loads(config_json)}
    start = time.perf_counter()
    report = run([corpus], out_dir, config_from_mapping(mapping), beam_args).report
    print(json.dumps({"seconds": time.perf_counter() - start, "report": report}))


def measure(corpus: str, out_dir: str, mapping: dict, beam_args: list[str]) -> tuple[dict, float]:
    """(result, peak RSS in MB of the largest process of the run) of one demem run in a child process."""
    cmd = [sys.executable, __file__, "--child", corpus, out_dir, json.dumps(mapping), *beam_args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"demem run failed ({status}): {' '.join(cmd)}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    parser.add_argument("--only-near", action="store_true", help="skip the exact-dedup-only runs")
    args = parser.parse_args()
    if not os.path.exists(args.corpus):
        raise SystemExit(f"corpus {args.corpus} missing: run ../shared/bench/get_corpus.sh first")
    configs = {k: v for k, v in CONFIGS.items() if not (args.only_near and "only" in k)}
    with tempfile.TemporaryDirectory() as tmp:
        size, anchor_s = anchor(args.corpus, tmp)
        anchor_rate = size / 1e6 / anchor_s
        print(f"corpus: {args.corpus} ({size / 1e6:.1f} MB of text)")
        print(f"{'run':<52} {'seconds':>8} {'MB/s':>7} {'vs anchor':>9} {'peak MB':>8}")
        print(f"{'anchor: json+md5+dict+pyarrow, exact dedup only':<52} {anchor_s:>8.2f} {anchor_rate:>7.2f} "
              f"{1.0:>8.2f}x {'':>8}")
        for label, mapping in configs.items():
            for workers, beam_args in (("1 worker", []), ("2 workers", TWO_WORKERS)):
                out = os.path.join(tmp, f"{len(os.listdir(tmp))}")
                result, peak_mb = measure(args.corpus, out, mapping, beam_args)
                report, seconds = result["report"], result["seconds"]
                rate = report["bytes"]["input_text"] / 1e6 / seconds
                print(f"{'demem ' + label + ', ' + workers:<52} {seconds:>8.2f} {rate:>7.2f} "
                      f"{rate / anchor_rate:>8.2f}x {peak_mb:>8.0f}")
                c = report["counts"]
                print(f"    output {c['output']}, removed {c['removed']}, quarantined {c['quarantined']}; "
                      f"busy s {report['timings']['stage_busy_seconds']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
