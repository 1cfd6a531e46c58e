"""Training order: where each document lands in the written data shards.

The writer places a document by a 64-bit order key (``pipelines.write``:
shard ``(key * M) >> 64``, rows sorted by key inside a shard), so the key is
the document's place in training order when shards are read in name order.

* ``shuffle`` (default): the key is the seeded placement hash of the id; the
  order is a seeded shuffle that never follows source order.
* ``sensitive_first``: documents that still carry sensitive items of the
  counted types (``sanitize.sensitive``; ``dilution.types``, so a clinical
  note's dates and ages alone do not count) take the first fraction *f* of
  the key space,
  the others the rest, each group shuffled inside its range by the same hash
  (Hubble: sensitive data seen early in training is forgotten). *f* is the
  share of sensitive documents, so keys stay uniform and shards stay about
  equally large. The key is set as the document's ``order_key``, which the
  writer and the canary stage's ``block`` placement use in place of the hash.

Either way the order depends only on the ids, the seed and which documents
are sensitive, never on workers or arrival order. The items are dropped
here: nothing after this step needs them. Canaries, inserted after this
step, keep their own placement (``spread``: anywhere; ``block``: one run at
a point of the key space): they measure exposure where they were planted.
"""
from __future__ import annotations

import apache_beam as beam

from pipelines.write import placement_hash
from sanitize.canaries import ORDER_KEY
from sanitize.sensitive import KEY as SENSITIVE

SPACE = 2**64


def is_sensitive(doc: dict, types: frozenset) -> bool:
    return any(item[2] in types for item in doc.get(SENSITIVE, ()))


def sensitive_first_key(doc_id: str, sensitive: bool, sensitive_docs: int, docs: int, seed: int) -> int:
    """The order key of a document under ``sensitive_first``, given how many of ``docs`` are sensitive."""
    boundary = SPACE * sensitive_docs // docs if docs else 0
    h = placement_hash(doc_id, seed)
    if sensitive:
        return (h * boundary) >> 64
    return boundary + ((h * (SPACE - boundary)) >> 64)


class _Share(beam.CombineFn):
    """Documents -> (sensitive documents, documents)."""

    def __init__(self, types: frozenset):
        self.types = types

    def create_accumulator(self):
        return 0, 0

    def add_input(self, acc, doc):
        return acc[0] + is_sensitive(doc, self.types), acc[1] + 1

    def merge_accumulators(self, accs):
        accs = list(accs)
        return sum(a[0] for a in accs), sum(a[1] for a in accs)

    def extract_output(self, acc):
        return acc


class TrainingOrder(beam.PTransform):
    """Documents in; ``{"docs", "stats"}`` out: under ``sensitive_first`` each document gets its order key.

    Stats (report.json ``ordering``): the mode, and the sensitive and total
    documents it saw.
    """

    def __init__(self, order: str, seed: int, types):
        super().__init__()
        self.order, self.seed, self.types = order, seed, frozenset(types)

    def expand(self, docs):
        order, seed, types = self.order, self.seed, self.types
        share = docs | "Share" >> beam.CombineGlobally(_Share(types))
        stats = share | "Stats" >> beam.Map(
            lambda s: {"order": order, "sensitive_documents": s[0], "documents": s[1]})
        if order == "shuffle":
            return {"docs": docs | "DropItems" >> beam.Map(_without_items), "stats": stats}

        def keyed(doc, counts):
            key = sensitive_first_key(doc["id"], is_sensitive(doc, types), counts[0], counts[1], seed)
            return {**_without_items(doc), ORDER_KEY: key}

        ordered = docs | "OrderKey" >> beam.Map(keyed, counts=beam.pvalue.AsSingleton(share))
        return {"docs": ordered, "stats": stats}


def _without_items(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != SENSITIVE}
