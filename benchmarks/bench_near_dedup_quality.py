"""Near-dedup quality against exact truth: precision and recall of flagged pairs (issue 3, benchmark 2).

What is measured
    A pair of documents is a *true near duplicate* when the exact Jaccard
    similarity of their shingle sets is at least ``--threshold`` (0.8). The
    shingle set is demem's definition (``dedup.minhash``): word 5-grams of the
    normalized text (case folded, punctuation and whitespace folding), i.e.
    ``set(MinHasher().shingle_keys(text))``, which is the set of
    ``MinHasher().shingles(text)`` strings; datasketch is fed exactly those
    strings (UTF-8), so every method and the truth see the same sets.
    Documents without any shingle are dropped from the sample (none are, on
    the RFC corpus).

    Each method outputs a set of *flagged pairs* (the pairs it asserts are
    near duplicates):

    * precision = flagged pairs that are true / flagged pairs (a flagged pair
      whose exact Jaccard is below the threshold is a false positive);
    * recall (edge) = true pairs that are flagged / true pairs;
    * recall (cluster) = true pairs whose two documents end up in the same
      connected component of the flagged pairs. This is what the stage acts
      on: it removes all but one document of each component, so a true pair
      linked through other documents is still deduplicated;
    * wrongly removed = documents the method would remove (every member of a
      component but the first in corpus order) that are not in the same
      component of the *true* pairs as the document kept for them.

Methods (same documents, same run)
    * ``demem default``: ``dedup.near.verified_edges(docs, NearDedupConfig())``,
      the pairs the Beam stage asserts: LSH bands x rows chosen from the
      threshold (17 x 7 at 0.8 / 128), all pairs of a bucket up to 16
      members (star + chain above), MinHash estimate for clear cases and the
      exact Jaccard for estimates within 0.1 of the threshold.
    * ``demem verify=estimate``: the same without the exact check.
    * ``datasketch``: ``MinHashLSH(threshold, num_perm=128)`` over default
      ``MinHash(num_perm=128)`` built with ``update_batch`` of the shingle
      bytes; flagged pairs = every query result (no verification, as it is
      used).
    * ``datatrove-style 14x8``: demem signatures with 112 permutations
      (14 bands x 8 rows, datatrove's MinhashConfig default), every pair of
      documents sharing a band bucket is flagged, no verification.
    * diagnostics: the candidate pairs of demem's default banding before any
      verification (the LSH's own recall ceiling), and demem with the exact
      check on every candidate (``borderline_margin=1``), so recall lost to
      banding and to the estimate are told apart.

Exact truth for *all* pairs
    An inverted index over shingle keys: postings sorted by key; a shingle
    contained in d >= 2 documents adds 1 to ``|A n B|`` of each of its
    d(d-1)/2 document pairs. Shingles with d < 64 are expanded into pairs
    and counted with ``np.unique``; the few frequent ones (boilerplate in
    thousands of RFCs) go through a 0/1 matrix product (float32, exact for
    counts below 2**24). That yields ``|A n B|`` for every pair of the
    sample, hence ``J = |A n B| / (|A| + |B| - |A n B|)`` for all n(n-1)/2
    pairs, with no filter that could miss one. A self-check recomputes J for
    every flagged pair and a random sample of pairs with
    ``dedup.near.exact_jaccard`` and asserts equality.

Sample and planted edits
    ``--docs`` RFCs are drawn without replacement (``random.Random(seed)``)
    from ``--corpus`` and each is cut to its first ``--max-words``
    whitespace-separated words *before anything else* (RFCs average 56 KB;
    the cut keeps the run short, and every method and the truth see the cut
    text; ``--max-words 0`` keeps whole texts). Then ``--edits`` edited
    copies are planted. Each copy starts from a sampled document (drawn with
    replacement from a pool of 60% of ``--edits`` documents, so some have
    several copies) or, one time in four, from an earlier copy (revision
    chains), and gets one edit kind:

    * ``insert``: runs of 1-21 words taken from another sampled RFC are
      inserted at random word positions;
    * ``delete``: runs of 1-21 consecutive words are deleted;
    * ``reorder``: a paragraph (blank-line separated) is moved elsewhere;
    * ``boilerplate``: the header block is replaced, the running page
      headers / footers are rewritten, a copyright footer is appended, or a
      status-of-memo paragraph is inserted (each at most once);
    * ``mixed``: any of the above at random.

    Operations are applied (in batches sized from the drop so far, the exact
    Jaccard to the base measured after each batch) until that Jaccard falls
    to a target drawn per copy (half uniform in 0.72-0.88,
    half uniform in 0.55-1.0), or the kind runs out of operations
    (boilerplate, reorder), so true similarities spread over 0.55-1.0 with
    many pairs near the threshold, where methods differ. Copies also pair
    with their siblings, bases of bases and with the RFC's natural near
    duplicates (obsoleted / reissued RFCs); all of these count.

Columns: ``cand`` candidate pairs (pairs sharing an LSH bucket; for the
unverified methods these are the flagged pairs), ``exact`` how many of them
demem checks with the exact Jaccard (estimate within the margin), ``flagged``,
``true+`` (flagged with exact J >= threshold), precision, recall (edge),
recall (cluster), ``removed`` / ``wrong`` (documents, see above), and wall
seconds from texts to flagged pairs (signatures included; for datasketch
including the Python shingle strings it is fed; other processes on the
machine add noise). Two more tables split recall by the exact Jaccard of the
true pairs and count false positives by the exact Jaccard of the flagged
pairs. ``--also FIELD=VALUE,...`` scores extra ``NearDedupConfig`` settings
(e.g. ``--also bands=20,rows=6``).

Run (from a clean checkout, after ``../shared/bench/get_corpus.sh``)::

    python benchmarks/bench_near_dedup_quality.py [--corpus ~/.cache/demem-bench/rfc.jsonl]
        [--docs 5000] [--edits 600] [--max-words 2000] [--seed 1] [--threshold 0.8] [--also ...]

About 45 s and 1.4 GB at the defaults on 2 cores (datasketch is half of it);
``--max-words 0`` (whole RFCs, 330 MB): about 3.5 min and 3.7 GB.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
import time

import numpy as np

from dedup.components import component_labels
from dedup.fingerprint import node_key
from dedup.lsh import band_keys, bucket_pairs, collision_probability
from dedup.minhash import MinHasher, estimate_jaccard, is_empty
from dedup.near import NearDedupConfig, exact_jaccard, verified_edges

DEFAULT_CORPUS = os.path.expanduser("~/.cache/demem-bench/rfc.jsonl")
SOURCE = "quality-sample"
DENSE_FROM = 64  # shingles in at least this many documents are counted by matrix product
RECALL_BANDS = [(0.80, 0.85), (0.85, 0.90), (0.90, 0.95), (0.95, 1.0)]  # the last one includes 1.0
FP_BANDS = [(0.75, 0.80), (0.70, 0.75), (0.60, 0.70), (0.0, 0.60)]


# --- sample -----------------------------------------------------------------------------------


def truncate_words(text: str, max_words: int) -> str:
    """``text`` up to the end of its ``max_words``-th whitespace-separated word (all of it if shorter)."""
    if max_words <= 0:
        return text
    match = re.match(r"\s*(?:\S+\s+){%d}\S+" % (max_words - 1), text)
    return match.group(0) if match else text


def load_sample(path: str, n_docs: int, max_words: int, rng: random.Random) -> list[tuple[str, str]]:
    """(id, text) of ``n_docs`` lines drawn without replacement, in file order, texts cut."""
    with open(path, "rb") as fh:
        total = sum(1 for _ in fh)
    if n_docs > total:
        raise SystemExit(f"--docs {n_docs} exceeds the {total} documents of {path}")
    picked = set(rng.sample(range(total), n_docs))
    sample = []
    with open(path, "rb") as fh:
        for i, line in enumerate(fh):
            if i in picked:
                record = json.loads(line)
                sample.append((str(record["id"]), truncate_words(record["text"], max_words)))
    return sample


# --- planted edits ----------------------------------------------------------------------------

_WORD = re.compile(r"(?<!\S)\S+")  # a whole word, also when searched from inside one
_RUNS = {}  # n -> pattern of n consecutive words from a word start
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\f\r]*\n\s*")
_PAGE_FOOTER = re.compile(r"^.*\[Page \d+\][ \t]*$", re.M)
_RUNNING_HEADER = re.compile(r"^RFC \d+ .*$", re.M)
_NAMES = ["A. Example", "B. Sample", "C. Author", "D. Writer", "E. Editor", "F. Contributor"]
_ORGS = ["Example Networks", "Sample University", "Acme Research", "Internet Lab", "Widget Corp"]
_MONTHS = ["January", "March", "May", "July", "September", "November"]
_CATEGORIES = ["Standards Track", "Informational", "Experimental", "Best Current Practice"]


def _words(n: int) -> re.Pattern:
    """Pattern of ``n`` consecutive words (from a word start)."""
    if n not in _RUNS:
        _RUNS[n] = re.compile(r"(?:\S+\s+){%d}\S+" % (n - 1))
    return _RUNS[n]


class Planter:
    """Makes edited copies of texts, one small operation at a time, down to a target Jaccard."""

    KINDS = ("insert", "delete", "reorder", "boilerplate", "mixed")
    MAX_OPS = 600

    def __init__(self, rng: random.Random, donors: list[str], hasher: MinHasher):
        self.rng = rng
        self.donors = donors
        self.hasher = hasher

    def keys(self, text: str) -> np.ndarray:
        return np.unique(self.hasher.shingle_keys(text))

    def run_length(self) -> int:
        return self.rng.choice((1, 1, 2, 3, 5, 8, 13, 21))

    # operations: text -> edited text, or None when the operation does not apply

    def insert(self, text: str, used: set) -> str | None:
        donor = self.rng.choice(self.donors)
        start = _WORD.search(donor, self.rng.randrange(len(donor) + 1)) or _WORD.search(donor)
        found = start and (_words(self.run_length()).match(donor, start.start()) or _WORD.match(donor, start.start()))
        if not found:
            return None
        run = " ".join(found.group(0).split())
        word = _WORD.search(text, self.rng.randrange(len(text) + 1))
        at = word.start() if word else len(text)
        return f"{text[:at]}{run} {text[at:]}"

    def delete(self, text: str, used: set) -> str | None:
        n = self.run_length()
        first = _WORD.search(text, self.rng.randrange(len(text) + 1))
        run = _words(n).match(text, first.start()) if first else None
        if run is None:  # too close to the end: take the run from the first word instead
            first = _WORD.search(text)
            run = _words(n).match(text, first.start()) if first else None
        if run is None or len(text) - (run.end() - run.start()) < len(text) // 4:
            return None
        return text[: run.start()] + text[run.end() :]

    def reorder(self, text: str, used: set) -> str | None:
        paragraphs = [p for p in _PARAGRAPH_BREAK.split(text) if p.strip()]
        if len(paragraphs) < 3:
            return None
        moved = paragraphs.pop(self.rng.randrange(len(paragraphs)))
        paragraphs.insert(self.rng.randrange(len(paragraphs) + 1), moved)
        return "\n\n".join(paragraphs)

    def boilerplate(self, text: str, used: set) -> str | None:
        rng = self.rng
        name, org, year = rng.choice(_NAMES), rng.choice(_ORGS), rng.randrange(1990, 2025)
        month, category, number = rng.choice(_MONTHS), rng.choice(_CATEGORIES), rng.randrange(1000, 9999)
        options = [o for o in ("header", "running", "footer", "status") if o not in used]
        rng.shuffle(options)
        for option in options:
            used.add(option)
            if option == "header":
                paragraphs = _PARAGRAPH_BREAK.split(text.lstrip(), maxsplit=1)
                if len(paragraphs) < 2:
                    continue
                header = (f"Internet Engineering Task Force (IETF)          {name}\n"
                          f"Request for Comments: {number}                   {org}\n"
                          f"Category: {category}                           {month} {year}\n"
                          f"ISSN: 2070-1721")
                return f"{header}\n\n{paragraphs[1]}"
            if option == "running":
                if not (_PAGE_FOOTER.search(text) or _RUNNING_HEADER.search(text)):
                    continue
                pages = iter(range(1, 10**6))
                text = _PAGE_FOOTER.sub(lambda m: f"{name} et al.      {category}      [Page {next(pages)}]", text)
                return _RUNNING_HEADER.sub(f"RFC {number}      Revised Edition      {month} {year}", text)
            if option == "footer":
                return (f"{text}\n\nFull Copyright Statement\n\n"
                        f"Copyright (c) {year} {org} and the persons identified as the document authors. "
                        f"All rights reserved. This document and translations of it may be copied and "
                        f"furnished to others, and derivative works that comment on or otherwise explain "
                        f"it may be prepared, copied, published and distributed, in whole or in part, "
                        f"without restriction of any kind, provided that the above copyright notice and "
                        f"this paragraph are included on all such copies.\n\n"
                        f"Author's Address\n\n   {name}\n   {org}\n   EMail: {name.split()[-1].lower()}@example.org\n")
            if option == "status":
                paragraphs = _PARAGRAPH_BREAK.split(text.lstrip(), maxsplit=1)
                status = (f"Status of This Memo\n\n   This memo provides information for the Internet "
                          f"community. It does not specify an Internet standard of any kind. Distribution "
                          f"of this memo is unlimited. Information about the current status of this "
                          f"document, any errata, and how to provide feedback on it may be obtained from "
                          f"{org}.")
                return "\n\n".join([paragraphs[0], status, *paragraphs[1:]])
        return None

    def plant(self, base: str, kind: str, target: float) -> tuple[str, float, int]:
        """(edited text, its exact Jaccard to base, operations applied)."""
        base_keys = self.keys(base)
        text, similarity, used, ops = base, 1.0, set(), 0
        operations = {"insert": [self.insert], "delete": [self.delete], "reorder": [self.reorder],
                      "boilerplate": [self.boilerplate],
                      "mixed": [self.insert, self.delete, self.reorder, self.boilerplate]}[kind]
        step = 0.0  # mean drop of the Jaccard per operation so far
        while similarity > target and ops < self.MAX_OPS and operations:
            # far from the target, apply several operations between two exact measurements
            batch = max(1, int(0.5 * (similarity - target) / step)) if step > 0 else 1
            before, done = similarity, 0
            for _ in range(batch):
                operation = self.rng.choice(operations)
                edited = operation(text, used)
                if edited is None:  # does not apply (any more): short text, one paragraph, used up
                    operations = [o for o in operations if o is not operation]
                    if not operations:
                        break
                    continue
                text, done = edited, done + 1
            if done == 0:
                if ops == 0 and kind != "mixed":
                    return self.plant(base, "mixed", target)
                break
            ops += done
            similarity = exact_jaccard(base_keys, self.keys(text))
            drop = max((before - similarity) / done, 1e-4)
            step = drop if step == 0 else 0.5 * (step + drop)
        return text, similarity, ops


def plant_edits(sample: list[tuple[str, str]], n_edits: int, rng: random.Random, hasher: MinHasher):
    """Edited copies as (id, text, kind, base index, Jaccard to base); indices count the sample first."""
    planter = Planter(rng, [text for _, text in sample], hasher)
    pool = rng.sample(range(len(sample)), min(len(sample), max(1, math.ceil(0.6 * n_edits))))
    texts = [text for _, text in sample]
    ids = [doc_id for doc_id, _ in sample]
    planted = []
    for k in range(n_edits):
        if planted and rng.random() < 0.25:
            base = len(sample) + rng.randrange(len(planted))
        else:
            base = rng.choice(pool)
        kind = rng.choice(Planter.KINDS)
        target = rng.uniform(0.72, 0.88) if rng.random() < 0.5 else rng.uniform(0.55, 1.0)
        text, similarity, _ = planter.plant(texts[base], kind, target)
        doc_id = f"{ids[base]}+e{k}"
        planted.append((doc_id, text, kind, base, similarity))
        texts.append(text)
        ids.append(doc_id)
    return planted


# --- exact truth ------------------------------------------------------------------------------


def exact_intersections(sets: list[np.ndarray], dense_from: int = DENSE_FROM) -> np.ndarray:
    """int32[n, n], upper triangle: ``|A_i n A_j|`` for every pair i < j (inverted index)."""
    n = len(sets)
    lens = np.array([len(s) for s in sets], dtype=np.int64)
    keys = np.concatenate(sets)
    docs = np.repeat(np.arange(n, dtype=np.int64), lens)
    order = np.argsort(keys, kind="stable")  # by key; within a key by document (stable)
    keys, docs = keys[order], docs[order]
    del order
    new_key = np.empty(len(keys), dtype=bool)
    new_key[0] = True
    np.not_equal(keys[1:], keys[:-1], out=new_key[1:])
    starts = np.flatnonzero(new_key)
    df = np.diff(np.append(starts, len(keys)))
    posting_df = np.repeat(df, df)
    posting_key = np.repeat(np.arange(len(starts)), df)
    counts = np.zeros((n, n), dtype=np.int32)

    # Rare shingles (2 <= df < dense_from): every pair of their postings, counted.
    rare = (posting_df >= 2) & (posting_df < dense_from)
    r_docs, r_key = docs[rare], posting_key[rare]
    codes = []
    for offset in range(1, dense_from - 1):
        same = r_key[offset:] == r_key[:-offset]
        if not same.any():
            break
        codes.append(r_docs[:-offset][same] * n + r_docs[offset:][same])  # a < b: postings sorted by doc
    if codes:
        pair_codes, pair_counts = np.unique(np.concatenate(codes), return_counts=True)
        counts.ravel()[pair_codes] += pair_counts.astype(np.int32)

    # Frequent shingles: a 0/1 document x shingle matrix times its transpose, in column blocks.
    frequent = posting_df >= dense_from
    f_docs, f_key = docs[frequent], posting_key[frequent]
    f_cols = np.unique(f_key, return_inverse=True)[1] if len(f_key) else f_key
    n_cols = int(f_cols.max()) + 1 if len(f_cols) else 0
    block = 4096
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    for lo in range(0, n_cols, block):
        sel = (f_cols >= lo) & (f_cols < lo + block)
        x = np.zeros((n, min(block, n_cols - lo)), dtype=np.float32)
        x[f_docs[sel], f_cols[sel] - lo] = 1.0
        product = np.rint(x @ x.T).astype(np.int32)
        product[~upper] = 0
        counts += product
    return counts


class Truth:
    """Exact Jaccard of every pair, from the intersection counts."""

    def __init__(self, sets: list[np.ndarray], threshold: float):
        self.sets = sets
        self.n = len(sets)
        self.lens = np.array([len(s) for s in sets], dtype=np.int64)
        self.counts = exact_intersections(sets)
        self.threshold = threshold
        a, b, j = self.pairs_at_least(threshold - 0.1)
        self.near_j = j  # every pair with J >= threshold - 0.1
        true = j >= threshold
        self.true_codes = a[true] * self.n + b[true]
        self.true_j = j[true]

    def pairs_at_least(self, low: float):
        a_all, b_all, j_all = [], [], []
        for lo in range(0, self.n, 1024):
            rows = self.counts[lo : lo + 1024].astype(np.float64)
            union = self.lens[lo : lo + 1024, None] + self.lens[None, :] - rows
            j = rows / np.maximum(union, 1)
            a, b = np.nonzero(j >= low)
            a += lo
            keep = a < b
            a_all.append(a[keep])
            b_all.append(b[keep])
            j_all.append(j[a[keep] - lo, b[keep]])
        return np.concatenate(a_all), np.concatenate(b_all), np.concatenate(j_all)

    def jaccard(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = np.minimum(a, b), np.maximum(a, b)
        common = self.counts[a, b].astype(np.float64)
        return common / (self.lens[a] + self.lens[b] - common)


# --- methods ----------------------------------------------------------------------------------


def codes_of(pairs, n: int) -> np.ndarray:
    """Sorted unique pair codes ``min * n + max`` of (a, b) index pairs (a != b)."""
    if not pairs:
        return np.empty(0, dtype=np.int64)
    arr = np.asarray(list(pairs), dtype=np.int64).reshape(-1, 2)
    return np.unique(np.minimum(arr[:, 0], arr[:, 1]) * n + np.maximum(arr[:, 0], arr[:, 1]))


def demem_edges(docs: list[dict], config: NearDedupConfig) -> np.ndarray:
    index = {node_key(doc): i for i, doc in enumerate(docs)}
    return codes_of([(index[a], index[b]) for a, b in verified_edges(docs, config)], len(docs))


def lsh_candidates(texts: list[str], config: NearDedupConfig, all_pairs_up_to: int) -> tuple[np.ndarray, np.ndarray]:
    """(candidate pair codes, signatures): pairs sharing a band bucket, as ``bucket_pairs`` gives them."""
    signatures = MinHasher(config.minhash()).signatures(texts)
    bands, rows = config.banding()
    buckets: dict[tuple[int, int], list[int]] = {}
    for i, signature in enumerate(signatures):
        if not is_empty(signature):
            for band, key in enumerate(band_keys(signature, bands, rows)):
                buckets.setdefault((band, key), []).append(i)
    pairs = {pair for members in buckets.values() if len(members) > 1
             for pair in bucket_pairs(members, all_pairs_up_to)}
    return codes_of(pairs, len(texts)), signatures


def datasketch_pairs(texts: list[str], hasher: MinHasher, threshold: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Query results of MinHashLSH over default MinHash of demem's shingle strings (UTF-8)."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    sketches = []
    for i, text in enumerate(texts):
        m = MinHash(num_perm=128)
        m.update_batch([s.encode("utf-8", "surrogatepass") for s in hasher.shingles(text)])
        lsh.insert(i, m)
        sketches.append(m)
    pairs = [(i, j) for i, m in enumerate(sketches) for j in lsh.query(m) if j != i]
    return codes_of(pairs, len(texts)), (lsh.b, lsh.r)


# --- scoring ----------------------------------------------------------------------------------


def labels_of(codes: np.ndarray, n: int) -> np.ndarray:
    return component_labels(codes // n, codes % n, n)


def score(name: str, short: str, codes: np.ndarray, truth: Truth, seconds: float, truth_labels: np.ndarray,
          candidates: int, exact_checks: int = 0) -> dict:
    n = truth.n
    flagged_j = truth.jaccard(codes // n, codes % n) if len(codes) else np.empty(0)
    hit = np.isin(truth.true_codes, codes, assume_unique=True)
    labels = labels_of(codes, n)
    together = labels[truth.true_codes // n] == labels[truth.true_codes % n]
    removed = np.flatnonzero(labels != np.arange(n))
    wrong = int(np.sum(truth_labels[removed] != truth_labels[labels[removed]]))
    tp = int(np.sum(flagged_j >= truth.threshold))
    return {
        "name": name, "short": short, "flagged": len(codes), "tp": tp, "seconds": seconds,
        "precision": tp / len(codes) if len(codes) else 1.0,
        "recall": float(hit.mean()) if len(hit) else 1.0,
        "cluster_recall": float(together.mean()) if len(together) else 1.0,
        "hit": hit, "together": together, "flagged_j": flagged_j,
        "removed": len(removed), "wrong_removed": wrong, "codes": codes,
        "candidates": candidates, "exact_checks": exact_checks,
    }


def self_check(truth: Truth, flagged: list[np.ndarray], rng: np.random.Generator, extra: int = 2000) -> int:
    """Recompute J with dedup.near.exact_jaccard for every flagged pair and random pairs; assert equal."""
    n = truth.n
    codes = np.unique(np.concatenate(flagged + [truth.true_codes]))
    a = rng.integers(0, n, extra)
    b = rng.integers(0, n, extra)
    keep = a != b
    codes = np.concatenate([codes, np.minimum(a, b)[keep] * n + np.maximum(a, b)[keep]])
    fast = truth.jaccard(codes // n, codes % n)
    for code, value in zip(codes.tolist(), fast.tolist()):
        slow = exact_jaccard(truth.sets[code // n], truth.sets[code % n])
        assert abs(slow - value) < 1e-12, (code // n, code % n, slow, value)
    return len(codes)


def wilson(successes: int, trials: int, z: float = 1.96) -> str:
    """95% Wilson score interval of a proportion, as "[lo, hi]"."""
    if trials == 0:
        return "[-]"
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return f"[{max(0.0, centre - half):.4f}, {min(1.0, centre + half):.4f}]"


# --- main -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    parser.add_argument("--docs", type=int, default=5000, help="real documents sampled")
    parser.add_argument("--edits", type=int, default=600, help="edited copies planted")
    parser.add_argument("--max-words", type=int, default=2000,
                        help="cut each document to its first N words (0: keep whole texts)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--also", action="append", default=[], metavar="FIELD=VALUE[,FIELD=VALUE]",
                        help="also score demem with these NearDedupConfig fields (repeatable), "
                             "e.g. --also bands=25,rows=5")
    args = parser.parse_args()
    if not os.path.exists(args.corpus):
        print(f"corpus not found: {args.corpus} (run ../shared/bench/get_corpus.sh)", file=sys.stderr)
        return 2
    t = args.threshold
    rng = random.Random(args.seed)
    started = time.perf_counter()
    hasher = MinHasher()

    sample = load_sample(args.corpus, args.docs, args.max_words, rng)
    dropped = [doc_id for doc_id, text in sample if len(hasher.shingle_keys(text)) == 0]
    sample = [(doc_id, text) for doc_id, text in sample if len(hasher.shingle_keys(text)) > 0]
    planted = plant_edits(sample, args.edits, rng, hasher)
    ids = [doc_id for doc_id, _ in sample] + [p[0] for p in planted]
    texts = [text for _, text in sample] + [p[1] for p in planted]
    docs = [{"id": doc_id, "text": text, "source": SOURCE, "position": i, "metadata": {}}
            for i, (doc_id, text) in enumerate(zip(ids, texts))]
    n, n_real = len(docs), len(sample)
    mb = sum(len(text.encode("utf-8")) for text in texts) / 1e6
    cut = f"first {args.max_words} words each" if args.max_words > 0 else "whole texts"
    print(f"sample: {n_real} RFCs from {args.corpus} (seed {args.seed}, {cut}"
          f"{f', {len(dropped)} without shingles dropped' if dropped else ''}) + {len(planted)} planted edits"
          f" = {n} documents, {mb:.1f} MB; prepared in {time.perf_counter() - started:.1f} s")
    kinds = {}
    for _, _, kind, _, similarity in planted:
        kinds.setdefault(kind, []).append(similarity)
    print("planted edits, exact Jaccard to their base: "
          + ", ".join(f"{k} {len(v)} (median {np.median(v):.2f})" for k, v in sorted(kinds.items())))

    clock = time.perf_counter()
    sets = [np.unique(hasher.shingle_keys(text)) for text in texts]
    for i in range(0, n, max(1, n // 100)):  # datasketch is fed the strings of the same sets
        assert len({s.encode("utf-8", "surrogatepass") for s in hasher.shingles(texts[i])}) == len(sets[i]), ids[i]
    truth = Truth(sets, t)
    truth_seconds = time.perf_counter() - clock
    real_pairs = int(np.sum(truth.true_codes % n < n_real))
    truth_labels = labels_of(truth.true_codes, n)
    print(f"exact truth: |A n B| for all {n * (n - 1) // 2:,} pairs by inverted index in {truth_seconds:.1f} s; "
          f"{len(truth.true_codes)} pairs with J >= {t} ({real_pairs} between real RFCs, "
          f"{len(truth.true_codes) - real_pairs} involving planted copies); "
          f"{int(np.sum((truth.near_j >= t - 0.1) & (truth.near_j < t)))} pairs in [{t - 0.1:.2f}, {t:.2f})")

    results = []

    def run_demem(name: str, short: str, config: NearDedupConfig) -> None:
        clock = time.perf_counter()
        codes = demem_edges(docs, config)
        seconds = time.perf_counter() - clock
        candidates, signatures = lsh_candidates(texts, config, config.all_pairs_up_to)  # the same, for the costs
        estimates = estimate_jaccard(signatures[candidates // n], signatures[candidates % n])
        checks = 0 if config.verify == "estimate" else int(np.sum(np.abs(estimates - t) < config.borderline_margin))
        bands, rows = config.banding()
        results.append(score(f"{name} [{bands}x{rows}]", short, codes, truth, seconds, truth_labels,
                             candidates=len(candidates), exact_checks=checks))

    default = NearDedupConfig(threshold=t)
    run_demem("demem default", "demem default", default)
    run_demem("demem verify=estimate", "demem estimate", NearDedupConfig(threshold=t, verify="estimate"))

    clock = time.perf_counter()
    codes, (b, r) = datasketch_pairs(texts, hasher, t)
    results.append(score(f"datasketch MinHashLSH({t}, 128) [{b}x{r}]", "datasketch", codes, truth,
                         time.perf_counter() - clock, truth_labels, candidates=len(codes)))

    clock = time.perf_counter()
    trove = NearDedupConfig(threshold=t, num_perm=112, bands=14, rows=8)
    codes, _ = lsh_candidates(texts, trove, all_pairs_up_to=n)
    results.append(score("datatrove-style, no verification [14x8]", "datatrove 14x8", codes, truth,
                         time.perf_counter() - clock, truth_labels, candidates=len(codes)))

    # diagnostics: where demem's default loses recall (banding, or the estimate outside the margin)
    clock = time.perf_counter()
    candidates, _ = lsh_candidates(texts, default, default.all_pairs_up_to)
    results.append(score(f"diag: demem candidates, unverified [{'x'.join(map(str, default.banding()))}]",
                         "diag candidates", candidates, truth, time.perf_counter() - clock, truth_labels,
                         candidates=len(candidates)))
    run_demem("diag: demem exact check on all", "diag exact all", NearDedupConfig(threshold=t, borderline_margin=1.0))

    for spec in args.also:
        fields = {}
        for item in spec.split(","):
            key, value = item.split("=", 1)
            kind = type(getattr(default, key))
            fields[key] = value if kind is str else kind(value)
        run_demem(f"demem {spec}", spec[:19], NearDedupConfig(**{"threshold": t, **fields}))

    checked = self_check(truth, [res["codes"] for res in results], np.random.default_rng(args.seed))

    # --- report ---
    print()
    print(f"threshold {t}: {len(truth.true_codes)} true pairs; "
          f"precision = flagged pairs with exact J >= {t} / flagged; "
          "recall (edge) = true pairs flagged / true pairs; recall (cluster) = true pairs in one component of the "
          "flagged pairs (what the stage removes)")
    header = f"{'method':<46} {'cand':>6} {'exact':>5} {'flagged':>7} {'true+':>5} {'precision':>9} " \
             f"{'recall':>7} {'cluster':>7} {'removed':>7} {'wrong':>5} {'time s':>6}"
    print(header)
    print("-" * len(header))
    for res in results:
        print(f"{res['name']:<46} {res['candidates']:>6} {res['exact_checks']:>5} {res['flagged']:>7} {res['tp']:>5} "
              f"{res['precision']:>9.4f} {res['recall']:>7.4f} {res['cluster_recall']:>7.4f} {res['removed']:>7} "
              f"{res['wrong_removed']:>5} {res['seconds']:>6.1f}")
    truth_removed = int(np.sum(truth_labels != np.arange(n)))
    n_true = len(truth.true_codes)
    print(f"{'(exact truth, all pairs)':<46} {'':>6} {'':>5} {n_true:>7} {n_true:>5} {1:>9.4f} {1:>7.4f} {1:>7.4f} "
          f"{truth_removed:>7} {0:>5} {truth_seconds:>6.1f}")
    print("cand: candidate pairs (LSH bucket pairs); exact: of them, exact Jaccard checks (estimate within the "
          "margin); removed: documents the method's components would remove; wrong: of them, not in the kept "
          "document's component of the true pairs")
    print(f"P(candidate | J) of demem's default {'x'.join(map(str, default.banding()))}: "
          + ", ".join(f"{s}: {float(collision_probability(s, *default.banding())):.4f}" for s in (0.75, 0.8, 0.85, 0.9))
          + f"; of datasketch's {b}x{r}: "
          + ", ".join(f"{s}: {float(collision_probability(s, b, r)):.4f}" for s in (0.75, 0.8, 0.85, 0.9)))

    print()
    print("edge recall by exact-Jaccard band of the true pairs (cluster recall in brackets)")
    short = [res["short"] for res in results]
    print(f"{'J band':<13} {'pairs':>5} " + " ".join(f"{name:>19}" for name in short))
    for lo, hi in RECALL_BANDS:
        mask = (truth.true_j >= lo) & ((truth.true_j < hi) | (hi == 1.0))
        label = f"[{lo:.2f},{hi:.2f}" + ("]" if hi == 1.0 else ")")
        cells = []
        for res in results:
            if mask.any():
                cells.append(f"{res['hit'][mask].mean():.4f} [{res['together'][mask].mean():.4f}]")
            else:
                cells.append("-")
        print(f"{label:<13} {int(mask.sum()):>5} " + " ".join(f"{c:>19}" for c in cells))

    print()
    print("false positives by exact Jaccard of the flagged pair")
    print(f"{'J band':<19} " + " ".join(f"{name:>19}" for name in short))
    for lo, hi in FP_BANDS:
        cells = [int(np.sum((res["flagged_j"] >= lo) & (res["flagged_j"] < hi))) for res in results]
        print(f"{f'[{lo:.2f},{hi:.2f})':<19} " + " ".join(f"{c:>19}" for c in cells))

    print()
    d = results[0]
    print(f"95% Wilson intervals, demem default: precision {wilson(d['tp'], d['flagged'])}, "
          f"edge recall {wilson(int(d['hit'].sum()), len(d['hit']))}, "
          f"cluster recall {wilson(int(d['together'].sum()), len(d['together']))}")

    def verdict(recall: float) -> str:
        return "MET" if d["precision"] >= 0.97 and recall >= 0.97 else "NOT MET"

    print(f"target (demem default, precision >= 0.97 and recall >= 0.97): precision {d['precision']:.4f}, "
          f"edge recall {d['recall']:.4f} -> {verdict(d['recall'])}; "
          f"cluster recall {d['cluster_recall']:.4f} -> {verdict(d['cluster_recall'])}")
    print(f"self-check: exact J of {checked} pairs recomputed with dedup.near.exact_jaccard: equal")
    print(f"total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
