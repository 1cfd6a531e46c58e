"""The exact-substring stage end to end on real text: throughput, peak memory, the boilerplate check.

Runs ``dedup.substring.SubstringDedup`` on the RFC corpus (JSONL with
"id" and "text") on FnApiRunner with 2 workers (multi-processing), with
``max_partition_bytes`` set so that the corpus splits into ``--partitions``
(default 4) suffix-array partitions, once per removal policy. Each run is a
child process: its peak resident memory comes from ``os.wait4`` (the largest
process of the run, its workers included once they are reaped), and the
summed RSS of its process tree is sampled every 0.2 s.

Also measured, in the same invocation: a read-only run of the same pipeline
(so the stage's own share can be told apart from JSON parsing) and the
winnowing kernel alone.

Acceptance fact checked and printed: the most widespread two-line IETF
boilerplate passage of at least ``min_length`` bytes (found by counting the
documents that contain each pair of consecutive lines) survives in exactly
one output document under ``keep_first`` (the first in corpus order that
holds it) and in none under ``remove_all``.

    python benchmarks/bench_substring_stage.py [--corpus ~/.cache/demem-bench/rfc-50mb.jsonl]
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time

DEFAULT_CORPUS = os.path.expanduser("~/.cache/demem-bench/rfc.jsonl")
def two_workers(mode: str) -> list[str]:
    return ["--direct_num_workers=2", f"--direct_running_mode={mode}"]
SPLITS = 16  # byte ranges of the corpus file, read in parallel


# --- the child: one pipeline run --------------------------------------------------------------


def read_split(split):
    """(path, start, end, first line number) -> documents, one per JSONL line in [start, end)."""
    path, start, end, line_no = split
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    for i, line in enumerate(data.split(b"\n")):
        if line.strip():
            record = json.loads(line)
            yield {"id": str(record["id"]), "text": record["text"], "source": path,
                   "position": line_no + i + 1, "metadata": None}


def child(spec_json: str) -> None:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from dedup.substring import SubstringConfig, SubstringDedup

    spec = json.loads(spec_json)
    needle = spec["needle"]
    result_path = spec["result"]

    def summarize(stats, docs_out, removed, holders):
        with open(result_path, "w") as fh:
            json.dump({"stats": stats, "docs_out": docs_out, "removed": removed, "holders": sorted(holders)}, fh)

    start = time.perf_counter()
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(spec["beam_args"])) as p:
        docs = p | "Splits" >> beam.Create(spec["splits"]) | "Read" >> beam.FlatMap(read_split)
        if spec["read_only"]:
            count = docs | "CountDocs" >> beam.combiners.Count.Globally()
            _ = count | beam.Map(lambda n: summarize({}, n, 0, []))
        else:
            config = SubstringConfig(policy=spec["policy"], max_partition_bytes=spec["max_partition_bytes"])
            out = docs | "Substring" >> SubstringDedup(config, seed=0)
            docs_out = out["docs"] | "CountOut" >> beam.combiners.Count.Globally()
            removed = out["removed"] | "CountRemoved" >> beam.combiners.Count.Globally()
            holders = (
                out["docs"]
                | "HoldsNeedle" >> beam.Filter(lambda doc: needle in doc["text"])
                | "HolderKey" >> beam.Map(lambda doc: [doc["position"], doc["id"]])
                | "Holders" >> beam.combiners.ToList()
            )
            _ = out["stats"] | "Summarize" >> beam.Map(
                summarize, beam.pvalue.AsSingleton(docs_out), beam.pvalue.AsSingleton(removed),
                beam.pvalue.AsSingleton(holders))
    print(json.dumps({"seconds": time.perf_counter() - start}))


# --- the parent -------------------------------------------------------------------------------


def tree_rss_mb(pid: int) -> float:
    """Summed RSS of ``pid`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            children[int(fields[1])].append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total / 2**20


def measure(spec: dict) -> tuple[dict, float, float, dict]:
    """(child's JSON, ru_maxrss MB, peak sampled tree RSS MB, result file) of one run."""
    cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = [0.0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    if status != 0:
        raise SystemExit(f"run failed ({status}): {spec.get('policy', 'read only')}")
    with open(spec["result"]) as fh:
        result = json.load(fh)
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024, peak[0], result


def scan(path: str, min_length: int):
    """(splits, total text bytes, documents, passage, documents holding it, the first holder).

    The passage is the pair of consecutive lines, at least ``min_length``
    bytes, found in the most documents; it is compared without its leading
    indentation, which belongs to the previous line's context (and is cut
    in the first holder too where that context occurred earlier)."""
    pairs: collections.Counter = collections.Counter()
    total = docs = 0
    offsets, line_no, pos = [], 0, 0
    with open(path, "rb") as fh:
        for raw in fh:
            offsets.append(pos)
            pos += len(raw)
            line_no += 1
            if not raw.strip():
                continue
            text = json.loads(raw)["text"]
            docs += 1
            total += len(text.encode("utf-8"))
            lines = text.split("\n")
            pairs.update({a + "\n" + b for a, b in zip(lines, lines[1:]) if len((a + "\n" + b).encode()) >= min_length})
    step = max(1, math.ceil(len(offsets) / SPLITS))
    splits = [[path, offsets[i], offsets[i + step] if i + step < len(offsets) else pos, i]
              for i in range(0, len(offsets), step)]
    needle, holders = pairs.most_common(1)[0]
    needle = needle.strip()
    first = None
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            if raw.strip() and needle in json.loads(raw)["text"]:
                first = [line_no, str(json.loads(raw)["id"])]
                break
    return splits, total, docs, needle, holders, first


def winnow_speed(path: str, limit: int = 50_000_000) -> tuple[float, float]:
    """(wall, CPU-time) MB/s of the winnowing kernel alone (one thread) on the first ``limit``
    bytes of text; on a shared machine the CPU-time figure is the steadier one."""
    from dedup.substring import SubstringConfig, winnow, winnow_params

    texts, size = [], 0
    with open(path, "rb") as fh:
        for raw in fh:
            if raw.strip():
                texts.append(json.loads(raw)["text"].encode("utf-8"))
                size += len(texts[-1])
                if size >= limit:
                    break
    params = winnow_params(SubstringConfig())
    wall = cpu = math.inf
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        winnow(texts, params)
        wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
    return size / 1e6 / wall, size / 1e6 / cpu


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    parser.add_argument("--partitions", type=int, default=4, help="suffix-array partitions to split the corpus into")
    parser.add_argument("--policies", default="keep_first,remove_all")
    parser.add_argument("--running-mode", default="multi_processing", choices=["multi_processing", "multi_threading"],
                        help="how FnApiRunner runs its 2 workers")
    parser.add_argument("--one-worker-too", action="store_true",
                        help="also run keep_first in-process on one worker, for comparison")
    args = parser.parse_args()
    if not os.path.exists(args.corpus):
        raise SystemExit(f"corpus {args.corpus} missing: run ../shared/bench/get_corpus.sh first")
    from dedup.substring import SubstringConfig

    min_length = SubstringConfig().min_length
    splits, total, docs, needle, holders, first_holder = scan(args.corpus, min_length)
    max_partition_bytes = math.ceil(total / args.partitions)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"corpus: {args.corpus}: {docs} documents, {total / 1e6:.1f} MB of text; "
          f"max_partition_bytes {max_partition_bytes} -> {args.partitions} partitions; "
          f"FnApiRunner, 2 workers ({args.running_mode})")
    print(f"boilerplate ({len(needle.encode())} bytes, in {holders} input documents, first {first_holder}): {needle!r}")
    wall_rate, cpu_rate = winnow_speed(args.corpus)
    print(f"winnowing kernel alone, one thread: {wall_rate:.0f} MB/s wall, {cpu_rate:.0f} MB/s of CPU time; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        base = {"splits": splits, "needle": needle, "beam_args": two_workers(args.running_mode),
                "max_partition_bytes": max_partition_bytes}
        timing, rss, tree, _ = measure({**base, "read_only": True, "result": os.path.join(tmp, "read.json")})
        read_s = timing["seconds"]
        print(f"{'run':<34} {'seconds':>8} {'MB/s':>7} {'peak MB':>8} {'tree MB':>8}")
        print(f"{'read + parse only':<34} {read_s:>8.1f} {total / 1e6 / read_s:>7.1f} {rss:>8.0f} {tree:>8.0f}")
        for policy in args.policies.split(","):
            spec = {**base, "read_only": False, "policy": policy, "result": os.path.join(tmp, f"{policy}.json")}
            timing, rss, tree, result = measure(spec)
            seconds, stats = timing["seconds"], result["stats"]
            print(f"{'read + substring (' + policy + ')':<34} {seconds:>8.1f} {total / 1e6 / seconds:>7.1f} "
                  f"{rss:>8.0f} {tree:>8.0f}   stage alone ~{total / 1e6 / max(seconds - read_s, 1e-9):.1f} MB/s")
            print(f"    partitions {stats['partitions']}, bytes cut {stats['bytes_cut']:,} "
                  f"({stats['bytes_cut'] / total:.1%}), documents modified {stats['documents_modified']}, "
                  f"removed {stats['documents_removed']}, out {result['docs_out']} "
                  f"(in {docs}: {'balanced' if result['docs_out'] + result['removed'] == docs else 'UNBALANCED'})")
            print(f"    fingerprints {stats['fingerprints']:,}, cross-partition hashes "
                  f"{stats['cross_partition_hashes']:,}, snippet requests {stats['snippet_requests']:,}, "
                  f"snippet bytes {stats['snippet_bytes']:,} ({stats['snippet_bytes'] / total:.1%} of the corpus)")
            survivors = result["holders"]
            want = [first_holder] if policy == "keep_first" else []
            ok = survivors == want and stats["partitions"] >= 4
            failures += not ok
            print(f"    boilerplate survives in {len(survivors)} document(s) {survivors[:3]} "
                  f"(want {len(want)}: {want}, with >= 4 partitions): {'OK' if ok else 'FAIL'}")
            if result["docs_out"] + result["removed"] != docs:
                failures += 1
        if args.one_worker_too:
            spec = {**base, "beam_args": [], "read_only": False, "policy": "keep_first",
                    "result": os.path.join(tmp, "one.json")}
            timing, rss, tree, result = measure(spec)
            print(f"{'read + substring, 1 worker':<34} {timing['seconds']:>8.1f} "
                  f"{total / 1e6 / timing['seconds']:>7.1f} {rss:>8.0f} {tree:>8.0f}   "
                  f"bytes cut {result['stats']['bytes_cut']:,}")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
