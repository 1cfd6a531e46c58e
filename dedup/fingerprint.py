"""Fingerprints: the small record every corpus-wide document decision is made on.

Shuffling whole documents is the dominant cost of a Beam pipeline (on
FnApiRunner ~7 s per pass over 500 MB of text). Decisions that need the whole
corpus (duplicate ids, exact duplicates, near duplicates) are therefore made
on a fingerprint of each document, and applied to the documents in one join
(``dedup.decisions``).

A fingerprint is a dict:

=============  ======  ====================================================
``id``         str     the document id
``source``     str     input path (provenance, for the corpus order)
``position``   int     line / row in the source
``text_bytes`` int     UTF-8 size of the text
``digest``     str     32-hex MurmurHash3-128 of the text (``dedup.hashing``)
``signature``  bytes   MinHash signature (uint64 × num_perm, little-endian),
                       or None when near dedup is off
=============  ======  ====================================================

About 100 bytes plus 8·num_perm for the signature (1 KiB at 128).
"""
from __future__ import annotations

import time

import apache_beam as beam
import numpy as np

from dedup.hashing import text_digest
from dedup.minhash import MinHashConfig, MinHasher

POSITION_DIGITS = 20  # zero-padded so that string order equals numeric order


def node_key(record: dict) -> str:
    """A string whose plain ordering is the corpus order: ``source NUL position NUL id``.

    Unique per input record (source and position are), so it names a graph
    node; the smallest node of a cluster is its first document in corpus
    order. NUL sorts before every other character, so a source that is a
    prefix of another still sorts first, as in tuple comparison.
    """
    return f"{record['source']}\0{record['position']:0{POSITION_DIGITS}d}\0{record['id']}"


def parse_node_key(node: str) -> tuple[str, int, str]:
    """(source, position, id) back from :func:`node_key`."""
    source, position, doc_id = node.split("\0", 2)
    return source, int(position), doc_id


def signature_array(fingerprint: dict) -> np.ndarray:
    return np.frombuffer(fingerprint["signature"], dtype="<u8")


class Fingerprint(beam.DoFn):
    """document -> fingerprint; the MinHash signature only with a ``minhash`` config."""

    def __init__(self, minhash: MinHashConfig | None = None):
        self.minhash = minhash

    def setup(self):
        self.hasher = MinHasher(self.minhash) if self.minhash else None
        self.busy_us = beam.metrics.Metrics.counter("fingerprint", "busy_us")

    def process(self, doc):
        start = time.perf_counter()
        text = doc["text"]
        signature = None
        if self.hasher is not None:
            signature = self.hasher.signatures([text])[0].astype("<u8", copy=False).tobytes()
        record = {
            "id": doc["id"],
            "source": doc["source"],
            "position": doc["position"],
            "text_bytes": len(text.encode("utf-8")),
            "digest": text_digest(text),
            "signature": signature,
        }
        self.busy_us.inc(int((time.perf_counter() - start) * 1e6))
        yield record
