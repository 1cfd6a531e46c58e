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

How repeats that cross partitions are found
-------------------------------------------
Documents go to P = ceil(total text bytes / ``max_partition_bytes``)
partitions by a seeded 64-bit hash of their id (range partition). Before any
shuffle, each document is *winnowed*: every K-byte gram (``gram_bytes``) is
hashed, and robust winnowing (Schleimer, Wilkerson, Aiken 2003) keeps the
minimum of every window of w consecutive gram hashes, w = ``min_length`` - K
+ 1 unless set. Guarantee: every window of ``min_length`` bytes contains w
whole grams, its minimum is selected in every document that contains it, so
two documents that share any substring of >= ``min_length`` bytes share a
fingerprint. Robust winnowing keeps about 2/(w+1) of the positions (3.8%
with the defaults).

A fingerprint carries its gram hash, a *context* hash of the bytes around it
(the region [x - (L - K), x + L) that holds every L-byte window containing
the gram, L = ``min_length``) and ``context_keys`` 32-bit hashes of shorter
fixed slices of that region. Fingerprints are exchanged by gram hash (in
``exchange_buckets`` hash ranges, as arrays); for every hash seen in two or
more partitions the exchange issues *snippet requests*: "document D, ship the
region around offset x to partition p". Regions with the same context are one
*class*; a request names the class's first occurrence in corpus order, and
goes to a partition only if the class could share an L-byte window around the
gram with an occurrence there (same gram hash and one equal context key; or
both *tied*: the gram recurs within L - K bytes, where copies of a window may
pick different positions of their minimum):

* keep_first: partition p gets a class's first occurrence when it lies in
  another partition and before p's last occurrence of that (hash, key);
* remove_all: every partition with an occurrence gets one occurrence from
  another partition (the class's first outside p).

Why this finds every repeat: let window W of L bytes occur in document D
(partition p) and earlier in E (partition q != p). Both copies select W's
minimum gram; if that minimum is unique in W they select it at the same place
in W, so their regions agree on W, hence on the context key of W's split; if
not, both anchors are tied. The first occurrence F of E's context class has
the same region bytes, so it holds a copy of W no later than E's, and the
request ships it to p. In p the partition's own documents and the shipped
snippets, in corpus order (snippets by their source's node key and start),
go through ``find_repeated_spans``; cuts are kept for own documents only. A
snippet is a substring of a real document placed at its real place in the
order, so it shows an existing earlier (or other) occurrence and never
creates a repeat that does not exist. Misses are possible only through a
64-bit hash collision between two contexts of one gram hash.

Work is bounded per class and target partition, not per pair: a hash seen in
thousands of documents (the IETF boilerplate) with one context costs at most
P - 1 requests.

Sizes and memory
----------------
* Fingerprints: about 37 bytes each (hash, context, document, offset, three
  keys, tie flag) at 2/(w+1) per byte: ~1.4 bytes per input byte shuffled,
  in arrays; an exchange bucket holds 1/``exchange_buckets`` of them plus a
  table of the documents that have fingerprints there (id, source, position).
* Snippets: a request ships at most 2L - K bytes (150 with the defaults);
  overlapping requests of one document for one partition are merged, so a
  partition receives at most the regions around the first occurrences of the
  classes it shares with other partitions: on the RFC corpus with 4
  partitions ~15% of the corpus in all. It is bounded by P times the bytes of
  the regions of cross-partition fingerprint classes.
* Partition step: ``find_repeated_spans`` needs 9.5 bytes per byte of own
  documents plus snippets (int32 indices, partitions under 2 GiB); the texts
  are copied once into the joined buffer and the stage drops its own copy of
  each string before the suffix array is built, so the peak stays within 10
  bytes per input byte. Choose ``max_partition_bytes`` so that 10 times it,
  plus the snippets, fits a worker.

Top repeated spans are reported as keyed hashes (MurmurHash3 of the bytes
under the run seed) with length and count, never the text unless
``report_span_text``. Counts are summed over partitions from each
partition's most frequent maximal repeats (own occurrences only), so a span
below every partition's top list is not counted: an approximation.
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
from dedup.fingerprint import node_key
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
    # Three keys cut the snippet volume about in half on the RFC corpus (33% ->
    # 16% of the corpus at 4 partitions) for 12 bytes per fingerprint.
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


def partition_count(total_bytes: int, max_partition_bytes: int) -> int:
    return max(1, math.ceil(total_bytes / max_partition_bytes))


def partition_of(hash64: int, partitions: int) -> int:
    """Range partition of the 64-bit hash space into equal parts."""
    return (hash64 * partitions) >> 64


def partitions_of(hashes: np.ndarray, partitions: int) -> np.ndarray:
    """:func:`partition_of` for a uint64 array (exact: partitions < 2**31)."""
    hi, lo = hashes >> np.uint64(32), hashes & np.uint64(0xFFFFFFFF)
    p = np.uint64(partitions)
    return ((hi * p + ((lo * p) >> np.uint64(32))) >> np.uint64(32)).astype(np.int64)


# --- fingerprint batches: what the exchange shuffles ---------------------------------------

# Columns of a fingerprint record, each stored as little-endian bytes.
FINGERPRINT_COLUMNS = {"hash": "<u8", "ctx": "<u8", "doc": "<u4", "offset": "<u4", "tied": "u1", "keys": "<u4"}


def bucket_of(hashes: np.ndarray, buckets: int) -> np.ndarray:
    return (((hashes & np.uint64(0xFFFFFFFF)) * np.uint64(buckets)) >> np.uint64(32)).astype(np.int64)


def fingerprint_count(record: dict) -> int:
    return len(record["hash"]) // 8


def fingerprint_batch(docs: list[dict], params: WinnowParams, buckets: int, seed: int = 0) -> list[tuple[int, dict]]:
    """Winnow a batch of documents: one record per exchange bucket they have fingerprints in.

    A record is a dict of primitives (Beam encodes it without pickle): the
    documents that have fingerprints in the bucket (``ids``, ``sources``: str
    lists; ``source`` indexing ``sources``, ``position``, ``doc_hash``: arrays
    as bytes) and the fingerprints, column by column (:data:`FINGERPRINT_COLUMNS`,
    ``doc`` indexing the record's documents, ``keys`` row-major).
    """
    found = winnow([doc["text"].encode("utf-8") for doc in docs], params)
    if len(found["hash"]) == 0:
        return []
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
            "hash": found["hash"][take].tobytes(),
            "ctx": found["ctx"][take].tobytes(),
            "doc": local.tobytes(),
            "offset": found["offset"][take].tobytes(),
            "tied": found["tied"][take].view(np.uint8).tobytes(),
            "keys": found["keys"][take].astype("<u4").tobytes(),
        }))
    return out


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
    """Requests (document, anchor offset, target partition) with the documents' identities.

    A request to the document's own partition asks for a piece of its own
    text (around an anchor whose hash occurs elsewhere), to another partition
    for a snippet.
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
        """Sorted by (doc, offset, target, kind), duplicates dropped."""
        order = np.lexsort((kind, target, offset, doc))
        doc, offset, target, kind = doc[order], offset[order], target[order], kind[order]
        first = _runs(doc, offset, target, kind)[:-1]
        self.request_doc, self.request_offset = doc[first], offset[first]
        self.request_target, self.request_kind = target[first], kind[first]

    def by_document(self) -> dict[tuple[str, str, int], tuple[bytes, bytes]]:
        """(id, source, position) -> (anchor offsets, target * KIND_CODES + kind), as int64 bytes."""
        bounds = _runs(self.request_doc)
        codes = self.request_target * KIND_CODES + self.request_kind
        out = {}
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            d = int(self.request_doc[lo])
            out[(self.ids[d], self.sources[d], int(self.positions[d]))] = (
                self.request_offset[lo:hi].tobytes(), codes[lo:hi].tobytes())
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
    fps["keys"] = fps["keys"].reshape(-1, context_keys) if context_keys else np.zeros((len(fps["hash"]), 0), np.uint32)
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
    result.own_anchors = len(np.unique(own_rows))

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
        source = np.where(target != head_part[c], head_row[c], alt_row[c])
        wanted = source >= 0
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


def extract_snippets(doc: dict, offsets: np.ndarray, codes: np.ndarray, params: WinnowParams,
                     home: int) -> list[tuple[int, dict]]:
    """(target partition, snippet) for one document: the merged regions around its requested
    anchors. A snippet holds its source's place in corpus order (``source``, ``position``),
    ``id``, ``own`` (the target is the document's own partition, ``home``: these regions
    are pieces to cut, the others reference only) and, per region, ``starts`` and ``texts``."""
    data = doc["text"].encode("utf-8")
    out = []
    for target, ranges in sorted(snippet_regions(offsets, codes, len(data), params).items()):
        out.append((target, {
            "id": doc["id"], "source": doc["source"], "position": doc["position"], "own": target == home,
            "starts": [a for a, _ in ranges], "texts": [data[a:b] for a, b in ranges],
        }))
    return out


def _anchor_arrays(parts: Iterable[tuple[bytes, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    parts = list(parts)
    offsets = np.concatenate([np.frombuffer(o, dtype=np.int64) for o, _ in parts]) if parts else np.zeros(0, np.int64)
    targets = np.concatenate([np.frombuffer(t, dtype=np.int64) for _, t in parts]) if parts else np.zeros(0, np.int64)
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


def find_partition_ranges(snippets: list[dict], config: SubstringConfig, seed: int = 0,
                          release_texts: bool = False) -> tuple[list[tuple[str, dict]], dict]:
    """One partition: the cut ranges of the documents whose own pieces are here, and stats.

    ``snippets``: the partition's own pieces and the snippets other partitions
    shipped (:func:`extract_snippets`), in any order. Returns ``(id, record)``
    pairs, ``record`` = ``source``, ``position``, ``starts``/``ends`` (merged
    byte ranges of the document's text, ascending) and ``kept_id`` (the
    document holding the first occurrence of the largest range, under
    ``keep_first``). With ``release_texts`` each snippet's ``texts`` are
    dropped once copied into the joined buffer (the Beam stage owns its
    grouped inputs; the plain function leaves the caller's dicts alone).
    """
    items = sorted(((snip["source"], snip["position"], start), j, r)
                   for j, snip in enumerate(snippets) for r, start in enumerate(snip["starts"]))
    sizes = np.array([len(snippets[j]["texts"][r]) for _, j, r in items], dtype=np.int64)
    starts = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum(sizes + 1, out=starts[1:])
    text = np.full(int(starts[-1]), SEPARATOR, dtype=np.uint8)  # UTF-8 never contains 0xFF
    own = np.array([snippets[j]["own"] for _, j, _ in items], dtype=bool)
    for slot, (_, j, r) in enumerate(items):
        piece = snippets[j]["texts"][r]
        text[starts[slot]:starts[slot] + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
    if release_texts:
        for snip in snippets:
            snip.pop("texts", None)
    found = find_repeated_spans([], config.min_length, max_repeats=config.top_spans,
                                joined=JoinedDocuments(text, starts, SEPARATOR))
    ranges = found.cut_ranges(config.policy)

    out: dict[int, dict] = {}
    for slot, start, end, first in zip(ranges.doc.tolist(), ranges.start.tolist(), ranges.end.tolist(),
                                       ranges.first_doc.tolist()):
        if not own[slot]:
            continue
        (_, _, piece_start), j, _ = items[slot]
        record = out.get(j)
        if record is None:
            snip = snippets[j]
            record = out[j] = {"source": snip["source"], "position": snip["position"], "starts": [], "ends": [],
                               "kept_id": None, "largest": 0}
        record["starts"].append(piece_start + start)
        record["ends"].append(piece_start + end)
        if config.policy == "keep_first" and end - start > record["largest"]:
            record["largest"] = end - start
            record["kept_id"] = snippets[items[first][1]]["id"]
    results = []
    for j, record in out.items():
        del record["largest"]
        results.append((snippets[j]["id"], record))

    stats = {"partitions_run": 1, "own_piece_bytes": int(sizes[own].sum()), "snippet_bytes": int(sizes[~own].sum()),
             "snippet_regions": int((~own).sum()), "spans": {}}
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
    return results, stats


def cut_document(doc: dict, ranges: dict | None, config: SubstringConfig) -> tuple[dict | None, dict | None, dict]:
    """Apply one document's cut ranges: (kept document or None, removal row or None, stats)."""
    if not ranges:
        return {**doc, CUT_KEY: 0}, None, {}
    data = doc["text"].encode("utf-8")
    new, cut, _ = apply_cuts(data, list(zip(ranges["starts"], ranges["ends"])), config.snap_to_whitespace)
    rest = {key: value for key, value in doc.items() if key != "text"}
    if cut and len(new.strip()) < config.min_doc_bytes:
        row = removal_record({**rest, "text_bytes": len(data)}, STAGE, TOO_SHORT, kept_id=ranges.get("kept_id"))
        return None, row, {"documents_removed": 1, "bytes_cut": cut}
    if not cut:
        return {**doc, CUT_KEY: 0}, None, {}
    return {**rest, "text": new.decode("utf-8"), CUT_KEY: cut}, None, {"documents_modified": 1, "bytes_cut": cut}


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


def finish_stats(acc: dict, config: SubstringConfig) -> dict:
    """The stage's stats dict: totals and the top spans (keyed hashes, no text unless asked)."""
    spans = sorted(acc.get("spans", {}).items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))[:config.top_spans]
    top = []
    for digest, (length, count, text) in spans:
        row = {"span_hash": digest, "length": length, "count": count}
        if config.report_span_text:
            row["text"] = text
        top.append(row)
    totals = {key: acc.get(key, 0) for key in (
        "input_bytes", "partitions", "fingerprints", "cross_partition_hashes", "own_anchors", "own_piece_bytes",
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
    partitions, cuts), with the same result.
    """
    if not config.enabled:
        return list(docs), [], {}
    params = winnow_params(config, seed)
    total = sum(len(doc["text"].encode("utf-8")) for doc in docs)
    partitions = partition_count(total, config.max_partition_bytes)
    buckets: dict[int, list[dict]] = {}
    fingerprints = 0
    for batch in _batches(docs, config.batch_bytes):
        for bucket, record in fingerprint_batch(batch, params, config.exchange_buckets, seed):
            buckets.setdefault(bucket, []).append(record)
            fingerprints += fingerprint_count(record)
    parts = [{"input_bytes": total, "partitions": partitions, "fingerprints": fingerprints}]
    requests: dict[tuple[str, str, int], list[tuple[bytes, bytes]]] = {}
    for bucket in sorted(buckets):
        result = snippet_requests(buckets[bucket], partitions, config.policy, params.context_keys)
        parts.append(result.stats())
        for key, anchors in result.by_document().items():
            requests.setdefault(key, []).append(anchors)
    shipped: dict[int, list[dict]] = {}
    for doc in docs:
        offsets, codes = _anchor_arrays(requests.get((doc["id"], doc["source"], doc["position"]), []))
        if len(offsets):
            home = partition_of(partition_hash(doc["id"], seed), partitions)
            for target, snippet in extract_snippets(doc, offsets, codes, params, home):
                shipped.setdefault(target, []).append(snippet)
    ranges: dict[tuple[str, str, int], dict] = {}
    for p in sorted(shipped):
        found, stats = find_partition_ranges(shipped[p], config, seed)
        parts.append(stats)
        for doc_id, record in found:
            ranges[(doc_id, record["source"], record["position"])] = record
    kept, removed = [], []
    for doc in docs:
        out, row, stats = cut_document(doc, ranges.get((doc["id"], doc["source"], doc["position"])), config)
        parts.append(stats)
        if out is not None:
            kept.append(out)
        if row is not None:
            removed.append(row)
    return kept, removed, finish_stats(merge_stats(parts), config)


# --- Beam -----------------------------------------------------------------------------------


def _windowed(value):
    return WindowedValue(value, GlobalWindow().max_timestamp(), [GlobalWindow()])


class _Winnow(beam.DoFn):
    """Documents -> (bucket, fingerprint record), a kernel call per ``batch_bytes`` of text;
    and, tagged ``sizes``, (text bytes, fingerprints) per call."""

    SIZES = "sizes"

    def __init__(self, config: SubstringConfig, seed: int):
        self.config, self.seed = config, seed

    def setup(self):
        self.params = winnow_params(self.config, self.seed)

    def start_bundle(self):
        self.batch, self.size = [], 0

    def process(self, doc):
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
        records = fingerprint_batch(batch, self.params, self.config.exchange_buckets, self.seed)
        count = sum(fingerprint_count(r) for _, r in records)
        yield beam.pvalue.TaggedOutput(self.SIZES, (sum(len(d["text"].encode("utf-8")) for d in batch), count))
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
        result = snippet_requests(records, partitions, self.config.policy, self.context_keys)
        self.stats.append(result.stats())
        for key, anchors in result.by_document().items():
            self.pending.setdefault(key, []).append(anchors)
        return ()

    def finish_bundle(self):
        for (doc_id, source, position), parts in self.pending.items():
            yield _windowed((doc_id, {"source": source, "position": position,
                                      "offsets": b"".join(o for o, _ in parts),
                                      "codes": b"".join(t for _, t in parts)}))
        yield beam.pvalue.TaggedOutput(STATS, _windowed(merge_stats(self.stats)))


class _ShipSnippets(beam.DoFn):
    """(id, {"docs", "requests"}) -> (target partition, snippet), own pieces included."""

    def __init__(self, config: SubstringConfig, seed: int):
        self.config, self.seed = config, seed

    def setup(self):
        self.params = winnow_params(self.config, self.seed)

    def process(self, keyed, partitions):
        doc_id, joined = keyed
        requests = list(joined["requests"])
        if not requests:
            return
        home = partition_of(partition_hash(doc_id, self.seed), partitions)
        for doc in joined["docs"]:
            offsets, codes = _anchor_arrays((r["offsets"], r["codes"]) for r in requests
                                              if (r["source"], r["position"]) == (doc["source"], doc["position"]))
            if len(offsets):
                yield from extract_snippets(doc, offsets, codes, self.params, home)


class _FindRanges(beam.DoFn):
    """(partition, snippets) -> (id, cut ranges) of the documents whose pieces are here; stats tagged."""

    def __init__(self, config: SubstringConfig, seed: int):
        self.config, self.seed = config, seed

    def process(self, keyed):
        _, snippets = keyed
        # The grouped values belong to this stage: dropping each text once it is
        # copied keeps the partition within 10 bytes per byte (module doc).
        found, stats = find_partition_ranges(list(snippets), self.config, self.seed, release_texts=True)
        yield from found
        yield beam.pvalue.TaggedOutput(STATS, stats)


class _CutDocuments(beam.DoFn):
    """(id, {"docs", "ranges"}) -> cut documents; removal rows and stats tagged."""

    def __init__(self, config: SubstringConfig):
        self.config = config

    def process(self, keyed):
        _, joined = keyed
        ranges = {(r["source"], r["position"]): r for r in joined["ranges"]}
        for doc in joined["docs"]:
            out, row, stats = cut_document(doc, ranges.get((doc["source"], doc["position"])), self.config)
            if out is not None:
                yield out
            if row is not None:
                yield beam.pvalue.TaggedOutput(REMOVED, row)
            if stats:
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

    def expand(self, docs):
        config, seed = self.config, self.seed
        if not config.enabled:
            return {"docs": docs, "removed": docs.pipeline | "NoRemovals" >> beam.Create([]),
                    "stats": docs.pipeline | "NoStats" >> beam.Create([{}])}
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
        by_id = docs | "KeyById" >> beam.Map(lambda doc: (doc["id"], doc))
        ranges = (
            {"docs": by_id, "requests": requests.requests}
            | "JoinRequestsById" >> beam.CoGroupByKey()
            | "ShipSnippets" >> beam.ParDo(_ShipSnippets(config, seed), partitions=beam.pvalue.AsSingleton(partitions))
            | "GroupByPartition" >> beam.GroupByKey()
            | "FindRanges" >> beam.ParDo(_FindRanges(config, seed)).with_outputs(STATS, main="ranges")
        )
        cut = (
            {"docs": by_id, "ranges": ranges.ranges}
            | "JoinRangesById" >> beam.CoGroupByKey()
            | "Cut" >> beam.ParDo(_CutDocuments(config)).with_outputs(REMOVED, STATS, main="docs")
        )
        counts = [
            total | "InputBytesStat" >> beam.Map(lambda t: {"input_bytes": t}),
            partitions | "PartitionsStat" >> beam.Map(lambda p: {"partitions": p}),
            sizes | "FingerprintsStat" >> beam.Map(lambda s: {"fingerprints": s[1]}),
            requests[STATS], ranges[STATS], cut[STATS],
        ]
        stats = counts | "FlattenStats" >> beam.Flatten() | "Stats" >> beam.CombineGlobally(_Stats(config))
        return {"docs": cut.docs, "removed": cut[REMOVED], "stats": stats}
