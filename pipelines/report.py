"""The run report: counts, accounting, stage statistics and timings.

The pipeline computes every figure itself (as one-element PCollections merged
into ``DIR/.staging/stats.json``), so the report is the same on any runner;
Beam metrics only add per-stage busy time where the runner reports them.

Accounting invariant, checked for every run::

    counts.input == counts.output - counts.canary_documents + sum(counts.removed.values()) + counts.quarantined

``counts.input`` counts every unit the reader produced: each JSONL line that
is not blank, each Parquet row, each text file, and each unreadable stretch
(see ``schemas.quarantine``). A run whose counts do not balance fails.

No text, id or matched value appears in the report: only counts, sizes,
timings, file names and the config.
"""
from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from schemas import DEMEM_VERSION

REPORT_FILE = "report.json"


class CountAndBytes(beam.CombineFn):
    """(rows, bytes) of a collection, with ``size(row)`` giving a row's bytes."""

    def __init__(self, size):
        self.size = size

    def create_accumulator(self):
        return 0, 0

    def add_input(self, acc, row):
        return acc[0] + 1, acc[1] + self.size(row)

    def merge_accumulators(self, accs):
        rows = size = 0
        for r, s in accs:
            rows += r
            size += s
        return rows, size

    def extract_output(self, acc):
        return {"rows": acc[0], "bytes": acc[1]}


def text_bytes(doc: dict) -> int:
    return len(doc["text"].encode("utf-8"))


def raw_bytes(row: dict) -> int:
    return row["raw_bytes"]


def removed_bytes(row: dict) -> int:
    return row["text_bytes"]


class _WriteJson(beam.DoFn):
    def __init__(self, path: str):
        self.path = path

    def process(self, stats: dict):
        with FileSystems.create(self.path) as handle:
            handle.write(json.dumps(stats, sort_keys=True).encode())
        yield self.path


class CollectStats(beam.PTransform):
    """``{name: one-element PCollection}`` in; writes ``{name: value}`` as JSON to ``path``."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def expand(self, named):
        tagged = [
            pcoll | f"Tag[{name}]" >> beam.Map(lambda value, name=name: (name, value))
            for name, pcoll in sorted(named.items())
        ]
        return (
            tagged
            | "FlattenStats" >> beam.Flatten()
            | "ToDict" >> beam.combiners.ToDict()
            | "WriteStats" >> beam.ParDo(_WriteJson(self.path))
        )


def read_stats(path: str) -> dict:
    with FileSystems.open(path) as handle:
        return json.loads(handle.read().decode())


def stage_busy_seconds(metric_results) -> dict:
    """Per-stage seconds spent in stage code, from ``busy_us`` counters (empty if unsupported)."""
    busy = {}
    for result in metric_results.get("counters", []):
        if result.key.metric.name != "busy_us":
            continue
        value = result.committed if result.committed is not None else result.attempted
        namespace = result.key.metric.namespace
        busy[namespace] = busy.get(namespace, 0) + (value or 0) / 1e6
    return {name: round(seconds, 3) for name, seconds in sorted(busy.items())}


def build_report(stats: dict, config: dict, config_hash: str, stage_names: list[str], wall_seconds: float,
                 busy_seconds: dict, runner: str) -> dict:
    """The report dict from pipeline stats; ``accounting_ok`` says whether the counts balance."""
    by_stage = stats["removed"]
    removed = {name: by_stage.get(name, {"rows": 0})["rows"] for name in stage_names}
    removed_size = {name: by_stage.get(name, {"bytes": 0})["bytes"] for name in stage_names}
    shards = stats["shards.data"]
    counts = {
        "input": stats["read.docs"]["rows"] + stats["read.quarantine"]["rows"],
        "output": sum(shard["rows"] for shard in shards),
        "removed": removed,
        "quarantined": stats["quarantine"]["rows"],
    }
    # Canary documents are counted apart: they are in the output but were never input.
    canaries_added = stats.get("stage.canaries", {}).get("documents_added", 0)
    counts["canary_documents"] = canaries_added
    accounting_ok = counts["input"] == counts["output"] - canaries_added + sum(removed.values()) + counts["quarantined"]
    input_bytes = stats["read.docs"]["bytes"]
    return {
        "demem_version": DEMEM_VERSION,
        "accounting_ok": accounting_ok,
        "counts": counts,
        "bytes": {
            "input_text": input_bytes,
            "output_text": stats["output"]["bytes"],
            "removed_text": removed_size,
            "quarantined_raw": stats["quarantine"]["bytes"],
        },
        "quarantine_by_code": stats["quarantine.by_code"],
        "stages": {key[len("stage."):]: value for key, value in sorted(stats.items()) if key.startswith("stage.")},
        "ordering": stats["ordering"],
        "timings": {
            "wall_seconds": round(wall_seconds, 3),
            "stage_busy_seconds": busy_seconds,
            "input_mb_per_second": round(input_bytes / 1e6 / wall_seconds, 3) if wall_seconds > 0 else None,
        },
        "output": {
            "data": shards,
            "removed": stats["shards.removed"],
            "quarantine": stats["shards.quarantine"],
        },
        "runner": runner,
        "config_hash": config_hash,
        "config": config,
    }


def write_report(output_dir: str, report: dict) -> str:
    path = FileSystems.join(output_dir, REPORT_FILE)
    with FileSystems.create(path) as handle:
        handle.write((json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
    return path


def format_summary(report: dict, output_dir: str) -> str:
    """The one-screen summary printed at the end of ``demem run``."""
    counts, size, timings = report["counts"], report["bytes"], report["timings"]
    lines = [
        f"demem {report['demem_version']}  run complete -> {output_dir}",
        f"  input        {counts['input']:>12,d} records  {size['input_text'] / 1e6:>10.2f} MB text",
        f"  output       {counts['output']:>12,d} docs     {size['output_text'] / 1e6:>10.2f} MB text"
        f"  in {len(report['output']['data'])} shard(s)",
    ]
    for stage, removed in counts["removed"].items():
        lines.append(f"  removed      {removed:>12,d} docs     {size['removed_text'][stage] / 1e6:>10.2f} MB  by {stage}")
    dilution = report["stages"].get("dilution")
    if dilution:
        lines.append(f"  diluted      {dilution['occurrences_replaced']:>12,d} occurrences of sensitive values over "
                     f"the cap ({dilution['cap']}) replaced; order {report['ordering']['order']}")
    if counts.get("canary_documents"):
        lines.append(f"  canaries     {counts['canary_documents']:>12,d} docs added (counted apart; the manifest is secret)")
    lines.append(f"  quarantined  {counts['quarantined']:>12,d} records  "
                 + ", ".join(f"{code}={n}" for code, n in sorted(report["quarantine_by_code"].items())))
    rate = timings["input_mb_per_second"]
    lines.append(f"  time         {timings['wall_seconds']:>12.1f} s        {rate if rate is not None else 0:>10.2f} MB/s")
    canaries = " - canaries" if counts.get("canary_documents") else ""
    lines.append(f"  accounting   {'ok' if report['accounting_ok'] else 'VIOLATED'}: "
                 f"input = output{canaries} + removed + quarantined")
    return "\n".join(lines)
