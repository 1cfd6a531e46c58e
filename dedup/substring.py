"""Exact-substring removal across the whole corpus: winnowed fingerprints, snippets, suffix arrays.

Contract
--------
A *repeat* is a byte string of at least ``min_length`` bytes (UTF-8) that
occurs at two or more places inside documents; no occurrence spans two
documents. With ``keep_first`` (the default) every byte of a document that
lies inside an occurrence of a repeat that is *not* its first occurrence in
corpus order (``dedup.fingerprint.node_key``: source, position; then offset)
is cut; with ``remove_all`` every byte inside any occurrence is cut (Lee et
al.'s ExactSubstr). This is exactly what ``dedup.suffix_array.
find_repeated_spans`` computes over the whole corpus in one piece; the stage
gives the same cuts when the corpus is split into partitions that each fit
one worker. Then, per document:

* ranges shrink to UTF-8 character boundaries (a cut never splits a
  character) and, with ``snap_to_whitespace``, to whole words (a cut starts
  after ASCII whitespace or at the text start, and ends at whitespace or the
  text end), so a cut never removes a byte that is not repeated;
* overlapping ranges are merged; the text is cut; ``substring_bytes_cut``
  (int, 0 for untouched documents) records the bytes removed;
* a document that was cut and keeps fewer than ``min_doc_bytes`` bytes
  besides surrounding whitespace is removed (stage ``substring``, reason
  ``too_short_after_substring_removal``, ``kept_id`` = the document holding
  the first occurrence of its largest cut, under ``keep_first``).

Documents marked as kept copies of a duplicate (``dedup.decisions.COPY_OF``,
dedup ``max_copies`` above 1) are left out: not indexed and never cut, so
the bounded upweighting the user asked for survives. Their first copy is
indexed like any document.

How repeats that cross partitions are found
-------------------------------------------
Documents go to P = ceil(total text bytes / ``max_partition_bytes``)
partitions by a seeded 64-bit hash of their id (range partition). Before any
shuffle, each document is *winnowed*: every K-byte gram (``gram_bytes``) is
hashed, and robust winnowing (Schleimer, Wilkerson, Aiken 2003) keeps the
minimum of every window of w consecutive gram hashes, w = ``min_length`` - K
+ 1 unless set. Guarantee: every window of L = ``min_length`` bytes holds w
whole grams and its minimum is selected in every document that contains it,
so two documents that share a substring of >= L bytes share a fingerprint.
Robust winnowing keeps about 2/(w+1) of the positions (3.8% by default).

Around a fingerprint (an *anchor* at offset x) the *region* [x - (L - K),
x + L) holds every L-byte window that contains the gram. A window's *split*
is where the gram sits in it (0 .. L - K); the splits are cut into
``context_keys`` ranges, and context key i hashes the bytes that all windows
of split range i share (about L - (L - K) / ``context_keys`` bytes). A
fingerprint carries its gram hash, its document and offset, the context keys,
a *context* hash of the whole region (two anchors with equal contexts hold
the same windows), and a *tied* flag: the gram recurs within L - K bytes, so
two copies of a window may select different positions of its minimum.

Fingerprints are exchanged by gram hash (``exchange_buckets`` hash ranges,
as arrays). A *subgroup* is a gram hash with one context key value (or with
"tied"). Two copies of a window W share the subgroup of W's split, or are
both tied: if W's minimum is unique in W both copies select it at the same
place, so they agree on the key of W's split. The exchange issues requests,
"document D, ship the bytes around offset x that a split range needs (or the
whole region) to partition p":

* own pieces: every anchor in a subgroup seen twice or more, and every tied
  anchor, sends that part of its region to its own partition. A repeated
  window always lies inside such a piece of each of its copies, so a
  partition's suffix array never needs the rest of its documents (on the
  RFC corpus two thirds of the text).
* snippets, for subgroups seen in two or more partitions: anchors with equal
  contexts form a *class*; each class sends its first occurrence in corpus
  order, under ``keep_first``, to every other partition whose last
  occurrence in the subgroup comes later; under ``remove_all`` each
  partition with an occurrence gets the class's first occurrence outside it.

Why every repeat is found: let W occur in document D (partition p) and
earlier in E. W lies in a piece of D, and the anchor of W in E belongs to a
class whose first occurrence F has the same region bytes, so F holds a copy
of W no later than E's, in the same subgroup: F's piece reaches p, as an own
piece or a snippet. In partition p all pieces and snippets, in corpus order
(by their document's node key, then offset), go through
``find_repeated_spans``; ranges are kept for own pieces only, mapped back to
document offsets, and the partition's documents (which travel there whole)
are cut. A piece or snippet is a substring of a real document
at its real place in the order, so it never creates a repeat that does not
exist. The result equals the engine run over the whole corpus at once; a
64-bit hash collision between two contexts of one gram hash is the only way
to miss a repeat.

Work is bounded per class and partition, not per pair: a hash held by
thousands of documents (the IETF boilerplate) in one context costs at most P
requests, however many documents share it.

Sizes and memory
----------------
* Fingerprints: 27 bytes each (half the gram hash, context, document,
  offset, three 16-bit keys, tie flag) at 2/(w+1) per byte: ~1 byte per
  input byte, shuffled as arrays. An exchange bucket holds
  1/``exchange_buckets`` of them plus a table of the documents that have
  fingerprints there (id, source, position): ~30 MB a bucket for 1 GB of text
  at the default 32 buckets.
* Pieces and snippets: a request covers at most 2L - K bytes (150 by
  default); overlapping requests of a document for one partition merge. On
  the RFC corpus (494 MB, 4 partitions) the own pieces are 34% of the text
  and the snippets 21% (remove_all: 32%). Snippets are bounded by P times the
  regions of the classes seen in several partitions, whatever the number of
  documents that share them.
* Partition step: its documents arrive whole (with their piece ranges) and
  only pieces and snippets go through ``find_repeated_spans``, at 9.5 bytes
  per byte (int32 indices: under 2 GiB of pieces and snippets a partition).
  The stage copies pieces and snippets once into the joined buffer, drops the
  grouped strings (keeping each document's UTF-8 bytes), and puts a document
  whose pieces cover more than 90% of it in whole, to be read back from the
  buffer. So a partition peaks at 9.55 bytes per byte of its documents plus
  9.5 per byte of snippets (on RFC text ~6 per byte): choose
  ``max_partition_bytes`` so that ten times it fits a worker.
* Documents are shuffled twice: to meet their requests (join by id) and to
  their partition. A pipeline that already joins documents by id can do the
  first in that join.

Top repeated spans are reported as keyed hashes (MurmurHash3 of the bytes
under the run seed) with length and count, never the text unless
``report_span_text``. Counts are summed over partitions from each
partition's most frequent maximal repeats (occurrences in its own pieces), so
a span below every partition's top list is undercounted: an approximation.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Literal

import apache_beam as beam
import numpy as np
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from dedup import _winnow
from dedup.decisions import COPY_OF
from dedup.hashing import murmur3_128
from dedup.suffix_array import SEPARATOR, JoinedDocuments, find_repeated_spans
from schemas.removal import removal_record

STAGE = "substring"
TOO_SHORT = "too_short_after_substring_removal"
CUT_KEY = "substring_bytes_cut"
REMOVED = "removed"
STATS = "stats"

_MASK64 = (1 << 64) - 1
KIND_CODES = 16  # a request's target and region kind travel as target * KIND_CODES + kind
_PARTITION_SALT = b"substring-partition\0"


@dataclass(frozen=True)
class SubstringConfig:
    enabled: bool = field(default=True, metadata={"help": "cut substrings repeated anywhere in the corpus"})
    # 100 bytes is about Lee et al.'s 50 GPT-2 tokens of English text.
    min_length: int = field(default=100, metadata={"min": 16, "max": 1 << 20, "help": "shortest repeat cut, in bytes"})
    policy: Literal["keep_first", "remove_all"] = field(
        default="keep_first", metadata={"help": "keep the first occurrence in corpus order, or cut every one"})
    max_partition_bytes: int = field(
        default=256 << 20, metadata={"min": 1, "unit": "bytes",
                                     "help": "text bytes per suffix-array partition; a worker needs ~10x"})
    snap_to_whitespace: bool = field(default=False, metadata={"help": "shrink cuts to whole words"})
    # 1: only documents left empty (or whitespace only) go. A higher floor is a
    # length filter, and a length filter belongs to a stage that sees every
    # document: applied here it would drop short remainders only of documents
    # that happened to contain boilerplate.
    min_doc_bytes: int = field(
        default=1, metadata={"min": 1, "help": "a cut document keeping fewer bytes (besides whitespace) is removed"})
    top_spans: int = field(default=20, metadata={"min": 0, "max": 10_000, "help": "most repeated spans to report"})
    report_span_text: bool = field(default=False, metadata={"help": "put the text of the top spans in the report"})
    # K = 50: a 50-byte gram seldom recurs in unrelated contexts, so hash
    # groups stay small; w = 51 keeps 3.8% of positions.
    gram_bytes: int = field(default=50, metadata={"min": 8, "max": 1 << 20, "help": "winnowing gram K, bytes"})
    window: int = field(
        default=0, metadata={"min": 0, "help": "winnowing window w in grams; 0: min_length - gram_bytes + 1"})
    # Three keys, 6 bytes a fingerprint, shrink what the suffix arrays read on
    # the RFC corpus (50 MB, 4 partitions) from 45% (pieces) + 34% (snippets) of
    # the text to 30% + 15%.
    context_keys: int = field(
        default=3, metadata={"min": 0, "max": 8, "help": "context hashes per fingerprint that prune requests"})
    exchange_buckets: int = field(
        default=32, metadata={"min": 1, "max": 1 << 20, "help": "hash ranges the fingerprint exchange groups by"})
    batch_bytes: int = field(
        default=16 << 20, metadata={"min": 1, "unit": "bytes", "help": "text bytes winnowed per kernel call"})

    def __post_init__(self):
        if self.gram_bytes > self.min_length:
            raise ValueError(f"gram_bytes ({self.gram_bytes}) must not exceed min_length ({self.min_length})")
        if self.gram_bytes + self.window_grams - 1 > self.min_length:
            raise ValueError("gram_bytes + window - 1 must not exceed min_length, or shared substrings of "
                             "min_length bytes may share no fingerprint")

    @property
    def window_grams(self) -> int:
        return self.window or self.min_length - self.gram_bytes + 1


# --- winnowing ------------------------------------------------------------------------------


def _fmix64(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _MASK64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _MASK64
    return k ^ (k >> 33)


@dataclass(frozen=True)
class WinnowParams:
    """Everything the kernel needs; derived from the config and the run seed."""

    k: int
    w: int
    region_left: int  # the region of a gram at x is [x - region_left, x + region_right)
    region_right: int
    key_left: tuple[int, ...]  # context key i hashes [x - key_left[i], x + key_right[i])
    key_right: tuple[int, ...]
    table: tuple[int, ...]  # 256 random 64-bit values, one per byte
    base: int  # odd multiplier of the polynomial gram hash
    gram_seed: int
    ctx_seed: int

    @property
    def context_keys(self) -> int:
        return len(self.key_left)

    @property
    def kind_left(self) -> tuple[int, ...]:
        """Bytes before the anchor that region kind i needs: kind i < context_keys covers the
        windows whose gram sits at offsets [a_i, a_(i+1)), the last kind the whole region."""
        return tuple(self.region_right - right for right in self.key_right) + (self.region_left,)

    @property
    def kind_right(self) -> tuple[int, ...]:
        return tuple(self.region_right - left for left in self.key_left) + (self.region_right,)


def winnow_params(config: SubstringConfig, seed: int = 0) -> WinnowParams:
    """Kernel parameters. Context key i covers the windows whose gram sits at
    offsets [a_i, a_(i+1)) of the window: their common part."""
    k, length = config.gram_bytes, config.min_length
    splits = length - k + 1  # where a gram can sit in a window of min_length bytes
    m = min(config.context_keys, splits)
    cuts = [i * splits // m for i in range(m + 1)] if m else []
    key_left = tuple(cuts[i] for i in range(m))
    key_right = tuple(length - cuts[i + 1] + 1 for i in range(m))
    mix = _fmix64((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _MASK64)
    table = tuple(_fmix64((mix + (b + 1) * 0xD6E8FEB86659FD93) & _MASK64) for b in range(256))
    return WinnowParams(k=k, w=config.window_grams, region_left=length - k, region_right=length,
                        key_left=key_left, key_right=key_right, table=table,
                        base=_fmix64(mix ^ 0x5BD1E995) | 1, gram_seed=_fmix64(mix ^ 1), ctx_seed=_fmix64(mix ^ 2))


def winnow(texts: list[bytes], params: WinnowParams) -> dict[str, np.ndarray]:
    """Fingerprints of UTF-8 texts (the kernel): arrays ``hash``, ``ctx``, ``doc``, ``offset``,
    ``keys`` (n x context_keys) and ``tied``, in (doc, offset) order."""
    return _winnow.winnow(texts, params.k, params.w, params.region_left, params.region_right,
                          list(params.key_left), list(params.key_right),
                          np.array(params.table, dtype=np.uint64), params.base, params.gram_seed, params.ctx_seed)


def region_hash_reference(data: bytes, anchor: int, seed: int) -> int:
    """The kernel's region hash, in Python: words of 8 bytes, rotate-multiply, fmix64."""
    h = seed ^ ((len(data) * 0x9E3779B97F4A7C15) & _MASK64) ^ ((anchor * 0xC2B2AE3D27D4EB4F) & _MASK64)
    for i in range(0, len(data), 8):
        word = int.from_bytes(data[i:i + 8], "little")
        h ^= (word * 0x87C37B91114253D5) & _MASK64
        h = (((h << 29) | (h >> 35)) & _MASK64) * 0x4CF5AD432745937F & _MASK64
    return _fmix64(h ^ len(data))


def winnow_reference(texts: list[bytes], params: WinnowParams) -> dict[str, np.ndarray]:
    """Robust winnowing, literally: each gram hashed from scratch, each window scanned."""
    k, w = params.k, params.w
    rows = []
    for d, s in enumerate(texts):
        n = len(s)
        if n < k + w - 1:
            continue
        grams = n - k + 1
        hashes = []
        for i in range(grams):
            poly = 0
            for byte in s[i:i + k]:
                poly = (poly * params.base + params.table[byte]) & _MASK64
            hashes.append(_fmix64(poly ^ params.gram_seed))
        selected = None
        for j in range(grams - w + 1):
            window = hashes[j:j + w]
            low = min(window)
            if selected is not None and selected >= j and hashes[selected] == low:
                continue  # robust winnowing: the previous minimum is still in the window
            selected = j + max(t for t in range(w) if window[t] == low)  # else the rightmost minimum
            m = selected
            lo, hi = max(0, m - params.region_left), min(n, m + params.region_right)
            ctx = region_hash_reference(s[lo:hi], m - lo, params.ctx_seed)
            keys = []
            for q, (left, right) in enumerate(zip(params.key_left, params.key_right)):
                if m < left or m + right > n:
                    keys.append(0)
                else:
                    key = region_hash_reference(s[m - left:m + right], q, params.ctx_seed ^ 0x6A09E667F3BCC909)
                    keys.append((key >> 32) | 1)
            span = params.region_left
            tied = sum(hashes[y] == hashes[m] for y in range(max(0, m - span), min(grams, m + span + 1))) > 1
            rows.append((hashes[m], ctx, d, m, keys, tied))
    return {
        "hash": np.array([r[0] for r in rows], dtype=np.uint64),
        "ctx": np.array([r[1] for r in rows], dtype=np.uint64),
        "doc": np.array([r[2] for r in rows], dtype=np.uint32),
        "offset": np.array([r[3] for r in rows], dtype=np.uint32),
        "keys": np.array([r[4] for r in rows], dtype=np.uint32).reshape(len(rows), params.context_keys),
        "tied": np.array([r[5] for r in rows], dtype=bool),
    }


# --- placement ------------------------------------------------------------------------------


def partition_hash(doc_id: str, seed: int = 0) -> int:
    """Uniform 64-bit hash of a document id: where the document's suffix array is built."""
    return murmur3_128(_PARTITION_SALT + doc_id.encode("utf-8"), seed & 0xFFFFFFFF)[0]


MAX_PARTITIONS = (1 << 32) // 16  # a request's target * KIND_CODES + kind travels as uint32


def partition_count(total_bytes: int, max_partition_bytes: int) -> int:
    count = max(1, math.ceil(total_bytes / max_partition_bytes))
    if count > MAX_PARTITIONS:
        raise ValueError(f"{count} partitions: raise max_partition_bytes (at most {MAX_PARTITIONS} partitions)")
    return count


def partition_of(hash64: int, partitions: int) -> int:
    """Range partition of the 64-bit hash space into equal parts."""
    return (hash64 * partitions) >> 64


def partitions_of(hashes: np.ndarray, partitions: int) -> np.ndarray:
    """:func:`partition_of` for a uint64 array (exact: partitions < 2**31)."""
    hi, lo = hashes >> np.uint64(32), hashes & np.uint64(0xFFFFFFFF)
    p = np.uint64(partitions)
    return ((hi * p + ((lo * p) >> np.uint64(32))) >> np.uint64(32)).astype(np.int64)


# --- fingerprint batches: what the exchange shuffles ---------------------------------------

# Columns of a fingerprint record, each stored as little-endian bytes: 27 bytes a
# fingerprint. The bucket is the low half of the gram hash, so a record keeps the high
# half; context keys keep 16 bits. A collision of either only merges groups, which
# adds requests and never loses one; the context hash decides which copy is shipped
# and keeps all 64 bits.
FINGERPRINT_COLUMNS = {"hash": "<u4", "ctx": "<u8", "doc": "<u4", "offset": "<u4", "tied": "u1", "keys": "<u2"}


def bucket_of(hashes: np.ndarray, buckets: int) -> np.ndarray:
    return (((hashes & np.uint64(0xFFFFFFFF)) * np.uint64(buckets)) >> np.uint64(32)).astype(np.int64)


def _short_keys(keys: np.ndarray) -> np.ndarray:
    """16 bits of each context key, 0 (no window of that split fits the document) kept 0."""
    return np.where(keys != 0, (keys >> np.uint32(16)) | np.uint32(1), 0).astype("<u2")


def fingerprint_count(record: dict) -> int:
    return len(record["hash"]) // 4


def fingerprint_batch(docs: list[dict], params: WinnowParams, buckets: int,
                      seed: int = 0) -> tuple[int, list[tuple[int, dict]]]:
    """Winnow a batch of documents: (its text bytes, one record per exchange bucket it has
    fingerprints in).

    A record is a dict of primitives (Beam encodes it without pickle): the
    documents that have fingerprints in the bucket (``ids``, ``sources``: str
    lists; ``source`` indexing ``sources``, ``position``, ``doc_hash``: arrays
    as bytes) and the fingerprints, column by column (:data:`FINGERPRINT_COLUMNS`,
    ``doc`` indexing the record's documents, ``keys`` row-major).
    """
    texts = [doc["text"].encode("utf-8") for doc in docs]
    size = sum(map(len, texts))
    found = winnow(texts, params)
    del texts
    if len(found["hash"]) == 0:
        return size, []
    sources = sorted({doc["source"] for doc in docs})
    source_index = {source: i for i, source in enumerate(sources)}
    doc_source = np.array([source_index[doc["source"]] for doc in docs], dtype="<u4")
    doc_position = np.array([doc["position"] for doc in docs], dtype="<i8")
    doc_hash = np.array([partition_hash(doc["id"], seed) for doc in docs], dtype="<u8")
    bucket = bucket_of(found["hash"], buckets)
    order = np.argsort(bucket, kind="stable")  # keeps (doc, offset) order inside a bucket
    bounds = np.searchsorted(bucket[order], np.arange(buckets + 1))
    out = []
    for b in np.flatnonzero(np.diff(bounds)):
        take = order[bounds[b]:bounds[b + 1]]
        doc = found["doc"][take]
        first = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
        present = doc[first]
        local = np.repeat(np.arange(len(present), dtype="<u4"), np.diff(np.append(first, len(doc))))
        used = sorted(set(doc_source[present].tolist()))
        remap = np.zeros(len(sources), dtype="<u4")
        remap[used] = np.arange(len(used), dtype="<u4")
        out.append((int(b), {
            "ids": [docs[i]["id"] for i in present.tolist()],
            "sources": [sources[i] for i in used],
            "source": remap[doc_source[present]].tobytes(),
            "position": doc_position[present].tobytes(),
            "doc_hash": doc_hash[present].tobytes(),
            "hash": (found["hash"][take] >> np.uint64(32)).astype("<u4").tobytes(),
            "ctx": found["ctx"][take].tobytes(),
            "doc": local.tobytes(),
            "offset": found["offset"][take].tobytes(),
            "tied": found["tied"][take].view(np.uint8).tobytes(),
            "keys": _short_keys(found["keys"][take]).tobytes(),
        }))
    return size, out


# --- exchange: fingerprints of one hash range -> snippet requests ---------------------------


def _mix64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A 64-bit hash of two uint64 arrays (subgroup ids; a collision only adds requests)."""
    x = a * np.uint64(0x9E3779B97F4A7C15) ^ b
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> np.uint64(33))


def _expand(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, index): every index in [lo[i], hi[i]) with its i."""
    counts = hi - lo
    owner = np.repeat(np.arange(len(lo)), counts)
    starts = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    return owner, starts + np.arange(len(owner))


def _runs(*keys: np.ndarray) -> np.ndarray:
    """Start of every run of equal rows in sorted key columns (plus the end)."""
    n = len(keys[0])
    new = np.zeros(n, dtype=bool)
    if n:
        new[0] = True
        for key in keys:
            new[1:] |= key[1:] != key[:-1]
    return np.append(np.flatnonzero(new), n)


@dataclass
class ExchangeResult:
    """Requests (document, anchor offset, target partition, region kind) of one bucket, with
    the documents' identities.

    A request to the document's own partition asks for a piece of its text
    for that partition's suffix array; to another partition, for a snippet.
    """

    ids: list
    sources: list
    positions: np.ndarray
    request_doc: np.ndarray
    request_offset: np.ndarray
    request_target: np.ndarray
    request_kind: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cross_hashes: int = 0
    own_anchors: int = 0
    snippet_requests: int = 0

    def stats(self) -> dict:
        return {"cross_partition_hashes": self.cross_hashes, "own_anchors": self.own_anchors,
                "snippet_requests": self.snippet_requests}

    def set_requests(self, doc: np.ndarray, offset: np.ndarray, target: np.ndarray, kind: np.ndarray) -> None:
        """Grouped by document. Requests are distinct: an own piece per (anchor, kind), a
        snippet per (class, subgroup, partition), and a class has one first occurrence."""
        order = np.argsort(doc, kind="stable")
        self.request_doc, self.request_offset = doc[order], offset[order]
        self.request_target, self.request_kind = target[order], kind[order]

    def by_document(self) -> dict[tuple[str, str, int], tuple[bytes, bytes]]:
        """(id, source, position) -> (anchor offsets, target * KIND_CODES + kind), as uint32 bytes."""
        bounds = _runs(self.request_doc)
        codes = self.request_target * KIND_CODES + self.request_kind
        out = {}
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            d = int(self.request_doc[lo])
            out[(self.ids[d], self.sources[d], int(self.positions[d]))] = (
                self.request_offset[lo:hi].astype("<u4").tobytes(), codes[lo:hi].astype("<u4").tobytes())
        return out


def _columns(records: list[dict], context_keys: int) -> tuple[dict, dict]:
    """The records' documents and fingerprints, concatenated (``doc`` made global)."""
    ids, sources, source_idx, doc_base = [], [], [], []
    for rec in records:
        source_idx.append(np.frombuffer(rec["source"], dtype="<u4").astype(np.int64) + len(sources))
        doc_base.append(len(ids))
        ids.extend(rec["ids"])
        sources.extend(rec["sources"])
    docs = {
        "ids": ids,
        "sources": sources,
        "source": np.concatenate(source_idx),
        "position": np.concatenate([np.frombuffer(r["position"], dtype="<i8") for r in records]),
        "doc_hash": np.concatenate([np.frombuffer(r["doc_hash"], dtype="<u8") for r in records]),
    }
    fps = {name: np.concatenate([np.frombuffer(r[name], dtype=dtype) for r in records])
           for name, dtype in FINGERPRINT_COLUMNS.items()}
    fps["doc"] = np.concatenate([np.frombuffer(r["doc"], dtype="<u4").astype(np.int64) + base
                                 for r, base in zip(records, doc_base)])
    fps["keys"] = fps["keys"].reshape(-1, context_keys) if context_keys else np.zeros((len(fps["hash"]), 0), np.uint16)
    fps["hash"] = fps["hash"].astype(np.uint64)
    return docs, fps


def _subgroups(h: np.ndarray, keys: np.ndarray, tied: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(subgroup id, row, region kind) for rows with gram hashes ``h``: one per nonzero
    context key (kind i) and one per tied row (the last kind: the whole region), sorted by id."""
    context_keys = keys.shape[1]
    ids, rows, kinds = [], [], []
    for i in range(context_keys):
        has = np.flatnonzero(keys[:, i])
        ids.append(_mix64(h[has], (np.uint64(i) << np.uint64(32)) | keys[has, i].astype(np.uint64)))
        rows.append(has)
        kinds.append(np.full(len(has), i, dtype=np.int64))
    has = np.flatnonzero(tied) if context_keys else np.arange(len(h))  # no keys: the hash alone
    ids.append(_mix64(h[has], np.full(len(has), 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)))
    rows.append(has)
    kinds.append(np.full(len(has), context_keys, dtype=np.int64))
    ids, rows, kinds = np.concatenate(ids), np.concatenate(rows), np.concatenate(kinds)
    order = np.argsort(ids, kind="stable")
    return ids[order], rows[order], kinds[order]


def snippet_requests(records: Iterable[dict], partitions: int, policy: str, context_keys: int) -> ExchangeResult:
    """The requests of one exchange bucket (see the module doc for the rule).

    A request is (document, anchor offset, target partition, region kind):
    kind i < ``context_keys`` asks for the windows whose gram sits in split
    range i (the windows context key i certifies), kind ``context_keys`` for
    the whole region. Own pieces: the regions whose context key (or, for tied
    anchors, hash) occurs at least twice in the corpus. Snippets: as in the
    module doc.
    """
    if policy not in ("keep_first", "remove_all"):
        raise ValueError(f"unknown policy {policy!r}: keep_first or remove_all")
    records = list(records)
    empty = np.zeros(0, dtype=np.int64)
    if not records:
        return ExchangeResult([], [], empty, empty, empty, empty)
    docs, fps = _columns(records, context_keys)
    doc_sources = [docs["sources"][i] for i in docs["source"].tolist()]
    result = ExchangeResult(docs["ids"], doc_sources, docs["position"], empty, empty, empty)
    part_of_doc = partitions_of(docs["doc_hash"], partitions)

    h = fps["hash"]
    part = part_of_doc[fps["doc"]]
    by_hash = np.argsort(h)
    hs = _runs(h[by_hash])
    sizes = np.diff(hs)

    # 0. own pieces: a window can repeat only where its context key (or, for a
    # tied anchor, its hash) occurs twice; those regions go to the own partition
    multi = by_hash[np.repeat(sizes >= 2, sizes)]
    tied_rows = np.flatnonzero(fps["tied"])
    sub_id, sub_row, sub_kind = _subgroups(h[multi], fps["keys"][multi], fps["tied"][multi] != 0)
    runs = _runs(sub_id)
    repeated = np.repeat(np.diff(runs) >= 2, np.diff(runs))
    own_rows = np.concatenate([multi[sub_row[repeated]], tied_rows])
    own_kind = np.concatenate([sub_kind[repeated], np.full(len(tied_rows), context_keys, dtype=np.int64)])
    own = (fps["doc"][own_rows], fps["offset"][own_rows].astype(np.int64), part[own_rows], own_kind)
    is_own = np.zeros(len(h), dtype=bool)
    is_own[own_rows] = True
    result.own_anchors = int(is_own.sum())

    # 1. only hashes seen in two or more partitions need snippets
    spread = np.minimum.reduceat(part[by_hash], hs[:-1]) != np.maximum.reduceat(part[by_hash], hs[:-1])
    result.cross_hashes = int(spread.sum())
    keep = by_hash[np.repeat(spread, sizes)]
    if len(keep) == 0:
        result.set_requests(*own)
        return result
    # corpus order of the documents: by source string, then position
    _, source_rank = np.unique(np.array(docs["sources"], dtype=object), return_inverse=True)
    doc_order = np.lexsort((docs["position"], source_rank[docs["source"]]))
    rank = np.empty(len(doc_order), dtype=np.uint64)
    rank[doc_order] = np.arange(len(doc_order), dtype=np.uint64)
    doc, offset = fps["doc"][keep], fps["offset"][keep]
    h, ctx, part = h[keep], fps["ctx"][keep], part[keep]
    ro = (rank[doc] << np.uint64(32)) | offset.astype(np.uint64)  # corpus order of occurrences

    # 2. classes (hash, context) and their occurrences per partition
    order = np.lexsort((ro, part, ctx, h))
    keep, doc, offset, h, ctx, part, ro = (x[order] for x in (keep, doc, offset, h, ctx, part, ro))
    cp = _runs(h, ctx, part)  # (class, partition) runs
    cp_first, cp_last = cp[:-1], cp[1:] - 1
    cls = _runs(h, ctx)
    n_cls = len(cls) - 1
    cls_of_cp = np.repeat(np.arange(n_cls), np.diff(np.searchsorted(cp_first, cls)))
    head_ro = np.minimum.reduceat(ro[cp_first], np.searchsorted(cp_first, cls[:-1]))
    is_head = ro[cp_first] == head_ro[cls_of_cp]
    head_row = np.empty(n_cls, dtype=np.int64)
    head_row[cls_of_cp[is_head]] = cp_first[is_head]
    head_part = part[head_row]
    other = part[cp_first] != head_part[cls_of_cp]  # first occurrence outside the head's partition
    alt_ro = np.full(n_cls, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(alt_ro, cls_of_cp[other], ro[cp_first[other]])
    found_alt = other & (ro[cp_first] == alt_ro[cls_of_cp])
    alt_row = np.full(n_cls, -1, dtype=np.int64)
    alt_row[cls_of_cp[found_alt]] = cp_first[found_alt]

    # 3. subgroups of classes: (hash, context key i), (hash, tied)
    head_fp = keep[head_row]
    sub_id, sub_cls, sub_kind = _subgroups(h[head_row], fps["keys"][head_fp], fps["tied"][head_fp] != 0)

    # 4. per (subgroup, partition): the last occurrence there
    cp_bounds = np.searchsorted(cls_of_cp, np.arange(n_cls + 1))
    owner, cp_idx = _expand(cp_bounds[sub_cls], cp_bounds[sub_cls + 1])
    sp_sub, sp_part, sp_last = sub_id[owner], part[cp_first[cp_idx]], ro[cp_last[cp_idx]]
    order = np.lexsort((sp_last, sp_part, sp_sub))
    sp_sub, sp_part, sp_last = sp_sub[order], sp_part[order], sp_last[order]
    ends = _runs(sp_sub, sp_part)[1:] - 1  # the last row of each run holds the maximum
    sp_sub, sp_part, sp_last = sp_sub[ends], sp_part[ends], sp_last[ends]

    # 5. classes x partitions of their subgroup -> requests
    lo = np.searchsorted(sp_sub, sub_id, side="left")
    hi = np.searchsorted(sp_sub, sub_id, side="right")
    spans = hi - lo >= 2
    owner, sp_idx = _expand(lo[spans], hi[spans])
    c, kind = sub_cls[spans][owner], sub_kind[spans][owner]
    target = sp_part[sp_idx]
    if policy == "keep_first":
        wanted = (target != head_part[c]) & (head_ro[c] < sp_last[sp_idx])
        source_row = head_row[c][wanted]
    else:
        # a class with two occurrences in the target shows its windows twice there already
        cp_key = cls_of_cp * partitions + part[cp_first]
        at = np.minimum(np.searchsorted(cp_key, c * partitions + target), len(cp_key) - 1)
        there = np.where(cp_key[at] == c * partitions + target, cp_last[at] - cp_first[at] + 1, 0)
        source = np.where(target != head_part[c], head_row[c], alt_row[c])
        wanted = (source >= 0) & (there < 2)
        source_row = source[wanted]
    result.set_requests(np.concatenate([own[0], doc[source_row]]),
                        np.concatenate([own[1], offset[source_row].astype(np.int64)]),
                        np.concatenate([own[2], target[wanted]]),
                        np.concatenate([own[3], kind[wanted]]))
    result.snippet_requests = int((result.request_target != part_of_doc[result.request_doc]).sum())
    return result


# --- snippets: a document ships the regions other partitions asked for ----------------------


def snippet_regions(offsets: np.ndarray, codes: np.ndarray, text_bytes: int,
                    params: WinnowParams) -> dict[int, list[tuple[int, int]]]:
    """Target partition -> merged byte ranges [start, end) around the requested anchors
    (``codes``: target * KIND_CODES + region kind)."""
    offsets, codes = np.asarray(offsets, dtype=np.int64), np.asarray(codes, dtype=np.int64)
    targets, kinds = codes // KIND_CODES, codes % KIND_CODES
    start = np.maximum(offsets - np.array(params.kind_left, dtype=np.int64)[kinds], 0)
    end = np.minimum(offsets + np.array(params.kind_right, dtype=np.int64)[kinds], text_bytes)
    order = np.lexsort((start, targets))
    targets, start, end = targets[order], start[order], end[order]
    out = {}
    bounds = _runs(targets)
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        s, reach = start[lo:hi], np.maximum.accumulate(end[lo:hi])
        heads = np.flatnonzero(np.r_[True, s[1:] > reach[:-1]])
        tails = np.append(heads[1:], hi - lo) - 1
        out[int(targets[lo])] = list(zip(s[heads].tolist(), reach[tails].tolist()))
    return out


def ship(doc: dict, offsets: np.ndarray, codes: np.ndarray, params: WinnowParams,
         home: int) -> tuple[list[tuple[int, int]], list[tuple[int, dict]]]:
    """One document's requests: (its own pieces as byte ranges, [(target partition, snippet)]).

    A snippet holds the merged regions another partition asked for, with its
    source's place in corpus order (``source``, ``position``), ``id``, and per
    region ``starts`` and ``texts`` (bytes)."""
    regions = snippet_regions(offsets, codes, len(doc["text"].encode("utf-8")) if len(offsets) else 0, params)
    pieces = regions.pop(home, [])
    if not regions:
        return pieces, []
    data = doc["text"].encode("utf-8")
    return pieces, [(target, {
        "id": doc["id"], "source": doc["source"], "position": doc["position"],
        "starts": [a for a, _ in ranges], "texts": [data[a:b] for a, b in ranges],
    }) for target, ranges in sorted(regions.items())]


def _anchor_arrays(parts: Iterable[tuple[bytes, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    parts = list(parts)
    empty = np.zeros(0, np.int64)
    offsets = np.concatenate([np.frombuffer(o, dtype="<u4") for o, _ in parts]).astype(np.int64) if parts else empty
    targets = np.concatenate([np.frombuffer(t, dtype="<u4") for _, t in parts]).astype(np.int64) if parts else empty
    return offsets, targets


# --- partition step -------------------------------------------------------------------------

_WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")
_SPACE_RE = re.compile(rb"[ \t\n\r\x0b\x0c]")


def char_boundaries(data: bytes, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) so that it neither starts nor ends inside a UTF-8 character."""
    while start < end and (data[start] & 0xC0) == 0x80:
        start += 1
    while end > start and end < len(data) and (data[end] & 0xC0) == 0x80:
        end -= 1
    return start, end


def word_boundaries(data: bytes, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) to whole words: start after whitespace (or at 0), end at whitespace (or the end)."""
    if start > 0 and data[start - 1] not in _WHITESPACE:
        found = _SPACE_RE.search(data, start, end)
        start = found.end() if found else end
    if end < len(data) and data[end] not in _WHITESPACE:
        end = max([data.rfind(bytes([c]), start, end) for c in _WHITESPACE] + [start])
    return start, max(start, end)


def apply_cuts(data: bytes, ranges: list[tuple[int, int]], snap_to_whitespace: bool = False) -> tuple[bytes, int, list[tuple[int, int]]]:
    """(text without the ranges, bytes cut, the ranges actually cut) for merged, sorted ranges."""
    pieces, cut, done, kept_from = [], 0, [], 0
    for start, end in ranges:
        start, end = char_boundaries(data, start, end)
        if snap_to_whitespace:
            start, end = word_boundaries(data, start, end)
        if end <= start:
            continue
        pieces.append(data[kept_from:start])
        cut += end - start
        done.append((start, end))
        kept_from = end
    pieces.append(data[kept_from:])
    return b"".join(pieces), cut, done


def _count_overlapping(haystack: bytes, needle: bytes) -> int:
    count, at = 0, haystack.find(needle)
    while at >= 0:
        count += 1
        at = haystack.find(needle, at + 1)
    return count


def span_key(span: bytes, seed: int) -> str:
    """The keyed hash a repeated span is reported by (MurmurHash3 under the run seed)."""
    h1, h2 = murmur3_128(span, seed & 0xFFFFFFFF)
    return f"{h1:016x}{h2:016x}"


# A document whose pieces cover more than this share of it goes into the suffix
# array whole and is read back from the joined buffer: either way the partition
# holds at most 1 + 9.5 * 0.9 = 9.55 bytes per byte of its own text (module doc).
WHOLE_DOCUMENT_SHARE = 0.9


def cut_partition(docs: list[tuple[dict, list[tuple[int, int]]]], snippets: list[dict], config: SubstringConfig,
                  seed: int = 0, release: bool = False) -> tuple[list[dict], list[dict], dict]:
    """One partition: (its documents, cut; removal rows; stats).

    ``docs``: the partition's documents with their own pieces (byte ranges,
    merged, ascending); ``snippets``: what other partitions shipped here. The
    pieces and snippets, in corpus order, go through ``find_repeated_spans``;
    the ranges found in pieces are cut from their documents. With
    ``release`` the documents' ``text`` and the snippets' ``texts`` are dropped
    from the input dicts once copied (the Beam stage owns its grouped inputs;
    the plain function leaves the caller's dicts alone).
    """
    data: list[bytes | None] = []
    items = []  # ((source, position, start), document index or -1 - snippet index, piece or region index)
    docs = list(docs)
    for i, (doc, pieces) in enumerate(docs):
        raw = doc["text"].encode("utf-8")
        if release:
            doc.pop("text")
        covered = sum(b - a for a, b in pieces)
        if covered > WHOLE_DOCUMENT_SHARE * len(raw):
            pieces = [(0, len(raw))]
        docs[i] = (doc, pieces)
        data.append(raw)
        items.extend(((doc["source"], doc["position"], a), i, r) for r, (a, _) in enumerate(pieces))
    for j, snip in enumerate(snippets):
        items.extend(((snip["source"], snip["position"], a), -1 - j, r) for r, a in enumerate(snip["starts"]))
    items.sort()

    def piece(slot_item) -> bytes | memoryview:
        (_, _, start), i, r = slot_item
        if i < 0:
            return snippets[-1 - i]["texts"][r]
        end = docs[i][1][r][1]
        return memoryview(data[i])[start:end]

    sizes = np.array([len(piece(item)) for item in items], dtype=np.int64)
    starts = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum(sizes + 1, out=starts[1:])
    text = np.full(int(starts[-1]), SEPARATOR, dtype=np.uint8)  # UTF-8 never contains 0xFF
    whole = {}  # document index -> slot of the piece that is the whole document
    for slot, item in enumerate(items):
        text[starts[slot]:starts[slot + 1] - 1] = np.frombuffer(piece(item), dtype=np.uint8)
        i = item[1]
        if i >= 0 and docs[i][1] == [(0, len(data[i]))]:
            whole[i] = slot
    for i in whole:
        data[i] = None  # read back from the joined buffer
    own = np.array([i >= 0 for _, i, _ in items], dtype=bool)
    if release:
        for snip in snippets:
            snip.pop("texts", None)
    found = find_repeated_spans([], config.min_length, max_repeats=config.top_spans,
                                joined=JoinedDocuments(text, starts, SEPARATOR))
    ranges = found.cut_ranges(config.policy)

    def item_id(slot: int) -> str:
        i = items[slot][1]
        return docs[i][0]["id"] if i >= 0 else snippets[-1 - i]["id"]

    cuts: dict[int, list] = {}
    for slot, start, end, first in zip(ranges.doc.tolist(), ranges.start.tolist(), ranges.end.tolist(),
                                       ranges.first_doc.tolist()):
        if own[slot]:
            (_, _, piece_start), i, _ = items[slot]
            cuts.setdefault(i, []).append((piece_start + start, piece_start + end, first))

    kept, removed = [], []
    stats = {"documents_partitioned": len(docs),
             "own_piece_bytes": int(sizes[own].sum()), "snippet_bytes": int(sizes[~own].sum()),
             "snippet_regions": int((~own).sum()), "documents_modified": 0, "bytes_cut": 0,
             "documents_removed": 0, "spans": {}}
    for i, (doc, _) in enumerate(docs):
        raw = data[i] if data[i] is not None else text[starts[whole[i]]:starts[whole[i] + 1] - 1].tobytes()
        rest = {key: value for key, value in doc.items() if key != "text"}
        doc_cuts = cuts.get(i, [])
        new, cut, _ = apply_cuts(raw, [(a, b) for a, b, _ in doc_cuts], config.snap_to_whitespace)
        if cut and len(new.strip()) < config.min_doc_bytes:
            kept_id = None
            if config.policy == "keep_first":
                largest = max(doc_cuts, key=lambda c: c[1] - c[0])
                kept_id = item_id(largest[2])
                kept_id = None if kept_id == doc["id"] else kept_id
            removed.append(removal_record({**rest, "text_bytes": len(raw)}, STAGE, TOO_SHORT, kept_id=kept_id))
            stats["documents_removed"] += 1
            stats["bytes_cut"] += cut
            continue
        if cut:
            stats["documents_modified"] += 1
            stats["bytes_cut"] += cut
        kept.append({**rest, "text": (new if cut else raw).decode("utf-8"), CUT_KEY: cut})

    foreign = b"\xff".join(text[starts[slot]:starts[slot + 1] - 1].tobytes() for slot in np.flatnonzero(~own))
    reps = found.repeats
    for count, length, first_doc, first_offset in zip(reps.count.tolist(), reps.length.tolist(),
                                                     reps.first_doc.tolist(), reps.first_offset.tolist()):
        at = starts[first_doc] + first_offset
        span = text[at:at + length].tobytes()
        mine = count - _count_overlapping(foreign, span)  # occurrences in this partition's documents
        if mine <= 0:
            continue
        entry = stats["spans"].setdefault(span_key(span, seed), [length, 0, None])
        entry[1] += mine
        if config.report_span_text:
            entry[2] = span.decode("utf-8", errors="replace")
    return kept, removed, stats


# --- stats ----------------------------------------------------------------------------------


def merge_stats(parts: Iterable[dict]) -> dict:
    """Sum partial stats dicts (numbers add, ``spans`` add counts per keyed hash)."""
    out: dict = {"spans": {}}
    for part in parts:
        for key, value in part.items():
            if key == "spans":
                for digest, (length, count, text) in value.items():
                    entry = out["spans"].setdefault(digest, [length, 0, text])
                    entry[1] += count
            elif key == "partitions":
                out[key] = max(out.get(key, 0), value)
            else:
                out[key] = out.get(key, 0) + value
    return out


class LostRecords(RuntimeError):
    """The runner lost documents or fingerprints between the stage's steps."""


def finish_stats(acc: dict, config: SubstringConfig) -> dict:
    """The stage's stats dict: totals and the top spans (keyed hashes, no text unless asked).

    Raises :class:`LostRecords` when the documents winnowed are not the documents
    partitioned, or the fingerprints made not the fingerprints exchanged: a runner
    that drops records must fail the run, not thin its cuts.
    """
    for made, arrived in (("documents", "documents_partitioned"), ("fingerprints", "fingerprints_exchanged")):
        if acc.get(made, 0) != acc.get(arrived, 0):
            raise LostRecords(f"substring stage: {acc.get(made, 0)} {made} made, {acc.get(arrived, 0)} arrived")
    repeated = [kv for kv in acc.get("spans", {}).items() if kv[1][1] >= 2]
    spans = sorted(repeated, key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))[:config.top_spans]
    top = []
    for digest, (length, count, text) in spans:
        row = {"span_hash": digest, "length": length, "count": count}
        if config.report_span_text:
            row["text"] = text
        top.append(row)
    totals = {key: acc.get(key, 0) for key in (
        "documents", "input_bytes", "partitions", "fingerprints", "cross_partition_hashes", "own_anchors", "own_piece_bytes",
        "snippet_requests", "snippet_regions", "snippet_bytes", "documents_modified", "bytes_cut",
        "documents_removed")}
    return {**totals, "policy": config.policy, "min_length": config.min_length, "top_spans": top}


# --- without Beam ---------------------------------------------------------------------------


def _batches(docs: list[dict], batch_bytes: int) -> Iterable[list[dict]]:
    batch, size = [], 0
    for doc in docs:
        batch.append(doc)
        size += len(doc["text"])
        if size >= batch_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def substring_dedup(docs: list[dict], config: SubstringConfig = SubstringConfig(),
                    seed: int = 0) -> tuple[list[dict], list[dict], dict]:
    """Without Beam, in memory: (kept documents, removal rows, both in input order; stats).

    The same steps as :class:`SubstringDedup` (winnow, exchange, snippets,
    partitions), with the same result.
    """
    if not config.enabled:
        return list(docs), [], {}
    params = winnow_params(config, seed)
    parts = [{"fingerprints": 0, "input_bytes": 0, "documents": len(docs)}]
    buckets: dict[int, list[dict]] = {}
    for batch in _batches(docs, config.batch_bytes):
        size, records = fingerprint_batch(batch, params, config.exchange_buckets, seed)
        parts[0]["input_bytes"] += size
        for bucket, record in records:
            buckets.setdefault(bucket, []).append(record)
            parts[0]["fingerprints"] += fingerprint_count(record)
    partitions = parts[0]["partitions"] = partition_count(parts[0]["input_bytes"], config.max_partition_bytes)
    requests: dict[tuple[str, str, int], list[tuple[bytes, bytes]]] = {}
    for bucket in sorted(buckets):
        result = snippet_requests(buckets[bucket], partitions, config.policy, params.context_keys)
        parts.append({**result.stats(), "fingerprints_exchanged": sum(map(fingerprint_count, buckets[bucket]))})
        for key, anchors in result.by_document().items():
            requests.setdefault(key, []).append(anchors)
    own: dict[int, list] = {}
    shipped: dict[int, list[dict]] = {}
    for doc in docs:
        home = partition_of(partition_hash(doc["id"], seed), partitions)
        offsets, codes = _anchor_arrays(requests.get((doc["id"], doc["source"], doc["position"]), []))
        pieces, snippets = ship(doc, offsets, codes, params, home)
        own.setdefault(home, []).append((doc, pieces))
        for target, snippet in snippets:
            shipped.setdefault(target, []).append(snippet)
    kept, removed = [], []
    for p in sorted(own):
        k, r, stats = cut_partition(own[p], shipped.get(p, []), config, seed)
        kept.extend(k)
        removed.extend(r)
        parts.append(stats)
    place = {(doc["source"], doc["position"]): i for i, doc in enumerate(docs)}
    kept.sort(key=lambda doc: place[(doc["source"], doc["position"])])
    removed.sort(key=lambda row: place[(row["source"], row["position"])])
    return kept, removed, finish_stats(merge_stats(parts), config)


# --- Beam -----------------------------------------------------------------------------------


def _windowed(value):
    return WindowedValue(value, GlobalWindow().max_timestamp(), [GlobalWindow()])


class _Winnow(beam.DoFn):
    """Documents -> (bucket, fingerprint record), a kernel call per ``batch_bytes`` of text;
    and, tagged ``sizes``, (text bytes, fingerprints, documents) per call."""

    SIZES = "sizes"

    def __init__(self, config: SubstringConfig, seed: int):
        self.config, self.seed = config, seed

    def setup(self):
        self.params = winnow_params(self.config, self.seed)
        self.seen = beam.metrics.Metrics.counter(STAGE, "documents_winnowed")

    def start_bundle(self):
        self.batch, self.size = [], 0

    def process(self, doc):
        self.seen.inc()
        self.batch.append(doc)
        self.size += len(doc["text"])
        if self.size >= self.config.batch_bytes:
            yield from self._flush()

    def finish_bundle(self):
        for out in self._flush():
            if isinstance(out, beam.pvalue.TaggedOutput):
                yield beam.pvalue.TaggedOutput(out.tag, _windowed(out.value))
            else:
                yield _windowed(out)

    def _flush(self):
        if not self.batch:
            return
        batch, self.batch, self.size = self.batch, [], 0
        size, records = fingerprint_batch(batch, self.params, self.config.exchange_buckets, self.seed)
        yield beam.pvalue.TaggedOutput(self.SIZES, (size, sum(fingerprint_count(r) for _, r in records), len(batch)))
        yield from records


class _Requests(beam.DoFn):
    """(bucket, fingerprint records) -> (document id, requests), merged per document over a bundle."""

    def __init__(self, config: SubstringConfig, seed: int):
        self.config, self.seed = config, seed

    def setup(self):
        self.context_keys = winnow_params(self.config, self.seed).context_keys

    def start_bundle(self):
        self.pending: dict[tuple[str, str, int], list[tuple[bytes, bytes]]] = {}
        self.stats: list[dict] = []

    def process(self, keyed, partitions):
        _, records = keyed
        records = list(records)
        result = snippet_requests(records, partitions, self.config.policy, self.context_keys)
        self.stats.append({**result.stats(), "fingerprints_exchanged": sum(map(fingerprint_count, records))})
        for key, anchors in result.by_document().items():
            self.pending.setdefault(key, []).append(anchors)
        return ()

    def finish_bundle(self):
        for (doc_id, source, position), parts in self.pending.items():
            yield _windowed((doc_id, {"source": source, "position": position,
                                      "offsets": b"".join(o for o, _ in parts),
                                      "codes": b"".join(t for _, t in parts)}))
        yield beam.pvalue.TaggedOutput(STATS, _windowed(merge_stats(self.stats)))


class _Ship(beam.DoFn):
    """(id, {"docs", "requests"}) -> (home partition, ("doc", (document, own pieces))) and
    (target partition, ("snippet", snippet))."""

    def __init__(self, config: SubstringConfig, seed: int):
        self.config, self.seed = config, seed

    def setup(self):
        self.params = winnow_params(self.config, self.seed)
        self.shipped = beam.metrics.Metrics.counter(STAGE, "documents_shipped")

    def process(self, keyed, partitions):
        doc_id, joined = keyed
        requests = list(joined["requests"])
        home = partition_of(partition_hash(doc_id, self.seed), partitions)
        for doc in joined["docs"]:
            self.shipped.inc()
            offsets, codes = _anchor_arrays((r["offsets"], r["codes"]) for r in requests
                                            if (r["source"], r["position"]) == (doc["source"], doc["position"]))
            pieces, snippets = ship(doc, offsets, codes, self.params, home)
            for target, snippet in snippets:
                yield target, ("snippet", snippet)
            yield home, ("doc", (doc, pieces))


class _CutPartition(beam.DoFn):
    """(partition, [("doc", (document, pieces)) | ("snippet", s)]) -> cut documents; removal rows
    and stats tagged."""

    def __init__(self, config: SubstringConfig, seed: int):
        self.config, self.seed = config, seed

    def setup(self):
        self.cut = beam.metrics.Metrics.counter(STAGE, "documents_cut")

    def process(self, keyed):
        _, items = keyed
        docs, snippets = [], []
        for kind, value in items:
            if kind == "doc":
                docs.append((value[0], [tuple(r) for r in value[1]]))
            else:
                snippets.append(value)
        # The grouped values belong to this stage: dropping each text once it is
        # copied keeps the partition within 10 bytes per byte (module doc).
        kept, removed, stats = cut_partition(docs, snippets, self.config, self.seed, release=True)
        self.cut.inc(len(docs))
        yield from kept
        for row in removed:
            yield beam.pvalue.TaggedOutput(REMOVED, row)
        yield beam.pvalue.TaggedOutput(STATS, stats)


class _Stats(beam.CombineFn):
    def __init__(self, config: SubstringConfig):
        self.config = config

    def create_accumulator(self):
        return {"spans": {}}

    def add_input(self, acc, part):
        return merge_stats([acc, part])

    def merge_accumulators(self, accs):
        return merge_stats(accs)

    def extract_output(self, acc):
        return finish_stats(acc, self.config)


class SubstringDedup(beam.PTransform):
    """Documents in; ``{"docs": cut documents, "removed": removal rows, "stats": one dict}`` out.

    Winnow (per document, no shuffle) -> exchange fingerprints by hash range
    (small records) -> requests -> join them with the documents by id and ship
    pieces and snippets -> group by partition: suffix array, cut ranges ->
    join the ranges with the documents by id and cut.
    """

    def __init__(self, config: SubstringConfig = SubstringConfig(), seed: int = 0):
        super().__init__()
        self.config, self.seed = config, seed

    def expand(self, all_docs):
        config, seed = self.config, self.seed
        if not config.enabled:
            return {"docs": all_docs, "removed": all_docs.pipeline | "NoRemovals" >> beam.Create([]),
                    "stats": all_docs.pipeline | "NoStats" >> beam.Create([{}])}
        # Kept copies of a duplicate (dedup max_copies > 1) are whole on purpose: they pass by, unindexed.
        docs, copies = all_docs | "SplitCopies" >> beam.Partition(lambda doc, _: int(COPY_OF in doc), 2)
        winnowed = docs | "Winnow" >> beam.ParDo(_Winnow(config, seed)).with_outputs(_Winnow.SIZES, main="fingerprints")
        sizes = winnowed[_Winnow.SIZES]
        total = sizes | "TextBytes" >> beam.Map(lambda s: s[0]) | "SumBytes" >> beam.CombineGlobally(sum)
        partitions = total | "Partitions" >> beam.Map(partition_count, config.max_partition_bytes)
        requests = (
            winnowed.fingerprints
            | "GroupByHashRange" >> beam.GroupByKey()
            | "Requests" >> beam.ParDo(_Requests(config, seed), partitions=beam.pvalue.AsSingleton(partitions))
            .with_outputs(STATS, main="requests")
        )
        cut = (
            {"docs": docs | "KeyById" >> beam.Map(lambda doc: (doc["id"], doc)), "requests": requests.requests}
            | "JoinRequestsById" >> beam.CoGroupByKey()
            | "Ship" >> beam.ParDo(_Ship(config, seed), partitions=beam.pvalue.AsSingleton(partitions))
            | "GroupByPartition" >> beam.GroupByKey()
            | "CutPartition" >> beam.ParDo(_CutPartition(config, seed)).with_outputs(REMOVED, STATS, main="docs")
        )
        counts = [
            total | "InputBytesStat" >> beam.Map(lambda t: {"input_bytes": t}),
            partitions | "PartitionsStat" >> beam.Map(lambda p: {"partitions": p}),
            sizes | "FingerprintsStat" >> beam.Map(lambda s: {"fingerprints": s[1], "documents": s[2]}),
            requests[STATS], cut[STATS],
        ]
        stats = counts | "FlattenStats" >> beam.Flatten() | "Stats" >> beam.CombineGlobally(_Stats(config))
        out = (cut.docs, copies) | "WithCopies" >> beam.Flatten()
        return {"docs": out, "removed": cut[REMOVED], "stats": stats}
