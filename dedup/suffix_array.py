"""Suffix array, LCP array and the repeated-span finder behind exact-substring removal.

Contract
--------
``suffix_array(text)`` sorts all suffixes of a byte buffer (or of a uint16
symbol array) with SA-IS, a linear-time induced-sorting algorithm (Nong,
Zhang, Chan 2009), never by comparison. Indices are int32 while the input is
shorter than 2**31 - 1 symbols and int64 beyond (``force_64bit=True`` forces
the 64-bit kernel on any input, which the tests use). ``lcp_array(text, sa)``
gives ``lcp[r] = lcp(suffix sa[r-1], suffix sa[r])`` with ``lcp[0] = 0``,
from a sampled Phi array (Kärkkäinen, Manzini, Puglisi 2009). Both release
the GIL; the kernels are in ``dedup/_suffix_array.pyx``.

``find_repeated_spans(documents, min_length)`` builds both over the
documents joined by a separator, and reports, per document, the byte ranges
covered by a repeat of at least ``min_length`` bytes:

* a *repeat* is a byte string that occurs at two or more distinct positions
  inside documents (occurrences may overlap, and may be in one document);
  no occurrence ever spans two documents;
* ``remove_all``: every byte that lies inside an occurrence of a repeat of
  length >= L. Equivalently, the union of all occurrences of every L-byte
  string that occurs twice (a longer repeat is covered by its L-byte
  windows), so the result does not depend on how repeats overlap;
* ``keep_first``: every byte that lies inside an occurrence of a repeat of
  length >= L that is *not* its first occurrence in corpus order (the order
  of ``documents``, then offset), i.e. inside an L-byte window whose bytes
  already occurred earlier. Every repeated string keeps its first
  occurrence unless that copy overlaps a later copy of another repeat. A
  periodic run (``"-" * 300``, ``"ab" * 100``) longer than L plus its
  period keeps only its first period: each later window copies an earlier,
  overlapping one;
* overlapping and touching ranges of one document are merged, so every
  reported range is maximal: it cannot be extended by one byte on either
  side without taking in a byte that no qualifying occurrence covers;
* each range also names where its leading L bytes first occur in corpus
  order (``first_doc``, ``first_offset``): the kept copy for ``keep_first``,
  usable as ``kept_id`` in the removal log;
* ``repeats``: the most frequent *maximal repeats* of length >= L, the
  groups behind the ranges. A maximal repeat is a repeated string that can
  be extended neither left nor right without losing an occurrence: its
  occurrences are not all preceded by the same byte (a document start
  counts as unique) and not all followed by the same byte. Each row gives
  its length, its number of occurrences (overlapping ones included) and its
  first occurrence; the stage reports them as keyed hashes of those bytes.
  Periodic repeats (a period of at most ``exclude_period`` bytes, 8 by
  default, at most half the length) are left out of the table: every length
  of a long run of padding or rules is a maximal repeat of its own, and
  they would fill it. They are still covered by the ranges.

Document boundaries: the separator is a symbol that occurs in no document.
The join uses byte 0xFF (never present in UTF-8) or, when a document
contains it, the highest byte value absent from all documents; if all 256
values occur, the text is widened to uint16 symbols with separator 256. The
LCP is clamped at the separator, so no common prefix, hence no repeat, ever
crosses a document end, whatever bytes documents contain.

Size limits and memory, for n bytes of documents (plus one separator each),
with int32 indices (joined text < 2 GiB): text n, SA 4n, LCP 4n, plus the
larger of the sampled Phi array (n/4, freed after the LCP) and the scan's
two bitmaps (n/4): peak 9.25n on top of the interpreter. The caller's own
copy of the documents comes on top of that: to stay under 10 bytes per
input byte for a partition, join once (:func:`join_documents`), drop the
document list, pass ``joined=`` and slice documents back out of
``joined.text``. SA-IS itself peaks at text + SA + its level-1 buckets
(<= 9n on adversarial input, ~5n on text), before the LCP is allocated.
int64 indices (>= 2 GiB, or ``force_64bit``) double SA, LCP and the Phi
samples: 17.5n, so a partition should stay below 2 GiB. The uint16 fallback adds n bytes. The
whole partition is processed on one worker. The scan also keeps a stack of
32 bytes per nesting level of repeats: deep nesting takes a long periodic
run, one level per byte (a 1 MB run of one byte value: 32 MB).

Thresholds are in bytes, not whitespace tokens. A suffix array groups
suffixes by a prefix of fixed length; a token threshold gives every start
position its own byte threshold (the bytes spanned by its next K tokens),
which breaks the contiguous groups the scan relies on and would need that
threshold per text position (4 more bytes per byte, over the budget) or a
word-level suffix array. Set ``min_length`` from the corpus instead: K
tokens of mean length t bytes (separator included) is about K * t bytes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from dedup import _suffix_array

INT32_LIMIT = 2**31 - 2  # largest n whose indices and n itself fit int32
DEFAULT_MIN_LENGTH = 100  # bytes; about Lee et al.'s 50 tokens of English
DEFAULT_SAMPLING = 16  # sparse-Phi sampling: n/4 extra bytes, ~1.7 word compares per position
# Runs of a short pattern (NUL padding, spaces, "-=-=", dot leaders) make one
# maximal repeat per length: 50 MB of RFCs put a single NUL run's 100..5000
# byte prefixes at the top of the table. Periods up to 8 bytes cover them.
DEFAULT_EXCLUDE_PERIOD = 8
SEPARATOR = 0xFF  # never occurs in UTF-8
WIDE_SEPARATOR = 256  # uint16 fallback when all 256 byte values occur


def as_symbols(text) -> np.ndarray:
    """A zero-copy C-contiguous uint8 (or uint16) array over ``text``."""
    if isinstance(text, np.ndarray):
        if text.dtype not in (np.uint8, np.uint16):
            raise TypeError(f"text arrays must be uint8 or uint16, not {text.dtype}")
        return np.ascontiguousarray(text).reshape(-1)
    if isinstance(text, str):
        raise TypeError("encode str to bytes first (UTF-8)")
    view = memoryview(text)
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    return np.frombuffer(view, dtype=np.uint8)


def suffix_array(text, *, force_64bit: bool = False) -> np.ndarray:
    """Start offsets of all suffixes of ``text`` in lexicographic order.

    ``text``: bytes, bytearray, memoryview, or a uint8/uint16 numpy array.
    Returns int32 for inputs under 2**31 - 1 symbols, else (or with
    ``force_64bit``) int64. A shorter suffix sorts before its extensions.
    """
    symbols = as_symbols(text)
    return _suffix_array.suffix_array(symbols, force_64bit or symbols.shape[0] > INT32_LIMIT)


def lcp_array(text, sa: np.ndarray, *, separator: int | None = None,
              sampling: int = DEFAULT_SAMPLING, threads: int = 1) -> np.ndarray:
    """``lcp[r]`` = length of the common prefix of suffixes ``sa[r-1]`` and ``sa[r]``; ``lcp[0] = 0``.

    With ``separator`` (a symbol that occurs only between documents) every
    value stops at the first separator: ``min(lcp, distance to the document
    end)``. ``sampling`` (a power of two) trades the n*4/sampling bytes of the
    sampled Phi array against up to ``sampling`` extra comparisons per value.
    ``threads`` > 1 splits each pass over that many threads (same result;
    worth it only where cores are idle: a Beam worker already runs one
    bundle per core). Same dtype as ``sa``.
    """
    symbols = as_symbols(text)
    sa = np.ascontiguousarray(sa)
    if sa.dtype not in (np.int32, np.int64):
        raise TypeError(f"sa must be int32 or int64, not {sa.dtype}")
    return _suffix_array.lcp_array(symbols, sa, -1 if separator is None else int(separator), sampling, threads)


def suffix_array_reference(text) -> np.ndarray:
    """Sorted suffixes, literally (quadratic memory: for tests)."""
    seq = as_symbols(text).tolist()
    return np.array(sorted(range(len(seq)), key=lambda i: seq[i:]), dtype=np.int64)


def lcp_array_reference(text, sa, separator: int | None = None) -> np.ndarray:
    """Adjacent common prefixes, compared symbol by symbol (for tests)."""
    seq = as_symbols(text).tolist()
    out = np.zeros(len(sa), dtype=np.int64)
    for r in range(1, len(sa)):
        a, b, h = int(sa[r - 1]), int(sa[r]), 0
        while a + h < len(seq) and b + h < len(seq) and seq[a + h] == seq[b + h] and seq[a + h] != separator:
            h += 1
        out[r] = h
    return out


# ---------------------------------------------------------------- corpus

@dataclass(frozen=True)
class JoinedDocuments:
    """Documents joined as ``doc0 SEP doc1 SEP ... docN-1 SEP``.

    ``starts[i]`` is the offset of document i in ``text`` and
    ``starts[len(documents)] == len(text)``; document i spans
    ``[starts[i], starts[i+1] - 1)``. ``separator`` occurs in no document.
    """

    text: np.ndarray  # uint8, or uint16 when all 256 byte values occur
    starts: np.ndarray  # int64, len(documents) + 1
    separator: int

    @property
    def num_documents(self) -> int:
        return len(self.starts) - 1

    def locate(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(document index, offset in that document) of global positions."""
        positions = np.asarray(positions, dtype=np.int64)
        doc = np.searchsorted(self.starts, positions, side="right") - 1
        return doc, positions - self.starts[doc]


def _as_bytes(doc) -> bytes | memoryview:
    if isinstance(doc, str):
        return doc.encode("utf-8")
    return doc


def join_documents(documents: Sequence) -> JoinedDocuments:
    """Join documents (bytes-like, or str encoded as UTF-8) with a separator none contains."""
    docs = [_as_bytes(d) for d in documents]
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    starts = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=starts[1:])
    separator = bytes([SEPARATOR])
    # A numpy copy, not the joined bytes object: numpy asks the kernel for
    # transparent huge pages, which makes the random text reads of SA-IS
    # and the LCP pass markedly cheaper (transient peak: 3n, far below 9n).
    text = np.frombuffer(separator.join(docs) + separator if docs else b"", dtype=np.uint8).copy()
    seps = starts[1:] - 1
    counts = np.bincount(text, minlength=256)
    counts[SEPARATOR] -= len(docs)
    if counts[SEPARATOR] == 0:
        return JoinedDocuments(text, starts, SEPARATOR)
    absent = np.flatnonzero(counts == 0)
    if len(absent):
        text[seps] = absent[-1]
        return JoinedDocuments(text, starts, int(absent[-1]))
    wide = text.astype(np.uint16)
    wide[seps] = WIDE_SEPARATOR
    return JoinedDocuments(wide, starts, WIDE_SEPARATOR)


# ---------------------------------------------------------------- repeated spans

@dataclass(frozen=True)
class SpanRanges:
    """Merged byte ranges ``[start, end)`` per document, rows sorted by (doc, start).

    ``first_doc``/``first_offset``: where the range's leading ``min_length``
    bytes occur first in corpus order (for ``keep_first`` always earlier
    than the range itself).
    """

    doc: np.ndarray
    start: np.ndarray
    end: np.ndarray
    first_doc: np.ndarray
    first_offset: np.ndarray

    def __len__(self) -> int:
        return len(self.doc)

    @property
    def total_bytes(self) -> int:
        return int((self.end - self.start).sum())

    def for_document(self, doc: int) -> list[tuple[int, int]]:
        lo, hi = np.searchsorted(self.doc, [doc, doc + 1])
        return list(zip(self.start[lo:hi].tolist(), self.end[lo:hi].tolist()))

    def by_document(self, num_documents: int) -> list[list[tuple[int, int]]]:
        bounds = np.searchsorted(self.doc, np.arange(num_documents + 1))
        starts, ends = self.start.tolist(), self.end.tolist()
        return [list(zip(starts[a:b], ends[a:b])) for a, b in zip(bounds[:-1], bounds[1:])]


@dataclass(frozen=True)
class Repeats:
    """Maximal repeats of length >= min_length: most occurrences first, then longest."""

    count: np.ndarray
    length: np.ndarray
    first_doc: np.ndarray
    first_offset: np.ndarray

    def __len__(self) -> int:
        return len(self.count)


@dataclass(frozen=True)
class RepeatedSpans:
    min_length: int
    num_documents: int
    remove_all: SpanRanges
    keep_first: SpanRanges
    repeats: Repeats

    def cut_ranges(self, policy: str) -> SpanRanges:
        """Ranges to cut for a removal policy: ``keep_first`` or ``remove_all``."""
        if policy == "keep_first":
            return self.keep_first
        if policy == "remove_all":
            return self.remove_all
        raise ValueError(f"unknown policy {policy!r}: keep_first or remove_all")


def _merge_runs(joined: JoinedDocuments, start, end, first) -> SpanRanges:
    """Runs come sorted by start with non-decreasing ends; merge overlapping or touching ones."""
    if len(start) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return SpanRanges(empty, empty, empty, empty, empty)
    new = np.ones(len(start), dtype=bool)
    new[1:] = start[1:] > np.maximum.accumulate(end)[:-1]
    heads = np.flatnonzero(new)
    tails = np.append(heads[1:], len(start)) - 1
    m_start, m_end = start[heads], np.maximum.accumulate(end)[tails]
    doc, offset = joined.locate(m_start)
    first_doc, first_offset = joined.locate(first[heads])
    return SpanRanges(doc, offset, m_end - joined.starts[doc], first_doc, first_offset)


def find_repeated_spans(documents: Sequence, min_length: int = DEFAULT_MIN_LENGTH, *,
                        max_repeats: int = 10_000, exclude_period: int = DEFAULT_EXCLUDE_PERIOD,
                        force_64bit: bool = False, threads: int = 1,
                        joined: JoinedDocuments | None = None) -> RepeatedSpans:
    """Ranges covered by repeats of >= ``min_length`` bytes, per document (see module doc).

    ``documents``: bytes-like (or str, encoded as UTF-8), in corpus order.
    ``max_repeats`` bounds the maximal-repeat table (0 skips it);
    ``exclude_period`` leaves out of it the repeats with a period of at most
    that many bytes (0 keeps them; at most 64). The ranges are unaffected.
    ``threads`` is passed to :func:`lcp_array` (SA-IS itself is sequential).
    Pass an already ``joined`` corpus (and no documents) to avoid a second
    copy of the text: see the module docstring on memory.
    """
    if min_length < 1:
        raise ValueError("min_length must be >= 1")
    if joined is None:
        joined = join_documents(documents)
    text = joined.text
    sa = suffix_array(text, force_64bit=force_64bit)
    lcp = lcp_array(text, sa, separator=joined.separator, threads=threads)
    found = _suffix_array.scan_repeats(text, sa, lcp, int(min_length), joined.separator, int(max_repeats),
                                       int(exclude_period))
    del sa, lcp
    order = np.lexsort((found["rep_first"], -found["rep_length"], -found["rep_count"]))
    rep_doc, rep_offset = joined.locate(found["rep_first"][order])
    repeats = Repeats(found["rep_count"][order], found["rep_length"][order], rep_doc, rep_offset)
    return RepeatedSpans(
        min_length=int(min_length),
        num_documents=joined.num_documents,
        remove_all=_merge_runs(joined, found["s_start"], found["s_end"], found["s_first"]),
        keep_first=_merge_runs(joined, found["p_start"], found["p_end"], found["p_first"]),
        repeats=repeats,
    )


# ---------------------------------------------------------------- references

def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def _occurrences(docs: list[bytes], min_length: int) -> dict[bytes, list[tuple[int, int]]]:
    """Every substring of length >= min_length inside a document -> its (doc, offset)s in corpus order."""
    occ: dict[bytes, list[tuple[int, int]]] = {}
    for d, doc in enumerate(docs):
        for i in range(len(doc)):
            for j in range(i + min_length, len(doc) + 1):
                occ.setdefault(doc[i:j], []).append((d, i))
    return occ


def _has_short_period(s: bytes, max_period: int) -> bool:
    return any(s[p:] == s[:-p] for p in range(1, min(max_period, len(s) // 2) + 1))


def find_repeated_spans_reference(documents: Sequence, min_length: int = DEFAULT_MIN_LENGTH,
                                  exclude_period: int = 0):
    """Brute force over every substring (cubic: tiny inputs only).

    Returns (remove_all, keep_first, maximal repeats): two lists, per
    document, of merged ranges, and a set of (length, count, first doc,
    first offset) for every maximal repeat of length >= min_length without
    a period <= exclude_period.
    """
    docs = [bytes(_as_bytes(d)) for d in documents]
    occ = _occurrences(docs, min_length)
    every: list[list[tuple[int, int]]] = [[] for _ in docs]
    later: list[list[tuple[int, int]]] = [[] for _ in docs]
    maximal = set()
    for s, places in occ.items():
        if len(places) < 2:
            continue
        for k, (d, i) in enumerate(places):
            every[d].append((i, i + len(s)))
            if k > 0:
                later[d].append((i, i + len(s)))
        lefts = {docs[d][i - 1] if i > 0 else ("start", d, i) for d, i in places}
        rights = {docs[d][i + len(s)] if i + len(s) < len(docs[d]) else ("end", d, i) for d, i in places}
        if len(lefts) > 1 and len(rights) > 1 and not _has_short_period(s, exclude_period):
            maximal.add((len(s), len(places), places[0][0], places[0][1]))
    return [_merge(r) for r in every], [_merge(r) for r in later], maximal
