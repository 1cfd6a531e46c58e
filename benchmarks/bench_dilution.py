"""Frequency dilution on the RFC corpus: stage throughput, the anchor, and the before/after frequency table.

Corpus: the RFC corpus (``../shared/bench/get_corpus.sh``). Its author
names and emails repeat across many RFCs, which is what the stage bounds.

1. Preparation (cached under ``~/.cache/demem-bench/``, not timed): the first
   ``--mb`` megabytes go through the PII stage's ``Scrubber`` with two
   operator settings, so the dilution stage sees what it sees in a run:

   * ``surrogate`` (the default): every name and email becomes a
     per-document surrogate; what repeats is surrogate collisions;
   * ``hash``: names and emails become keyed digests, linkable across
     documents (pseudonymisation as many corpora do it): every repeated
     author stays a repeated item.

2. The stage, timed: ``DiluteFrequencies`` on FnApiRunner (in-process,
   one worker) reading the prepared JSONL, against the same read with no
   stage; the stage's throughput is input MB over the difference.

3. The anchor, timed on the same documents: the simplest correct program
   (one process, a dict of counts keyed by the values' normal forms,
   documents walked in corpus order, replacements from the same surrogate
   generator). Both must replace exactly the same occurrences; the benchmark
   checks it. Both times are wall seconds on the same machine.

Prints per mode the throughput of both and their ratio, and per type the
frequency table before and after: distinct items, occurrences, max and p99
occurrences per item, items over the cap.

    python benchmarks/bench_dilution.py [--corpus ~/.cache/demem-bench/rfc-50mb.jsonl] [--mb 20]
        [--max-occurrences 100] [--per-million 0] [--workers 2]
"""
from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import time
from collections import Counter

from corpus import CACHE, DEFAULT_CORPUS, read_prefix

BATCH = 32
MODES = ("surrogate", "hash")
HASH_KEY = "demem-bench-hash-key-not-secret-0123456789"


def _pii_config(mode: str):
    from sanitize.pii import EntitiesConfig, EntityPolicy, PiiConfig

    if mode == "surrogate":
        return PiiConfig()
    return PiiConfig(entities=EntitiesConfig(person=EntityPolicy(operator="hash"),
                                             email_address=EntityPolicy(operator="hash")))


def _scrub_chunk(args) -> list[dict]:
    mode, docs = args
    os.environ["DEMEM_PII_HASH_KEY"] = HASH_KEY
    from sanitize.pii import Scrubber
    from sanitize.sensitive import KEY

    scrubber = Scrubber(_pii_config(mode), seed=0)
    out = []
    for i in range(0, len(docs), BATCH):
        batch = docs[i:i + BATCH]
        results = scrubber.scrub_documents([d["text"] for d in batch], [d["id"] for d in batch])
        out += [{**d, "text": text, KEY: items} for d, (text, _, items) in zip(batch, results)]
    return out


def prepare(corpus: str, megabytes: float, mode: str, workers: int) -> str:
    """The scrubbed documents with their sensitive items, as JSONL (cached)."""
    name = f"dilution-{os.path.basename(corpus).rsplit('.', 1)[0]}-{megabytes:g}mb-{mode}.jsonl"
    path = os.path.join(CACHE, name)
    if os.path.exists(path):
        return path
    records, _ = read_prefix(corpus, megabytes)
    docs = [{"id": str(r["id"]), "text": r["text"], "source": r["source"], "position": r["position"], "metadata": None}
            for r in records]
    chunks = [(mode, docs[i::workers * 4]) for i in range(workers * 4)]
    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        scrubbed = [d for chunk in pool.map(_scrub_chunk, chunks) for d in chunk]
    scrubbed.sort(key=lambda d: d["position"])
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        for doc in scrubbed:
            fh.write(json.dumps(doc) + "\n")
    os.replace(path + ".tmp", path)
    print(f"  prepared {mode}: {len(scrubbed)} documents through the PII stage in {time.monotonic() - started:.0f} s")
    return path


def _key():
    from sanitize.surrogates import SurrogateKey

    return SurrogateKey.from_seed(0)


def beam_run(path: str, config, with_stage: bool) -> tuple[float, dict | None, dict]:
    """Wall seconds of read -> [stage] -> per-document replacement list; stats; {id: replaced indexes}."""
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from sanitize.dilution import DiluteFrequencies
    from sanitize.sensitive import KEY

    result_path = path + (".stage.json" if with_stage else ".read.json")

    def replaced(doc):
        return doc["id"], [i for i, item in enumerate(doc[KEY]) if item[3] == "dilution"]

    def save(pairs, stats):
        with open(result_path, "w") as fh:
            json.dump({"replaced": dict(pairs), "stats": stats}, fh)

    started = time.monotonic()
    with beam.Pipeline(runner=FnApiRunner()) as p:
        docs = p | beam.io.ReadFromText(path) | "Parse" >> beam.Map(json.loads)
        if with_stage:
            result = docs | DiluteFrequencies(config, _key)
            docs, stats = result["docs"], result["stats"]
        else:
            stats = p | "NoStats" >> beam.Create([None])
        _ = (docs | "Replaced" >> beam.Map(replaced) | beam.combiners.ToList()
             | "Save" >> beam.Map(save, beam.pvalue.AsSingleton(stats)))
    wall = time.monotonic() - started
    with open(result_path) as fh:
        saved = json.load(fh)
    os.unlink(result_path)
    return wall, saved["stats"], {k: v for k, v in saved["replaced"].items() if v}


def anchor(path: str, config) -> tuple[float, dict, Counter, Counter]:
    """The plain program: (wall seconds, {id: replaced indexes}, counts before, counts after) by normal form."""
    from sanitize.dilution import crowded, fresh_value, item_hash, normal_form, run_length
    from sanitize.sensitive import KEY, apply_edits
    from sanitize.surrogates import SurrogateGenerator

    with open(path, encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh]
    started = time.monotonic()
    generator = SurrogateGenerator(_key())
    types = set(config.types)

    def counted(docs):
        counts = Counter()
        for doc in docs:
            for s, e, entity_type, _ in doc[KEY]:
                if entity_type in types:
                    counts[entity_type, normal_form(entity_type, doc["text"][s:e])] += 1
        return counts

    docs.sort(key=lambda d: (d["source"], d["position"]))
    cap = config.cap(sum(len(doc["text"].split()) for doc in docs))
    before = counts = counted(docs)
    replaced_at: dict[str, list[int]] = {}
    for round_ in range(config.rounds):
        over = {item for item, n in counts.items() if cap is not None and n > cap}
        avoid = {item_hash(generator, t, v) for (t, v), n in counts.items() if crowded(n, cap)}
        seen = Counter()
        for i, doc in enumerate(docs):
            text, edits, runs = doc["text"], [], Counter()
            for index, (s, e, entity_type, origin) in enumerate(doc[KEY]):
                if entity_type not in types:
                    continue
                item = (entity_type, normal_form(entity_type, text[s:e]))
                seen[item] += 1
                if item in over and seen[item] > cap:
                    run = f"{round_}.{runs[item] // run_length(cap)}"
                    runs[item] += 1
                    new = fresh_value(generator, entity_type, origin, text[s:e], doc["id"], run, avoid)
                    edits.append((s, e, new, (entity_type, "dilution")))
            if edits:
                new_text, items = apply_edits(text, edits, doc[KEY])
                docs[i] = {**doc, "text": new_text, KEY: items}
        counts = counted(docs)
    for doc in docs:
        replaced = [index for index, item in enumerate(doc[KEY]) if item[3] == "dilution"]
        if replaced:
            replaced_at[doc["id"]] = replaced
    return time.monotonic() - started, replaced_at, before, counts


def frequency_table(stats: dict) -> str:
    cols = ("items", "occurrences", "max", "p99", "over_cap")
    lines = [f"  {'type':15s} {'':6s} " + " ".join(f"{c:>11s}" for c in cols) + f" {'replaced':>9s}"]
    for entity_type, row in stats["by_type"].items():
        for when in ("before", "after"):
            values = " ".join(f"{row[when][c]:>11,d}" for c in cols)
            extra = f" {row['replaced']:>9,d}" if when == "after" else ""
            lines.append(f"  {entity_type if when == 'before' else '':15s} {when:6s} {values}{extra}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    parser.add_argument("--mb", type=float, default=20)
    parser.add_argument("--max-occurrences", type=int, default=100)
    parser.add_argument("--per-million", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=2, help="processes for the (untimed) PII preparation")
    args = parser.parse_args(argv)
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    from sanitize.dilution import DilutionConfig

    config = DilutionConfig(max_occurrences=args.max_occurrences, per_million_tokens=args.per_million)
    print(f"corpus {args.corpus}, first {args.mb:g} MB; max_occurrences {args.max_occurrences}, "
          f"per_million_tokens {args.per_million:g}")
    for mode in MODES:
        path = prepare(args.corpus, args.mb, mode, args.workers)
        size = os.path.getsize(path)
        text_mb = sum(len(json.loads(line)["text"].encode("utf-8")) for line in open(path, encoding="utf-8")) / 1e6
        read_wall, _, _ = beam_run(path, config, with_stage=False)
        stage_wall, stats, ours = beam_run(path, config, with_stage=True)
        anchor_s, theirs, before, after = anchor(path, config)
        assert ours == theirs, "demem and the anchor replaced different occurrences"
        assert max(after.values(), default=0) == max((r["after"]["max"] for r in stats["by_type"].values()), default=0)
        stage_s = max(stage_wall - read_wall, 1e-9)
        print(f"\nmode {mode}: {text_mb:.1f} MB of text ({size / 1e6:.1f} MB JSONL with items), "
              f"{stats['whitespace_tokens']:,d} tokens, cap {stats['cap']}")
        print(f"  FnApiRunner read only {read_wall:6.1f} s; read + dilution {stage_wall:6.1f} s")
        print(f"  demem stage       {text_mb / stage_s:7.2f} MB/s  ({stage_s:.1f} s)")
        print(f"  anchor (1 process, in memory) {text_mb / anchor_s:7.2f} MB/s  ({anchor_s:.1f} s)")
        print(f"  ratio demem/anchor {anchor_s / stage_s:.2f}; same {sum(map(len, ours.values())):,d} "
              f"occurrences replaced in {len(ours):,d} documents")
        print(frequency_table(stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
