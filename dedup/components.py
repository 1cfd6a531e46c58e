"""Connected components of the near-duplicate graph, exact and corpus-wide.

Contract: given undirected edges ``(a, b)`` between document ids, every node
that appears in any edge gets exactly one ``(node, label)`` row, where
``label`` is the smallest node of its connected component under plain Python
ordering (``min``; for str ids that is code-point order). The label is a
function of the edge *set* alone: edge order, orientation, duplicates, the
runner, the number of workers and arrival order never change it. A self-edge
``(a, a)`` makes ``a`` a node (labelled ``a`` if it has no other edge).

Node ids are str document ids; any hashable, totally ordered type with a
deterministic Beam coder works as well (ints in tests), except ``None`` and
tuples, which the Beam rounds use as control messages.

Two implementations share that contract:

* :func:`components` runs in memory on the Cython union-find
  (``dedup/_union_find.pyx``; pure-Python twin
  :func:`component_labels_reference`). Memory is about 250 bytes per distinct
  node (the id string and its dict slot dominate) plus 16 bytes per edge.
* :class:`ConnectedComponents` is the Beam stage. It alternates the
  large-star and small-star operations of Kiveris et al., "Connected
  Components in MapReduce and Beyond" (SoCC 2014): each keeps the components
  intact and together they converge, in O(log² n) rounds (about log n in
  practice), to one star per component centred on its minimum. A component
  already in that final shape is detected the round it gets there and peeled
  off with its labels, so later rounds only carry components that are still
  changing. Once the edges still in play are at most
  ``max_in_memory_edges``, they are gathered onto one worker and finished with
  the union-find; every other step holds one node's neighbourhood at a time,
  so the stage scales past one worker's memory.
"""
from __future__ import annotations

from array import array
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

import apache_beam as beam
import numpy as np
from apache_beam.pvalue import AsSingleton, TaggedOutput
from apache_beam.transforms.window import GlobalWindows

from dedup import _union_find

STAGE = "connected_components"

Node = Hashable
Edge = tuple[Node, Node]

# Distinct neighbours a round holds in a set for one node: 1M ids is about
# 100 MB on a worker. Larger neighbourhoods are streamed (see large_star).
NEIGHBOUR_SET_LIMIT = 1_000_000


@dataclass(frozen=True)
class ComponentsConfig:
    # Rounds needed to converge without the in-memory finish, measured: about
    # log2(n) + 3 for the largest component (a sorted 10,000-node path: 16;
    # 2**18 nodes: 20; random graphs fewer). The rounds only have to shrink
    # what remains below max_in_memory_edges, which near-dup graphs (mostly
    # small stars, peeled as they converge) reach in a few rounds. Each
    # unrolled round costs ~0.17 s even when empty on FnApiRunner, hence 16;
    # raise it for billion-document corpora. A graph that needs more fails
    # loudly, never silently.
    max_rounds: int = field(
        default=16, metadata={"min": 1, "help": "large-star rounds unrolled in the Beam graph"}
    )
    # 5M edges is about 1-2 GB on the finishing worker (see components()).
    max_in_memory_edges: int = field(
        default=5_000_000,
        metadata={"help": "finish on one worker once at most this many edges remain"},
    )
    neighbour_set_limit: int = field(
        default=NEIGHBOUR_SET_LIMIT,
        metadata={"help": "deduplicate a node's neighbours in memory up to this many"},
    )

    def __post_init__(self):
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds must be >= 1, got {self.max_rounds}")
        if self.max_in_memory_edges < 0:
            raise ValueError(f"max_in_memory_edges must be >= 0, got {self.max_in_memory_edges}")
        if self.neighbour_set_limit < 1:
            raise ValueError(f"neighbour_set_limit must be >= 1, got {self.neighbour_set_limit}")


# ---------------------------------------------------------------------------
# In memory: integer kernel, its reference, and the id-level API.


def component_labels(src: np.ndarray, dst: np.ndarray, num_nodes: int) -> np.ndarray:
    """int64[num_nodes]: the smallest node index of each node's component.

    Edge k joins ``src[k]`` and ``dst[k]`` (int64 indices in ``[0, num_nodes)``).
    Union-find kernel, GIL released; equal to :func:`component_labels_reference`.
    """
    src = np.ascontiguousarray(src, dtype=np.int64)
    dst = np.ascontiguousarray(dst, dtype=np.int64)
    return _union_find.min_labels(src, dst, num_nodes)


def component_labels_reference(src, dst, num_nodes: int) -> np.ndarray:
    """Breadth-first search from each node in ascending order: slow and obvious."""
    adjacency: list[list[int]] = [[] for _ in range(num_nodes)]
    for a, b in zip(src, dst):
        a, b = int(a), int(b)
        if not (0 <= a < num_nodes and 0 <= b < num_nodes):
            raise ValueError(f"edge ({a}, {b}) has an endpoint outside [0, {num_nodes})")
        adjacency[a].append(b)
        adjacency[b].append(a)
    labels = [-1] * num_nodes
    for start in range(num_nodes):
        if labels[start] >= 0:
            continue
        labels[start] = start  # the first unlabelled node met is its component's minimum
        frontier = [start]
        while frontier:
            nxt = []
            for node in frontier:
                for other in adjacency[node]:
                    if labels[other] < 0:
                        labels[other] = start
                        nxt.append(other)
            frontier = nxt
    return np.array(labels, dtype=np.int64)


def components(edges: Iterable[Edge]) -> dict[Node, Node]:
    """``{node: smallest node of its component}`` for every node in ``edges``.

    One pass interns the ids into dense indices; nodes are then renumbered in
    sorted order, so the union-find's minimum index is the minimum id.
    """
    index: dict[Node, int] = {}
    src, dst = array("q"), array("q")
    for a, b in edges:
        src.append(index.setdefault(a, len(index)))
        dst.append(index.setdefault(b, len(index)))
    nodes = list(index)
    del index
    order = sorted(range(len(nodes)), key=nodes.__getitem__)
    rank = np.empty(len(nodes), dtype=np.int64)
    rank[order] = np.arange(len(nodes), dtype=np.int64)
    labels = component_labels(
        rank[np.frombuffer(src, dtype=np.int64)] if src else np.empty(0, np.int64),
        rank[np.frombuffer(dst, dtype=np.int64)] if dst else np.empty(0, np.int64),
        len(nodes),
    )
    ordered = [nodes[i] for i in order]
    return dict(zip(ordered, [ordered[k] for k in labels.tolist()]))


def components_reference(edges: Iterable[Edge]) -> dict[Node, Node]:
    """Pure-Python twin of :func:`components`: adjacency sets and a BFS."""
    adjacency: dict[Node, set] = {}
    for a, b in edges:
        adjacency.setdefault(a, set()).add(b)
        adjacency.setdefault(b, set()).add(a)
    labels: dict[Node, Node] = {}
    for start in adjacency:
        if start in labels:
            continue
        members, frontier = {start}, [start]
        while frontier:
            node = frontier.pop()
            for other in adjacency[node]:
                if other not in members:
                    members.add(other)
                    frontier.append(other)
        smallest = min(members)
        labels.update((m, smallest) for m in members)
    return labels


# ---------------------------------------------------------------------------
# One round of the distributed algorithm, as plain generators over one key.
#
# Edges travel keyed by an endpoint. Control values ride along the same
# shuffles (hence no None or tuple node ids):
#   FINISHED (None), into large-star at c: c is the centre of a finished star;
#   ("L",) and ("C", degree), into small-star at c: "I am a leaf whose only
#   neighbour is c" and "c is a local minimum with this many neighbours".
# Small-star at c sees the centre message and `degree` leaf messages only if
# c and its neighbours form a whole component shaped as a star centred on its
# minimum: the algorithm's fixed point for that component. (Leaves are
# distinct nodes and `degree` never undercounts, so a match is proof.)
#
# A key's values are deduplicated in a set while they number at most
# `neighbour_set_limit` distinct ids. Past that (the centre of a giant
# component has every member as a neighbour) the values are streamed twice
# instead, which Beam's re-iterable grouped values allow at constant memory;
# repeats then go through, costing traffic but never correctness: every
# operation is idempotent on repeated edges and the next key deduplicates.

FINISHED = None
_LABELS = "labels"
_EDGE_COUNT = "edge_count"
_FINISH = "finish"
_LEAF = ("L",)
_CENTER = "C"


def _distinct(values, limit):
    """The set of ``values``, or None once it would exceed ``limit`` entries."""
    seen = set()
    for value in values:
        seen.add(value)
        if len(seen) > limit:
            return None
    return seen


def large_star(node, values, neighbour_set_limit=NEIGHBOUR_SET_LIMIT):
    """Large-star at ``node``: ``values`` are its neighbours (and maybe FINISHED).

    Links every neighbour larger than ``node`` to the smallest of node and its
    neighbours. Yields ``(key, value)`` for small-star and
    ``TaggedOutput("labels", (node, label))`` final rows; returns
    ``(edges emitted, rows labelled)``.
    """
    neighbours = _distinct(values, neighbour_set_limit)
    if neighbours is None:
        neighbours = values
    finished = False
    smallest = node
    degree = 0  # distinct neighbours, or an overcount when streaming
    for v in neighbours:
        if v is FINISHED:
            finished = True
        elif v != node:  # self-edges only mark a node as present
            degree += 1
            if v < smallest:
                smallest = v
    if finished:  # confirmed last round: label the star, drop its edges
        yield TaggedOutput(_LABELS, (node, node))
        for v in neighbours:
            if v is not FINISHED:
                yield TaggedOutput(_LABELS, (v, node))
        return 0, degree + 1
    if degree == 0:
        yield TaggedOutput(_LABELS, (node, node))
        return 0, 1
    if smallest == node:  # a local minimum: keeps all its edges
        for v in neighbours:
            if v != node:
                yield v, node
        yield node, (_CENTER, degree)
        return degree, 0
    if degree == 1:  # a leaf: its only neighbour is smaller
        yield smallest, _LEAF
        return 0, 0
    emitted = 0
    for v in neighbours:
        if v > node:
            yield v, smallest
            emitted += 1
    return emitted, 0


def small_star(node, values, neighbour_set_limit=NEIGHBOUR_SET_LIMIT):
    """Small-star at ``node``: ``values`` are smaller neighbours and control messages.

    Links node and its smaller neighbours to the smallest of them. Yields
    ``(key, value)`` for the next large-star: both orientations of every
    edge, or FINISHED to the centre of a star that is a whole component.
    """
    smaller = set()
    smallest = None
    degree = None
    leaves = 0
    for value in values:
        if type(value) is tuple:
            if value == _LEAF:
                leaves += 1
            else:
                degree = value[1]
            continue
        if smallest is None or value < smallest:
            smallest = value
        if smaller is not None:
            smaller.add(value)
            if len(smaller) > neighbour_set_limit:
                smaller = None
    if smallest is None:
        if degree is not None and leaves == degree:
            yield node, FINISHED
        return
    yield node, smallest
    yield smallest, node
    for v in values if smaller is None else smaller:
        if v != smallest and type(v) is not tuple:
            yield v, smallest
            yield smallest, v


# ---------------------------------------------------------------------------
# Beam.


def _both_directions(edge):
    a, b = edge
    if a == b:
        return ((a, a),)
    return (a, b), (b, a)


class _LargeStar(beam.DoFn):
    def __init__(self, neighbour_set_limit: int):
        self.neighbour_set_limit = neighbour_set_limit

    def setup(self):
        self.labelled = beam.metrics.Metrics.counter(STAGE, "nodes_labelled_in_rounds")

    def start_bundle(self):
        self._edges = 0

    def process(self, keyed):
        node, values = keyed
        emitted, labelled = yield from large_star(node, values, self.neighbour_set_limit)
        self._edges += emitted
        if labelled:
            self.labelled.inc(labelled)

    def finish_bundle(self):
        if self._edges:
            yield TaggedOutput(_EDGE_COUNT, GlobalWindows.windowed_value(self._edges))


class _SmallStar(beam.DoFn):
    def __init__(self, neighbour_set_limit: int):
        self.neighbour_set_limit = neighbour_set_limit

    def process(self, keyed):
        node, values = keyed
        return small_star(node, values, self.neighbour_set_limit)


class _Gate(beam.DoFn):
    """Route one round's large-star output: on to small-star, or to the finish.

    ``remaining`` is the round's edge count (an upper bound: repeated edges
    count each time). At most ``max_in_memory_edges``: edges go to the
    in-memory finish and control messages are dropped (the union-find needs
    none). After the last round, more than that is an error.
    """

    def __init__(self, max_in_memory_edges: int, round_number: int, last: bool):
        self.max_in_memory_edges = max_in_memory_edges
        self.round_number = round_number
        self.last = last

    def setup(self):
        self.finish_edges = beam.metrics.Metrics.counter(STAGE, "edges_finished_in_memory")

    def process(self, keyed, remaining):
        if remaining <= self.max_in_memory_edges:
            if type(keyed[1]) is not tuple:
                self.finish_edges.inc()
                yield TaggedOutput(_FINISH, keyed)
            return
        if self.last:
            raise RuntimeError(
                f"ConnectedComponents did not converge: after {self.round_number} rounds "
                f"{remaining} edges remain, more than max_in_memory_edges="
                f"{self.max_in_memory_edges}; raise max_rounds or max_in_memory_edges"
            )
        yield keyed


class _RecordRound(beam.DoFn):
    def __init__(self, round_number: int):
        self.round_number = round_number

    def process(self, remaining):
        beam.metrics.Metrics.counter(STAGE, f"round_{self.round_number:02d}_edges").inc(remaining)
        return ()


def _finish_in_memory(keyed):
    _, edges = keyed
    return components(edges).items()


class ConnectedComponents(beam.PTransform):
    """Edges ``(a, b)`` in; ``(node, label)`` for every node out.

    ``label`` is the minimum node id of the component (see the module
    contract), so the output is identical on any runner and worker count.

    The Beam graph is static, so ``max_rounds`` rounds are unrolled; each is
    large-star, a global count of the edges it emitted, a gate, small-star.
    Components that have converged are labelled and dropped inside the
    rounds, so the count measures the components still changing. When a
    round's count is at most ``max_in_memory_edges`` its edges go to the
    in-memory finish and every later round runs empty.

    Size limits. The finish holds at most ``max_in_memory_edges`` edges on
    one worker (about 250 bytes per distinct node plus 16 per edge: 1-2 GB at
    the default 5M). A component larger than that is never gathered; it
    converges in the rounds, whose per-key memory is one node's neighbour set
    up to ``neighbour_set_limit`` ids and constant beyond (values are then
    streamed). If ``max_rounds`` rounds still leave more than
    ``max_in_memory_edges`` edges, the pipeline fails with RuntimeError; it
    never returns partial labels. Counters ``round_NN_edges`` record each
    round's count.
    """

    def __init__(self, config: ComponentsConfig | None = None, label: str | None = None):
        super().__init__(label)
        self.config = config or ComponentsConfig()

    def expand(self, edges):
        cfg = self.config
        pairs = edges | "BothDirections" >> beam.FlatMap(_both_directions)
        labelled, to_finish = [], []
        for r in range(1, cfg.max_rounds + 1):
            last = r == cfg.max_rounds
            star = (
                pairs
                | f"Round{r}/GroupNeighbours" >> beam.GroupByKey()
                | f"Round{r}/LargeStar"
                >> beam.ParDo(_LargeStar(cfg.neighbour_set_limit)).with_outputs(_LABELS, _EDGE_COUNT, main="pairs")
            )
            labelled.append(star[_LABELS])
            remaining = star[_EDGE_COUNT] | f"Round{r}/CountEdges" >> beam.CombineGlobally(sum)
            _ = remaining | f"Round{r}/RecordCount" >> beam.ParDo(_RecordRound(r))
            gated = star.pairs | f"Round{r}/Gate" >> beam.ParDo(
                _Gate(cfg.max_in_memory_edges, r, last), AsSingleton(remaining)
            ).with_outputs(_FINISH, main="pairs")
            to_finish.append(gated[_FINISH])
            if last:
                break
            pairs = (
                gated.pairs
                | f"Round{r}/GroupSmaller" >> beam.GroupByKey()
                | f"Round{r}/SmallStar" >> beam.ParDo(_SmallStar(cfg.neighbour_set_limit))
            )
        finished = (
            to_finish
            | "RemainingEdges" >> beam.Flatten()
            | "OneKey" >> beam.Map(lambda edge: (0, edge))
            | "GatherRemaining" >> beam.GroupByKey()
            | "UnionFind" >> beam.FlatMap(_finish_in_memory)
        )
        return (*labelled, finished) | "AllLabels" >> beam.Flatten()
