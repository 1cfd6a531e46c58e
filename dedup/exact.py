"""Exact deduplication: one document per distinct (normalized) text.

Contract: documents whose texts are byte-identical after validation's Unicode
normalization form one group; the group keeps exactly one document, the
first in corpus order (``schemas.document.corpus_order``: source path, then
position), so the choice never depends on arrival order or worker count.
Every other member is removed with stage ``exact_dedup``, reason
``exact_duplicate`` and ``kept_id`` naming the survivor.

Texts are grouped by their 128-bit MurmurHash3 digest (``dedup.hashing``);
at 2**-128 per pair an accidental collision is not a practical concern, and
the digest keeps the shuffle key small. Memory: the GroupByKey holds one
group's documents on one worker; a group of N copies of a text of B bytes
needs about N·B bytes there (Beam pages large groups on runners that support
it).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import apache_beam as beam

from dedup.hashing import text_digest
from schemas.document import corpus_order
from schemas.removal import removal_record

STAGE = "exact_dedup"
REMOVED = "removed"


@dataclass(frozen=True)
class ExactDedupConfig:
    enabled: bool = field(default=True, metadata={"help": "remove documents whose normalized text repeats exactly"})


def split_exact_duplicates(group: list[dict]) -> tuple[dict, list[dict]]:
    """(kept document, removal rows) for documents with identical text."""
    ordered = sorted(group, key=corpus_order)
    kept = ordered[0]
    return kept, [removal_record(doc, STAGE, "exact_duplicate", kept_id=kept["id"]) for doc in ordered[1:]]


def exact_dedup(docs: list[dict]) -> tuple[list[dict], list[dict]]:
    """Without Beam: (kept documents in input order, removal rows)."""
    groups: dict[str, list[dict]] = {}
    for doc in docs:
        groups.setdefault(text_digest(doc["text"]), []).append(doc)
    kept_ids, removed = set(), []
    for group in groups.values():
        kept, rows = split_exact_duplicates(group)
        kept_ids.add(kept["id"])
        removed.extend(rows)
    return [doc for doc in docs if doc["id"] in kept_ids], removed


class DigestText(beam.DoFn):
    """document -> (digest of its text, document): the grouping key of exact dedup."""

    def setup(self):
        self.busy_us = beam.metrics.Metrics.counter(STAGE, "busy_us")

    def process(self, doc):
        start = time.perf_counter()
        key = text_digest(doc["text"])
        self.busy_us.inc(int((time.perf_counter() - start) * 1e6))
        yield key, doc


class _KeepFirst(beam.DoFn):
    def process(self, keyed):
        _, docs = keyed
        docs = list(docs)
        if len(docs) == 1:
            yield docs[0]
            return
        kept, removed = split_exact_duplicates(docs)
        yield kept
        yield beam.pvalue.TaggedOutput(REMOVED, (len(docs), removed))


class KeepFirstPerText(beam.PTransform):
    """``(digest, documents)`` groups in; ``{"docs", "removed", "stats"}`` out.

    The half of :class:`ExactDedup` after the shuffle, for pipelines that
    group documents by text digest themselves (demem's own pipeline groups
    once for both id uniqueness and exact dedup). ``stats`` holds
    ``duplicate_groups`` (texts seen more than once) and ``largest_group``.
    """

    def expand(self, groups):
        results = groups | "KeepFirst" >> beam.ParDo(_KeepFirst()).with_outputs(REMOVED, main="docs")
        removed = results[REMOVED] | "RemovalRows" >> beam.FlatMap(lambda sized: sized[1])
        stats = (
            results[REMOVED]
            | "GroupSizes" >> beam.Map(lambda sized: sized[0])
            | "Summarize" >> beam.CombineGlobally(_GroupStats())
        )
        return {"docs": results.docs, "removed": removed, "stats": stats}


class ExactDedup(beam.PTransform):
    """Documents in; ``{"docs": kept, "removed": removal rows, "stats": one dict}`` out."""

    def expand(self, docs):
        return (
            docs
            | "Digest" >> beam.ParDo(DigestText())
            | "GroupByText" >> beam.GroupByKey()
            | "KeepFirstPerText" >> KeepFirstPerText()
        )


class _GroupStats(beam.CombineFn):
    def create_accumulator(self):
        return 0, 0

    def add_input(self, acc, size):
        return acc[0] + 1, max(acc[1], size)

    def merge_accumulators(self, accs):
        accs = list(accs)
        return sum(a[0] for a in accs), max(a[1] for a in accs)

    def extract_output(self, acc):
        return {"duplicate_groups": acc[0], "largest_group": acc[1]}
