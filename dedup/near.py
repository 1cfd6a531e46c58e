"""Near-duplicate removal: MinHash LSH candidates, verification, corpus-wide clusters.

Contract: two documents are near duplicates when the Jaccard similarity of
their shingle sets (``dedup.minhash``: word 5-grams of case- and
punctuation-folded text by default) is at least ``threshold``. Near
duplicates are linked into clusters (connected components, so similarity is
taken transitively); each cluster keeps its first ``max_copies`` documents
(k, default 1) in corpus order (source path, then position) and every other
member is removed with stage ``near_dedup``, reason ``near_duplicate``, a
``kept_id`` naming the cluster's first document (the one kept with k = 1)
and a ``cluster_id`` (hex hash of that first document's node key). A k
above 1 is bounded upweighting: a cluster keeps up to k members instead of
one; with k = 1 the output is that of plain deduplication. The result does
not depend on worker count or arrival order.

Steps, all on fingerprints (``dedup.fingerprint``) except the exact check:

1. LSH: ``bands`` × ``rows`` band keys per signature (``dedup.lsh``), chosen
   from the threshold unless set; members of a bucket become candidate
   pairs (all pairs up to ``all_pairs_up_to`` members, else star + chain).
2. Verification: the MinHash estimate decides clear cases; a pair whose
   estimate lies within ``borderline_margin`` of the threshold is checked
   with the exact Jaccard of both documents' shingle sets
   (``verify: exact_borderline``, the default), or never (``estimate``).
   The margin of 0.1 is ~3 standard errors of the estimate at 128
   permutations and J = 0.8, so a pair outside it is misjudged with odds of
   about 1 in 500.
3. Clusters: ``dedup.components.ConnectedComponents`` over verified edges.

Documents whose text has no shingle (punctuation only) are never near
duplicates of anything. Size limits: a bucket's member names sit on one
worker (~60 bytes a member); the exact check builds, as a side input on every
worker, the set of document nodes that take part in a borderline pair
(~100 bytes each) and ships those documents' shingle-key sets (8 bytes per
shingle); the in-memory finish of the components holds at most
``max_in_memory_edges`` edges. With ``max_copies`` above 1, picking a
cluster's first k members holds at most k member names (~60 bytes each) per
cluster on a worker (a top-k combine keyed by cluster); with k = 1 that step
does not run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import apache_beam as beam
import numpy as np

from dedup.components import ComponentsConfig, ConnectedComponents, components
from dedup.decisions import ApplyDecisions, copy_row
from dedup.exact import check_max_copies
from dedup.fingerprint import Fingerprint, node_key, parse_node_key, signature_array
from dedup.hashing import murmur3_128
from dedup.lsh import bucket_pairs, band_keys, optimal_bands_rows, s_curve
from dedup.minhash import MinHashConfig, MinHasher, estimate_jaccard, is_empty
from schemas.removal import removal_record

STAGE = "near_dedup"
DECISIONS = "decisions"


@dataclass(frozen=True)
class NearDedupConfig:
    enabled: bool = field(default=True, metadata={"help": "remove near-duplicate documents"})
    threshold: float = field(default=0.8, metadata={"min": 0.01, "max": 0.99, "help": "Jaccard similarity"})
    num_perm: int = field(default=128, metadata={"min": 16, "max": 1024, "help": "MinHash permutations"})
    ngram: int = field(default=5, metadata={"min": 1, "max": 64, "help": "shingle width"})
    shingle: Literal["word", "char"] = field(default="word", metadata={"help": "word or character n-grams"})
    normalize: bool = field(default=True, metadata={"help": "fold case and punctuation before shingling"})
    seed: int = field(default=1, metadata={"min": 0, "max": 2**32 - 1, "help": "MinHash permutation seed"})
    bands: int = field(default=0, metadata={"min": 0, "help": "LSH bands; 0 chooses from the threshold"})
    rows: int = field(default=0, metadata={"min": 0, "help": "LSH rows per band; 0 chooses from the threshold"})
    # Candidates are verified, so a false positive costs a comparison while a
    # false negative is a duplicate left in the corpus: weigh misses 49:1.
    fp_weight: float = field(default=0.02, metadata={"min": 0.0, "max": 1.0})
    fn_weight: float = field(default=0.98, metadata={"min": 0.0, "max": 1.0})
    verify: Literal["exact_borderline", "estimate"] = field(default="exact_borderline")
    borderline_margin: float = field(default=0.1, metadata={"min": 0.0, "max": 1.0})
    all_pairs_up_to: int = field(default=16, metadata={"min": 2, "help": "bucket size up to which all pairs are compared"})
    components: ComponentsConfig = field(default_factory=ComponentsConfig)

    def __post_init__(self):
        if (self.bands == 0) != (self.rows == 0):
            raise ValueError("set both bands and rows, or neither")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands × rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")

    def minhash(self) -> MinHashConfig:
        return MinHashConfig(num_perm=self.num_perm, ngram=self.ngram, shingle=self.shingle,
                             normalize=self.normalize, seed=self.seed)

    def banding(self) -> tuple[int, int]:
        if self.bands:
            return self.bands, self.rows
        return optimal_bands_rows(self.threshold, self.num_perm, self.fp_weight, self.fn_weight)


# --- plain-function core, shared by the Beam stage and library users ---------------------


def exact_jaccard(keys_a: np.ndarray, keys_b: np.ndarray) -> float:
    """|A ∩ B| / |A ∪ B| of two sorted, unique uint64 shingle-key arrays."""
    if len(keys_a) == 0 and len(keys_b) == 0:
        return 1.0
    common = len(np.intersect1d(keys_a, keys_b, assume_unique=True))
    return common / (len(keys_a) + len(keys_b) - common)


def shingle_set(hasher: MinHasher, text: str) -> np.ndarray:
    return np.unique(hasher.shingle_keys(text))


def judge(estimate: float, config: NearDedupConfig) -> bool | None:
    """True/False when the estimate settles the pair, None when it needs the exact check."""
    if config.verify == "exact_borderline" and abs(estimate - config.threshold) < config.borderline_margin:
        return None
    return estimate >= config.threshold


def cluster_id(kept_node: str) -> str:
    h1, _ = murmur3_128(kept_node.encode("utf-8"))
    return f"{h1:016x}"


def removal_row(record: dict, label: str) -> dict:
    """The removal row of ``record``, a member of the cluster whose first node is ``label``."""
    kept_id = parse_node_key(label)[2]
    return removal_record(record, STAGE, "near_duplicate", kept_id, cluster_id(label))


def first_members(labels: dict[str, str], max_copies: int = 1) -> set[str]:
    """The first ``max_copies`` nodes of every cluster in corpus order (node-key order)."""
    members: dict[str, list[str]] = {}
    for node, label in sorted(labels.items()):
        members.setdefault(label, []).append(node)
    return {node for nodes in members.values() for node in nodes[:max_copies]}


def removal_rows(labels: dict[str, str], records: dict[str, dict], max_copies: int = 1) -> list[dict]:
    """Removal rows for every clustered node that is not among its cluster's first ``max_copies``.

    A cluster's label is its smallest node, so with ``max_copies=1`` that is
    every node other than its label.
    """
    kept = first_members(labels, max_copies)
    return [removal_row(records[node], label) for node, label in sorted(labels.items()) if node not in kept]


def verified_edges(docs: list[dict], config: NearDedupConfig = NearDedupConfig()) -> list[tuple[str, str]]:
    """Without Beam, in memory: the pairs of node keys the stage asserts are near duplicates.

    Same banding, candidate rule and verification as :class:`NearDuplicates`.
    """
    hasher = MinHasher(config.minhash())
    bands, rows = config.banding()
    nodes = [node_key(doc) for doc in docs]
    signatures = hasher.signatures([doc["text"] for doc in docs])
    buckets: dict[tuple[int, int], list[str]] = {}
    for node, signature in zip(nodes, signatures):
        if not is_empty(signature):
            for band, key in enumerate(band_keys(signature, bands, rows)):
                buckets.setdefault((band, key), []).append(node)
    candidates = {pair for members in buckets.values() for pair in bucket_pairs(members, config.all_pairs_up_to)}
    index = {node: i for i, node in enumerate(nodes)}
    edges = []
    for a, b in sorted(candidates):
        verdict = judge(estimate_jaccard(signatures[index[a]], signatures[index[b]]), config)
        if verdict is None:
            ta, tb = docs[index[a]]["text"], docs[index[b]]["text"]
            verdict = exact_jaccard(shingle_set(hasher, ta), shingle_set(hasher, tb)) >= config.threshold
        if verdict:
            edges.append((a, b))
    return edges


def near_dedup(
    docs: list[dict], config: NearDedupConfig = NearDedupConfig(), max_copies: int = 1
) -> tuple[list[dict], list[dict]]:
    """Without Beam, in memory: (kept documents in input order, removal rows).

    Each cluster keeps its first ``max_copies`` documents in corpus order.
    """
    check_max_copies(max_copies)
    labels = components(verified_edges(docs, config))
    removed = removal_rows(labels, {node_key(doc): doc for doc in docs}, max_copies)
    gone = {(row["source"], row["position"]) for row in removed}
    return [doc for doc in docs if (doc["source"], doc["position"]) not in gone], removed


# --- Beam ---------------------------------------------------------------------------------


class _BandKeys(beam.DoFn):
    def __init__(self, bands: int, rows: int):
        self.bands, self.rows = bands, rows

    def process(self, fp):
        signature = signature_array(fp)
        if is_empty(signature):
            return
        node = node_key(fp)
        for band, key in enumerate(band_keys(signature, self.bands, self.rows)):
            yield (band, key), node


class _Verify(beam.DoFn):
    """(b, ((a, sig_a), sig_b)) -> verified edge, or a borderline pair for the exact check."""

    BORDERLINE = "borderline"

    def __init__(self, config: NearDedupConfig):
        self.config = config

    def setup(self):
        self.checked = beam.metrics.Metrics.counter(STAGE, "pairs_estimated")

    def process(self, pair):
        a, b, sig_a, sig_b = pair
        self.checked.inc()
        verdict = judge(estimate_jaccard(np.frombuffer(sig_a, "<u8"), np.frombuffer(sig_b, "<u8")), self.config)
        if verdict is None:
            yield beam.pvalue.TaggedOutput(self.BORDERLINE, (a, b))
        elif verdict:
            yield a, b


class _ShingleSets(beam.DoFn):
    """Documents taking part in a borderline pair -> (node, their shingle-key set as bytes)."""

    def __init__(self, config: NearDedupConfig):
        self.config = config

    def setup(self):
        self.hasher = MinHasher(self.config.minhash())

    def process(self, doc, needed):
        if (doc["source"], doc["position"]) in needed:
            yield node_key(doc), shingle_set(self.hasher, doc["text"]).tobytes()


def _source_position(node: str) -> tuple[str, int]:
    source, position, _ = parse_node_key(node)
    return source, position


def _from_docs(docs):
    """The default ``reread``: filter the stage's own document input (holds it until the set is known)."""
    return lambda needed: docs | "KeepNeeded" >> beam.Filter(
        lambda doc, wanted: (doc["source"], doc["position"]) in wanted, wanted=beam.pvalue.AsSingleton(needed))


def _join_second(inputs, label: str):
    """{(a, b) keyed by a, values keyed by node} -> (a, b, value_a, value_b)."""
    pairs, values = inputs

    def attach_first(keyed):
        node, joined = keyed
        value = next(iter(joined["values"]), None)
        for other in joined["pairs"]:
            yield other, (node, value)

    def attach_second(keyed):
        node, joined = keyed
        value = next(iter(joined["values"]), None)
        for first, first_value in joined["pairs"]:
            yield first, node, first_value, value

    by_first = (
        {"pairs": pairs, "values": values}
        | f"{label}/JoinFirst" >> beam.CoGroupByKey()
        | f"{label}/AttachFirst" >> beam.FlatMap(attach_first)
    )
    return (
        {"pairs": by_first, "values": values}
        | f"{label}/JoinSecond" >> beam.CoGroupByKey()
        | f"{label}/AttachSecond" >> beam.FlatMap(attach_second)
    )


_FIRST = "first"


class _Decide(beam.DoFn):
    """(node, {"labels", "fingerprints"[, "first"]}) -> kept fingerprint, or a removal decision.

    A clustered node other than its label is removed unless ``first`` (with
    ``max_copies`` above 1: the node is among its cluster's first k) says so;
    then it is kept with a copy row (``dedup.decisions.copy_row``).
    """

    def process(self, keyed):
        node, joined = keyed
        labels = list(joined["labels"])
        among_first = bool(list(joined.get(_FIRST, ())))
        for fp in joined["fingerprints"]:
            if not labels or labels[0] == node:
                yield fp
            elif among_first:  # a kept copy: marked, so later stages leave it whole
                yield fp
                yield beam.pvalue.TaggedOutput(DECISIONS, (fp["id"], copy_row(fp, parse_node_key(labels[0])[2])))
            else:
                yield beam.pvalue.TaggedOutput(DECISIONS, (fp["id"], removal_row(fp, labels[0])))


def _first_members(labels, max_copies: int):
    """(node, label) rows -> (node, None) for the first ``max_copies`` nodes of every cluster.

    A top-k combine per cluster: a worker holds at most k member names per
    cluster, whatever the cluster's size, and the k smallest node keys are
    the same on any runner and worker count.
    """
    return (
        labels
        | "ByCluster" >> beam.Map(lambda node_label: (node_label[1], node_label[0]))
        | "FirstOfCluster" >> beam.combiners.Top.SmallestPerKey(max_copies)
        | "FirstNodes" >> beam.FlatMap(lambda cluster: ((node, None) for node in cluster[1]))
    )


class _ClusterSizes(beam.CombineFn):
    """Histogram of cluster sizes in power-of-two buckets: "2", "3-4", "5-8", ..."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, size):
        top = 1 << max(1, math.ceil(math.log2(size)))
        name = "2" if top == 2 else f"{top // 2 + 1}-{top}"
        acc[name] = acc.get(name, 0) + 1
        return acc

    def merge_accumulators(self, accs):
        out = {}
        for acc in accs:
            for k, v in acc.items():
                out[k] = out.get(k, 0) + v
        return out

    def extract_output(self, acc):
        return dict(sorted(acc.items(), key=lambda kv: int(kv[0].split("-")[0])))


class NearDuplicates(beam.PTransform):
    """``{"fingerprints", "docs"}`` in; ``{"fingerprints": kept, "decisions", "stats"}`` out.

    Fingerprints must carry signatures made with ``config.minhash()``.
    Documents are read only for the exact check of borderline pairs, through
    ``reread``: a function from a one-element PCollection holding the set of
    needed ``(source, position)`` pairs to a PCollection with (at least)
    those documents. The default filters ``docs``, which makes the runner
    hold every document until the set is known; demem's pipeline passes a
    re-read of just those records from storage instead.

    Each cluster keeps its first ``max_copies`` fingerprints in corpus
    order. Above 1 this adds one combine keyed by cluster, which holds at
    most ``max_copies`` member names (~60 bytes each) per cluster on a
    worker; with 1 the graph is the plain-deduplication one.
    """

    def __init__(self, config: NearDedupConfig = NearDedupConfig(), reread=None, max_copies: int = 1):
        super().__init__()
        self.config = config
        self.reread = reread
        self.max_copies = check_max_copies(max_copies)

    def expand(self, inputs):
        config = self.config
        fingerprints = inputs["fingerprints"]
        reread = self.reread or _from_docs(inputs["docs"])
        bands, rows = config.banding()
        pairs = (
            fingerprints
            | "BandKeys" >> beam.ParDo(_BandKeys(bands, rows))
            | "GroupBuckets" >> beam.GroupByKey()
            | "BucketPairs" >> beam.FlatMap(lambda bucket: bucket_pairs(list(bucket[1]), config.all_pairs_up_to))
            | "DistinctPairs" >> beam.Distinct()
        )
        signatures = fingerprints | "Signatures" >> beam.Map(lambda fp: (node_key(fp), fp["signature"]))
        keyed_pairs = pairs | "KeyPairs" >> beam.Map(lambda pair: (pair[0], pair[1]))
        estimated = (
            _join_second((keyed_pairs, signatures), "WithSignatures")
            | "Verify" >> beam.ParDo(_Verify(config)).with_outputs(_Verify.BORDERLINE, main="edges")
        )
        borderline = estimated[_Verify.BORDERLINE]
        exact_edges = self._exact_check(borderline, reread)
        edges = (estimated.edges, exact_edges) | "AllEdges" >> beam.Flatten()
        labels = edges | "Clusters" >> ConnectedComponents(config.components)
        joined = {"labels": labels, "fingerprints": fingerprints | "ByNode" >> beam.Map(lambda fp: (node_key(fp), fp))}
        if self.max_copies > 1:
            joined[_FIRST] = _first_members(labels, self.max_copies)
        decided = (
            joined
            | "JoinLabels" >> beam.CoGroupByKey()
            | "Decide" >> beam.ParDo(_Decide()).with_outputs(DECISIONS, main="fingerprints")
        )
        stats = self._stats(pairs, estimated.edges, borderline, exact_edges, labels, bands, rows)
        return {"fingerprints": decided.fingerprints, "decisions": decided[DECISIONS], "stats": stats}

    def _exact_check(self, borderline, reread):
        """Borderline pairs -> the ones whose exact shingle Jaccard reaches the threshold.

        Reads the documents, so it runs only with ``verify: exact_borderline``
        (with ``estimate`` there are no borderline pairs).
        """
        config = self.config
        if config.verify != "exact_borderline":
            return borderline | "NoExactCheck" >> beam.Filter(lambda pair: False)
        needed = (
            borderline
            | "BorderlineNodes" >> beam.FlatMap(lambda pair: pair)
            | "SourcePosition" >> beam.Map(_source_position)
            | "AllNeeded" >> beam.combiners.ToSet()
        )
        shingles = reread(needed) | "ShingleSets" >> beam.ParDo(
            _ShingleSets(config), needed=beam.pvalue.AsSingleton(needed))
        return (
            _join_second((borderline | "KeyBorderline" >> beam.Map(lambda p: (p[0], p[1])), shingles), "WithShingles")
            | "ExactCheck" >> beam.Filter(
                lambda q: exact_jaccard(np.frombuffer(q[2], "<u8"), np.frombuffer(q[3], "<u8")) >= config.threshold)
            | "ExactEdges" >> beam.Map(lambda q: (q[0], q[1]))
        )

    def _stats(self, pairs, estimate_edges, borderline, exact_edges, labels, bands, rows):
        count = beam.combiners.Count.Globally
        counted = {
            "candidate_pairs": pairs | "CountCandidates" >> count(),
            "edges_by_estimate": estimate_edges | "CountEstimateEdges" >> count(),
            "exact_checks": borderline | "CountExactChecks" >> count(),
            "edges_by_exact_check": exact_edges | "CountExactEdges" >> count(),
            "cluster_sizes": (
                labels
                | "ClusterOf" >> beam.Map(lambda node_label: (node_label[1], 1))
                | "ClusterSize" >> beam.CombinePerKey(sum)
                | "Sizes" >> beam.Values()
                | "SizeHistogram" >> beam.CombineGlobally(_ClusterSizes())
            ),
        }
        fixed = {"bands": bands, "rows": rows, "threshold": self.config.threshold,
                 "num_perm": self.config.num_perm, "s_curve": s_curve(bands, rows)}
        tagged = [pc | f"Stat[{name}]" >> beam.Map(lambda v, name=name: (name, v)) for name, pc in counted.items()]
        return (
            tagged
            | "FlattenStats" >> beam.Flatten()
            | "StatsDict" >> beam.combiners.ToDict()
            | "WithBanding" >> beam.Map(lambda d: {**fixed, **d, "clusters": sum(d["cluster_sizes"].values())})
        )


class NearDedup(beam.PTransform):
    """Documents in; ``{"docs": kept, "removed": removal rows, "stats": one dict}`` out.

    The standalone stage for your own pipelines: fingerprint, decide, apply.
    """

    def __init__(self, config: NearDedupConfig = NearDedupConfig(), max_copies: int = 1):
        super().__init__()
        self.config = config
        self.max_copies = check_max_copies(max_copies)

    def expand(self, docs):
        fingerprints = docs | "Fingerprint" >> beam.ParDo(Fingerprint(self.config.minhash()))
        near = ({"fingerprints": fingerprints, "docs": docs}
                | "NearDuplicates" >> NearDuplicates(self.config, max_copies=self.max_copies))
        applied = {"docs": docs, "decisions": near["decisions"]} | "Apply" >> ApplyDecisions()
        return {"docs": applied["docs"], "removed": applied["removed"], "stats": near["stats"]}
