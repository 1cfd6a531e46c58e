"""Exact deduplication: at most ``max_copies`` documents per distinct (normalized) text.

Contract: documents whose texts are byte-identical after validation's Unicode
normalization form one group; the group keeps its first ``max_copies``
documents (k, default 1) in corpus order (``schemas.document.corpus_order``:
source path, then position), so the choice never depends on arrival order or
worker count. Every other member is removed with stage ``exact_dedup``,
reason ``exact_duplicate`` and ``kept_id`` naming the group's first document
(the one kept with k = 1). A k above 1 is bounded upweighting: a repeated
text keeps up to k copies instead of one; with k = 1 the output is that of
plain deduplication.

Texts are grouped by their 128-bit MurmurHash3 digest (``dedup.hashing``);
at 2**-128 per pair an accidental collision is not a practical concern.
Only fingerprints (~100 bytes a document) are shuffled; memory: one group's
fingerprints on one worker (100k copies of one text: ~10 MB).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import apache_beam as beam

from dedup.decisions import ApplyDecisions, copy_row
from dedup.fingerprint import Fingerprint
from dedup.hashing import text_digest
from schemas.document import corpus_order
from schemas.removal import removal_record

STAGE = "exact_dedup"
DECISIONS = "decisions"


@dataclass(frozen=True)
class ExactDedupConfig:
    enabled: bool = field(default=True, metadata={"help": "remove documents whose normalized text repeats exactly"})


def check_max_copies(max_copies: int) -> int:
    """``max_copies`` if it is an int >= 1 (copies of a duplicate kept); TypeError or ValueError otherwise."""
    if isinstance(max_copies, bool) or not isinstance(max_copies, numbers.Integral):
        raise TypeError(f"max_copies must be an int >= 1, got {max_copies!r}")
    if max_copies < 1:
        raise ValueError(f"max_copies must be >= 1 (copies kept of each duplicate group), got {max_copies}")
    return int(max_copies)


def split_exact_duplicates(group: list[dict], max_copies: int = 1) -> tuple[list[dict], list[dict]]:
    """(kept records, removal rows) for records (documents or fingerprints) with identical text.

    Kept: the first ``max_copies`` in corpus order, in that order. Removal
    rows name the first of them as ``kept_id``.
    """
    check_max_copies(max_copies)
    ordered = sorted(group, key=corpus_order)
    first = ordered[0]["id"]
    return ordered[:max_copies], [
        removal_record(r, STAGE, "exact_duplicate", kept_id=first) for r in ordered[max_copies:]]


def exact_dedup(docs: list[dict], max_copies: int = 1) -> tuple[list[dict], list[dict]]:
    """Without Beam: (kept documents in input order, removal rows)."""
    check_max_copies(max_copies)
    groups: dict[str, list[dict]] = {}
    for doc in docs:
        groups.setdefault(text_digest(doc["text"]), []).append(doc)
    kept_ids, removed = set(), []
    for group in groups.values():
        kept, rows = split_exact_duplicates(group, max_copies)
        kept_ids.update(id(doc) for doc in kept)
        removed.extend(rows)
    return [doc for doc in docs if id(doc) in kept_ids], removed


class _KeepFirst(beam.DoFn):
    def __init__(self, max_copies: int = 1):
        self.max_copies = max_copies

    def process(self, keyed):
        _, records = keyed
        records = list(records)
        if len(records) == 1:
            yield records[0]
            return
        kept, removed = split_exact_duplicates(records, self.max_copies)
        yield from kept
        copies = [(r["id"], copy_row(r, kept[0]["id"])) for r in kept[1:]]
        yield beam.pvalue.TaggedOutput(DECISIONS, (len(records), [(row["id"], row) for row in removed] + copies))


class ExactDuplicates(beam.PTransform):
    """Fingerprints in; ``{"fingerprints": kept, "decisions": (id, removal or copy row), "stats"}`` out.

    Each group keeps its first ``max_copies`` fingerprints in corpus order;
    all of them flow on in ``fingerprints``, and all but the first get a
    copy row (``dedup.decisions.copy_row``). ``stats`` is one dict:
    ``duplicate_groups`` (texts seen more than once, whether or not a copy
    was removed) and ``largest_group`` (copies of the most repeated text).
    """

    def __init__(self, max_copies: int = 1):
        super().__init__()
        self.max_copies = check_max_copies(max_copies)

    def expand(self, fingerprints):
        results = (
            fingerprints
            | "KeyByDigest" >> beam.Map(lambda fp: (fp["digest"], fp))
            | "GroupByDigest" >> beam.GroupByKey()
            | "KeepFirst" >> beam.ParDo(_KeepFirst(self.max_copies)).with_outputs(DECISIONS, main="fingerprints")
        )
        decisions = results[DECISIONS] | "Decisions" >> beam.FlatMap(lambda sized: sized[1])
        stats = (
            results[DECISIONS]
            | "GroupSizes" >> beam.Map(lambda sized: sized[0])
            | "Summarize" >> beam.CombineGlobally(_GroupStats())
        )
        return {"fingerprints": results.fingerprints, "decisions": decisions, "stats": stats}


class ExactDedup(beam.PTransform):
    """Documents in; ``{"docs": kept, "removed": removal rows, "stats": one dict}`` out.

    The standalone stage for your own pipelines: fingerprint, decide, apply.
    """

    def __init__(self, max_copies: int = 1):
        super().__init__()
        self.max_copies = check_max_copies(max_copies)

    def expand(self, docs):
        exact = (docs | "Fingerprint" >> beam.ParDo(Fingerprint())
                 | "ExactDuplicates" >> ExactDuplicates(self.max_copies))
        applied = {"docs": docs, "decisions": exact["decisions"]} | "Apply" >> ApplyDecisions()
        return {"docs": applied["docs"], "removed": applied["removed"], "stats": exact["stats"]}


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
