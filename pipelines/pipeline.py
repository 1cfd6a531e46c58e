"""The demem Beam graph: stages wired together from config, and one run of it.

Reading top to bottom, :func:`build_pipeline` is the data flow of
``shared/docs/DESIGN.md``: read → fingerprint → corpus-wide decisions on
fingerprints (unique ids, exact dedup, near dedup) → apply them to the
documents in one join → text stages (substring, traces, PII, frequency
dilution) → training order → canaries → write data/, removed/, quarantine/
and the stats behind report.json.

Whole documents cross a shuffle to meet their decisions (joined by id),
twice inside the substring stage (joined with their requests by id, then
pieces grouped by partition) and once into their output shard. Beam moves
every shuffled byte through its coder (on FnApiRunner about 70 MB/s per
pass, measured on the RFC corpus), so every other corpus-wide decision is
made on small records: fingerprints of ~1 KiB (``dedup.fingerprint``),
sensitive-value occurrences (``sanitize.dilution``), counts broadcast as
side inputs; text stays where it is.
"""
from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from dedup.decisions import ApplyDecisions
from dedup.exact import STAGE as EXACT_STAGE
from dedup.exact import ExactDuplicates
from dedup.fingerprint import Fingerprint
from dedup.near import STAGE as NEAR_STAGE
from dedup.near import NearDuplicates
from dedup.substring import STAGE as SUBSTRING_STAGE
from dedup.substring import SubstringDedup
from pipelines import report as rep
from pipelines.config import Config
from pipelines.html_report import write_html_report
from pipelines.order import TrainingOrder
from pipelines.read import ReadCorpus, RereadCorpus, expand_patterns
from pipelines.validate import UniqueIds
from pipelines.write import STAGING, ShardLayout, WriteShards, placement_hash
from sanitize.canaries import ORDER_KEY, InsertCanaries, complete_manifest
from sanitize.dilution import STAGE as DILUTION_STAGE
from sanitize.dilution import DiluteFrequencies
from sanitize.pii import STAGE as PII_STAGE
from sanitize.pii import ScrubPII, surrogate_key
from sanitize.traces import STAGE as TRACES_STAGE
from sanitize.traces import ScrubTraces
from schemas import DEMEM_VERSION
from schemas.document import OUTPUT_SCHEMA, output_row
from schemas.quarantine import QUARANTINE_SCHEMA
from schemas.removal import REMOVAL_SCHEMA

LOG = logging.getLogger(__name__)

# Text stages that can take documents out (and so get a counts.removed entry); the others only rewrite text.
REMOVING_TEXT_STAGES = (SUBSTRING_STAGE,)

# What a demem run writes into its output directory; --overwrite removes only these.
OUTPUT_ENTRIES = ("data", "removed", "quarantine", "canaries", STAGING, rep.REPORT_FILE, "report.html")


class AccountingError(RuntimeError):
    """input != output + removed + quarantined: something was lost or doubled."""


class OutputDirError(RuntimeError):
    """The output directory cannot be used as asked."""


def canary_manifest_path(output_dir: str, config: Config, override: str | None = None) -> str:
    """Where the secret canary manifest goes: --canary-manifest, else config, else DIR/canaries/."""
    return override or config.canaries.manifest or FileSystems.join(output_dir, "canaries", "manifest.jsonl")


def _data_order(doc: dict, seed: int) -> int:
    """A document's place in training order: its order key (``sensitive_first``, block canaries), else the shuffle."""
    return doc[ORDER_KEY] if ORDER_KEY in doc else placement_hash(doc["id"], seed)


def _provenance_order(row: dict) -> tuple[str, int]:
    return row["source"], row["position"]


def _layouts(output_dir: str, config: Config) -> dict[str, ShardLayout]:
    seed = config.seed
    metadata = {"demem.version": DEMEM_VERSION, "demem.config_hash": config.digest()}

    def schema(base, kind):
        return base.with_metadata({**metadata, "demem.kind": kind})

    def by_provenance(row):
        return placement_hash(f"{row['source']}\0{row['position']}", seed)

    return {
        "data": ShardLayout(
            output_dir, "data", schema(OUTPUT_SCHEMA, "documents"),
            placement=lambda doc: _data_order(doc, seed),
            sort_key=lambda doc: (_data_order(doc, seed), doc["id"]),
            size=rep.text_bytes, config=config.output, to_row=output_row,
        ),
        "removed": ShardLayout(
            output_dir, "removed", schema(REMOVAL_SCHEMA, "removals"),
            placement=by_provenance, sort_key=_provenance_order, size=rep.removed_bytes, config=config.output,
        ),
        "quarantine": ShardLayout(
            output_dir, "quarantine", schema(QUARANTINE_SCHEMA, "quarantine"),
            placement=by_provenance, sort_key=_provenance_order, size=rep.raw_bytes, config=config.output,
        ),
    }


def load_surrogate_key(config: Config):
    """The surrogate key, on a worker: the PII section's key file, else its variable, else derived from the seed."""
    return surrogate_key(config.pii, config.seed)


def surrogate_key_source(config: Config) -> str:
    """Which key source a run uses, for the report and a warning (never the key)."""
    pii = config.pii
    if pii.surrogate_key_file:
        return f"file {pii.surrogate_key_file}"
    if os.environ.get(pii.surrogate_key_env):
        return f"environment variable {pii.surrogate_key_env}"
    return "derived from seed (not secret: set the key environment variable or key file)"


def decide_documents(docs, config: Config, reread) -> tuple[list, list, dict]:
    """The corpus-wide decisions, made on fingerprints: (decision collections, stage names, stage stats).

    Order matters: duplicate ids are settled first, so a record that loses
    its id never represents a duplicate group; exact dedup passes on only the
    fingerprints it kept, and near dedup clusters only those.
    """
    near = config.near_dedup
    fingerprints = docs | "Fingerprint" >> beam.ParDo(Fingerprint(near.minhash() if near.enabled else None))
    unique = fingerprints | "UniqueIds" >> UniqueIds(config.validation.quarantine_raw_bytes)
    fingerprints, decisions, names, stats = unique["fingerprints"], [unique["decisions"]], [], {}
    max_copies = config.dilution.max_copies
    if config.exact_dedup.enabled:
        exact = fingerprints | EXACT_STAGE >> ExactDuplicates(max_copies=max_copies)
        fingerprints, stats[EXACT_STAGE] = exact["fingerprints"], exact["stats"]
        decisions.append(exact["decisions"])
        names.append(EXACT_STAGE)
    if near.enabled:
        near_stage = NearDuplicates(near, reread, max_copies=max_copies)
        result = {"fingerprints": fingerprints, "docs": docs} | NEAR_STAGE >> near_stage
        stats[NEAR_STAGE] = result["stats"]
        decisions.append(result["decisions"])
        names.append(NEAR_STAGE)
    return decisions, names, stats


def build_pipeline(p: beam.Pipeline, inputs: list[str], output_dir: str, config: Config,
                   canary_manifest: str | None = None) -> list[str]:
    """Add the whole demem graph to ``p``; returns the names of the enabled stages that remove documents."""
    stats = {}
    read = p | "Read" >> ReadCorpus(inputs, config.input, config.validation)
    stats["read.docs"] = read["docs"] | "CountRead" >> beam.CombineGlobally(rep.CountAndBytes(rep.text_bytes))
    stats["read.quarantine"] = read["quarantine"] | "CountUnreadable" >> beam.CombineGlobally(
        rep.CountAndBytes(rep.raw_bytes))

    def reread(needed):
        return p | "Reread" >> RereadCorpus(inputs, config.input, config.validation, needed)

    decisions, stage_names, stage_stats = decide_documents(read["docs"], config, reread)
    applied = (
        {"docs": read["docs"], "decisions": decisions | "AllDecisions" >> beam.Flatten(pipeline=p)}
        | "ApplyDecisions" >> ApplyDecisions()
    )
    docs = applied["docs"]
    quarantine = (read["quarantine"], applied["quarantine"]) | "AllQuarantine" >> beam.Flatten()
    removed = [applied["removed"]]
    key = functools.partial(load_surrogate_key, config)
    text_stages = []
    if config.substring.enabled:
        text_stages.append((SUBSTRING_STAGE, SubstringDedup(config.substring, config.seed)))
    if config.traces.enabled:
        text_stages.append((TRACES_STAGE, ScrubTraces(config.traces, key)))
    if config.pii.enabled:
        text_stages.append((PII_STAGE, ScrubPII(config.pii, config.seed)))
    if config.dilution.enabled:
        text_stages.append((DILUTION_STAGE, DiluteFrequencies(config.dilution, key)))
    for name, stage in text_stages:
        result = docs | name >> stage
        docs = result["docs"]
        removed.append(result["removed"])
        if name in REMOVING_TEXT_STAGES:
            stage_names.append(name)
        stage_stats[name] = result["stats"]
    for name, stage_stat in stage_stats.items():
        stats[f"stage.{name}"] = stage_stat
    ordered = docs | "TrainingOrder" >> TrainingOrder(config.dilution.order, config.seed, config.dilution.types)
    docs, stats["ordering"] = ordered["docs"], ordered["stats"]

    if config.canaries.enabled:
        planted = docs | "Canaries" >> InsertCanaries(
            config.canaries, config.seed, order_key=lambda doc_id: placement_hash(doc_id, config.seed),
            manifest_path=canary_manifest_path(output_dir, config, canary_manifest), data_dir=FileSystems.join(output_dir, "data"))
        docs, stats["stage.canaries"] = planted["docs"], planted["stats"]

    layouts = _layouts(output_dir, config)
    stats["output"] = docs | "CountOutput" >> beam.CombineGlobally(rep.CountAndBytes(rep.text_bytes))
    stats["quarantine"] = quarantine | "CountQuarantine" >> beam.CombineGlobally(rep.CountAndBytes(rep.raw_bytes))
    stats["quarantine.by_code"] = (
        quarantine
        | "Codes" >> beam.Map(lambda row: row["error_code"])
        | "CountCodes" >> beam.combiners.Count.PerElement()
        | "CodesToDict" >> beam.combiners.ToDict()
    )
    all_removed = removed | "AllRemoved" >> beam.Flatten(pipeline=p)
    stats["removed"] = (
        all_removed
        | "ByStage" >> beam.Map(lambda row: (row["stage"], row))
        | "CountByStage" >> beam.CombinePerKey(rep.CountAndBytes(rep.removed_bytes))
        | "RemovedToDict" >> beam.combiners.ToDict()
    )
    stats["shards.data"] = docs | "WriteData" >> WriteShards(layouts["data"], size_basis=stats["read.docs"])
    stats["shards.removed"] = all_removed | "WriteRemoved" >> WriteShards(layouts["removed"])
    stats["shards.quarantine"] = quarantine | "WriteQuarantine" >> WriteShards(layouts["quarantine"])
    _ = stats | "Stats" >> rep.CollectStats(FileSystems.join(output_dir, STAGING, "stats.json"))
    return stage_names


def prepare_output_dir(output_dir: str, overwrite: bool) -> None:
    """Refuse a non-empty directory unless ``overwrite``; then clear only demem's own entries."""
    if "://" in output_dir:
        existing = {m.path[len(output_dir.rstrip("/")) + 1 :].split("/")[0]
                    for m in FileSystems.match([FileSystems.join(output_dir, "**")])[0].metadata_list}
    else:
        existing = set(os.listdir(output_dir)) if os.path.isdir(output_dir) else set()
    if not existing:
        return
    if not overwrite:
        raise OutputDirError(f"output directory {output_dir} is not empty; pass --overwrite to replace a previous run")
    foreign = sorted(existing - set(OUTPUT_ENTRIES))
    if foreign:
        raise OutputDirError(
            f"refusing to overwrite {output_dir}: it holds entries demem did not write ({', '.join(foreign[:3])})"
        )
    FileSystems.delete([FileSystems.join(output_dir, name) for name in sorted(existing)])


def _has_runner(beam_args: list[str]) -> bool:
    return any(arg == "--runner" or arg.startswith("--runner=") for arg in beam_args)


@dataclass
class RunResult:
    report: dict
    report_path: str


def run(inputs: list[str], output_dir: str, config: Config, beam_args: list[str] = (), overwrite: bool = False,
        runner=None, canary_manifest: str | None = None) -> RunResult:
    """Run demem once, wait for it, write report.json; raises on a bad setup or unbalanced counts.

    Without ``--runner`` in ``beam_args`` (and no ``runner`` object) the
    pipeline runs embedded on ``FnApiRunner``; ``--direct_num_workers`` and
    ``--direct_running_mode`` then choose its parallelism.
    """
    expand_patterns(inputs)  # fail fast, before any worker starts, when an input matches nothing
    prepare_output_dir(output_dir, overwrite)
    key_source = surrogate_key_source(config)
    if key_source.startswith("derived"):
        LOG.warning("surrogate key %s", key_source)
    options = PipelineOptions(list(beam_args))
    if runner is None and not _has_runner(list(beam_args)):
        runner = FnApiRunner()
    runner_name = type(runner).__name__ if runner is not None else options.view_as(StandardOptions).runner
    started = time.monotonic()
    pipeline = beam.Pipeline(runner=runner, options=options)
    stage_names = build_pipeline(pipeline, inputs, output_dir, config, canary_manifest)
    result = pipeline.run()
    result.wait_until_finish()
    wall = time.monotonic() - started
    try:
        busy = rep.stage_busy_seconds(result.metrics().query())
    except (NotImplementedError, AttributeError):  # portable runners without metrics support
        busy = {}
    stats = rep.read_stats(FileSystems.join(output_dir, STAGING, "stats.json"))
    report = rep.build_report(stats, config.to_dict(), config.digest(), stage_names, wall, busy, str(runner_name))
    report["surrogate_key"] = key_source
    FileSystems.delete([FileSystems.join(output_dir, STAGING)])
    if config.canaries.enabled:
        manifest = canary_manifest_path(output_dir, config, canary_manifest)
        frequencies = complete_manifest(manifest, output_dir)
        report["canaries"] = {**report["stages"].get("canaries", {}), "manifest": manifest,
                              "per_canary": frequencies,
                              "warning": "the manifest is secret: never ship it with data/"}
    path = rep.write_report(output_dir, report)
    write_html_report(output_dir, report)
    if not report["accounting_ok"]:
        c = report["counts"]
        raise AccountingError(
            f"accounting violated: input {c['input']} != output {c['output']} + removed "
            f"{sum(c['removed'].values())} + quarantined {c['quarantined']} (see {path})"
        )
    return RunResult(report, path)
