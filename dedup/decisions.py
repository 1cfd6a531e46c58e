"""Decisions about whole documents, made on fingerprints and applied in one join.

A decision is ``(document id, row)`` where ``row`` is either a removal row
(``schemas.removal``: the document leaves the corpus, logged in removed/) or
a quarantine row (``schemas.quarantine``). Rows carry ``source`` and
``position``, which identify the one input record they are about even when
ids repeat. Each document gets at most one decision: every decision maker
passes on only the fingerprints it kept, so later makers never see a record
an earlier one took out.

:class:`ApplyDecisions` joins documents and decisions by id: one shuffle of
the documents, however many stages decided. Memory: one id's documents and
decisions on one worker.
"""
from __future__ import annotations

import apache_beam as beam

REMOVED = "removed"
QUARANTINE = "quarantine"


def is_quarantine_row(row: dict) -> bool:
    return "error_code" in row


def apply_decisions(docs: list[dict], decisions: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """(kept documents, removal rows, quarantine rows) for documents sharing one id."""
    by_record = {(row["source"], row["position"]): row for row in decisions}
    kept, removed, quarantined = [], [], []
    for doc in docs:
        row = by_record.get((doc["source"], doc["position"]))
        if row is None:
            kept.append(doc)
        elif is_quarantine_row(row):
            quarantined.append(row)
        else:
            removed.append(row)
    return kept, removed, quarantined


class _Apply(beam.DoFn):
    def process(self, keyed):
        _, joined = keyed
        kept, removed, quarantined = apply_decisions(list(joined["docs"]), list(joined["decisions"]))
        yield from kept
        for row in removed:
            yield beam.pvalue.TaggedOutput(REMOVED, row)
        for row in quarantined:
            yield beam.pvalue.TaggedOutput(QUARANTINE, row)


class ApplyDecisions(beam.PTransform):
    """``{"docs": documents, "decisions": (id, row)}`` in; ``{"docs", "removed", "quarantine"}`` out."""

    def expand(self, inputs):
        joined = (
            {
                "docs": inputs["docs"] | "KeyDocsById" >> beam.Map(lambda doc: (doc["id"], doc)),
                "decisions": inputs["decisions"],
            }
            | "JoinById" >> beam.CoGroupByKey()
            | "Apply" >> beam.ParDo(_Apply()).with_outputs(REMOVED, QUARANTINE, main="docs")
        )
        return {"docs": joined.docs, "removed": joined[REMOVED], "quarantine": joined[QUARANTINE]}
