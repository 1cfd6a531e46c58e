"""Decisions about whole documents, made on fingerprints and applied in one join.

A decision is ``(document id, row)`` where ``row`` is a removal row
(``schemas.removal``: the document leaves the corpus, logged in removed/), a
quarantine row (``schemas.quarantine``), or a copy row (:func:`copy_row`:
the document stays, marked as a kept copy of a duplicate, which the
substring stage then leaves whole). Rows carry ``source`` and ``position``,
which identify the one input record they are about even when ids repeat.
A document gets at most one removal or quarantine decision: every decision
maker passes on only the fingerprints it kept, so later makers never see a
record an earlier one took out; copy rows (from exact and near dedup both)
only mark.

:class:`ApplyDecisions` joins documents and decisions by id: one shuffle of
the documents, however many stages decided. Memory: one id's documents and
decisions on one worker.
"""
from __future__ import annotations

import apache_beam as beam

REMOVED = "removed"
QUARANTINE = "quarantine"


# Document key of a kept copy (dedup ``max_copies`` above 1): the id of the first copy, which is kept anyway.
COPY_OF = "copy_of"


def is_quarantine_row(row: dict) -> bool:
    return "error_code" in row


def copy_row(record: dict, first_id: str) -> dict:
    """The decision that keeps ``record`` as a copy of the duplicate whose first member is ``first_id``."""
    return {"source": record["source"], "position": record["position"], COPY_OF: first_id}


def apply_decisions(docs: list[dict], decisions: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """(kept documents, removal rows, quarantine rows) for documents sharing one id."""
    by_record = {}
    for row in decisions:  # a removal or quarantine row outranks a copy row for the same record
        where = (row["source"], row["position"])
        if COPY_OF not in row or where not in by_record:
            by_record[where] = row
    kept, removed, quarantined = [], [], []
    for doc in docs:
        row = by_record.get((doc["source"], doc["position"]))
        if row is None:
            kept.append(doc)
        elif COPY_OF in row:
            kept.append({**doc, COPY_OF: row[COPY_OF]})
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
