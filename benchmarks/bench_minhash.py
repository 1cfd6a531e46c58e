"""MinHash signature throughput from raw text, one core: demem vs datasketch vs rensa.

On the same sample of the RFC corpus, in the same process, one thread each:

* demem: ``MinHasher()`` defaults (normalize, word 5-grams, 128 permutations)
  on batches of raw ``str``, as the near-dedup stage calls it; also with
  ``normalize=False``, char 5-grams, and each permutation-loop version this
  CPU runs (portable, AVX2, AVX-512), for machines without AVX-512;
* datasketch: default ``MinHash(num_perm=128)`` end to end, with the Python
  shingling its users write (``text.split()``, 5-gram joins, ``update_batch``
  of the UTF-8 encoded shingles);
* rensa: ``RMinHash(num_perm=128, seed=42)`` with the same Python shingling
  (``update`` takes the list of shingle strings).

Prints MB/s of input text (UTF-8 bytes) for each and demem's ratios. Wall
time is the best of ``--repeat`` runs; CPU time is printed beside it because
other processes may share the machine.

    python benchmarks/bench_minhash.py [--corpus ~/.cache/demem-bench/rfc-50mb.jsonl] [--mb 20]
"""
from __future__ import annotations

import os

# One core means one thread: keep numpy's BLAS pool from spinning on another.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

from dedup import _minhash  # noqa: E402
from dedup.minhash import MinHasher  # noqa: E402

from corpus import DEFAULT_CORPUS, read_texts  # noqa: E402

NUM_PERM = 128
NGRAM = 5
BATCH = 64  # documents per kernel call, as BatchElements hands them to the stage


def python_shingles(text: str) -> list[str]:
    """The shingling a datasketch or rensa user writes: whitespace words, 5-gram joins."""
    words = text.split()
    return [" ".join(words[i : i + NGRAM]) for i in range(max(1, len(words) - NGRAM + 1))] if words else []


def run_demem(texts: list[str], **config) -> None:
    hasher = MinHasher(num_perm=NUM_PERM, ngram=NGRAM, **config)
    for start in range(0, len(texts), BATCH):
        hasher.signatures(texts[start : start + BATCH])


def run_datasketch(texts: list[str]) -> None:
    from datasketch import MinHash

    for text in texts:
        m = MinHash(num_perm=NUM_PERM)
        m.update_batch([s.encode("utf-8") for s in python_shingles(text)])
        m.hashvalues  # noqa: B018 - the signature


def run_rensa(texts: list[str]) -> None:
    from rensa import RMinHash

    for text in texts:
        m = RMinHash(num_perm=NUM_PERM, seed=42)
        m.update(python_shingles(text))
        m.digest()


def timed(fn, texts, repeat: int) -> tuple[float, float]:
    """(best wall seconds, CPU seconds of that run)."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn(texts)
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    parser.add_argument("--mb", type=float, default=20.0, help="sample size in MB of text")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each demem variant (best kept)")
    parser.add_argument("--anchor-repeat", type=int, default=1, help="runs of each anchor")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this core")
    args = parser.parse_args()

    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    texts, size = read_texts(args.corpus, args.mb)
    mb = size / 1e6
    print(f"sample: {len(texts)} documents, {mb:.1f} MB of text from {args.corpus}")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    isas = _minhash.supported_isas()
    best_isa = isas[-1]

    rows = []

    def report(name, fn, repeat):
        wall, cpu = timed(fn, texts, repeat)
        rows.append((name, mb / wall))
        print(f"{name:<44} {mb / wall:8.1f} MB/s wall   {mb / cpu:8.1f} MB/s cpu", flush=True)
        return mb / wall

    _minhash.set_isa(best_isa)
    ours = report(f"demem MinHasher() [{best_isa}]", run_demem, args.repeat)
    report(f"demem normalize=False [{best_isa}]", lambda t: run_demem(t, normalize=False), args.repeat)
    report(f"demem shingle='char' [{best_isa}]", lambda t: run_demem(t, shingle="char"), args.repeat)
    for isa in isas[:-1]:
        _minhash.set_isa(isa)
        report(f"demem MinHasher() [{isa}]", run_demem, args.repeat)
    _minhash.set_isa(best_isa)
    datasketch = report("datasketch MinHash + Python shingling", run_datasketch, args.anchor_repeat)
    rensa = report("rensa RMinHash + Python shingling", run_rensa, args.anchor_repeat)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print()
    print(f"demem / datasketch: {ours / datasketch:6.1f}x   (target >= 30x)")
    print(f"demem / rensa:      {ours / rensa:6.1f}x   (target >= 8x)")
    print(f"demem per core:     {ours:6.1f} MB/s (target >= 100 MB/s)")


if __name__ == "__main__":
    main()
