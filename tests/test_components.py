"""Connected components: kernel = reference, rounds = reference, Beam = reference.

Three layers, cheapest first: the union-find kernel against a BFS (hypothesis);
the large-star/small-star round functions, wired in plain Python exactly as
the Beam stage wires them, against the same BFS on many random graphs
(hypothesis); and the Beam stage itself on the graphs that matter (a 10,000-node
chain, stars, random graphs, duplicate and self edges, the round cap) on
FnApiRunner with one and with two worker processes.
"""
from __future__ import annotations

import collections
import glob
import json
import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pvalue import TaggedOutput
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.components import (
    ComponentsConfig,
    ConnectedComponents,
    _both_directions,
    component_labels,
    component_labels_reference,
    components,
    components_reference,
    large_star,
    small_star,
)

# ---------------------------------------------------------------------------
# Kernel.


@st.composite
def index_graphs(draw, max_nodes=60, max_edges=120):
    n = draw(st.integers(0, max_nodes))
    if n == 0:
        return 0, []
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=max_edges))
    return n, edges


def _arrays(edges):
    src = np.array([a for a, _ in edges], dtype=np.int64)
    dst = np.array([b for _, b in edges], dtype=np.int64)
    return src, dst


@settings(max_examples=300, deadline=None)
@given(index_graphs(), st.randoms(use_true_random=False))
def test_kernel_equals_reference_for_any_edge_order(graph, rnd):
    n, edges = graph
    expected = component_labels_reference(*_arrays(edges), n)
    assert component_labels(*_arrays(edges), n).tolist() == expected.tolist()
    shuffled = [(b, a) if rnd.random() < 0.5 else (a, b) for a, b in edges]
    rnd.shuffle(shuffled)
    assert component_labels(*_arrays(shuffled), n).tolist() == expected.tolist()


def test_kernel_on_large_chain_and_random_graph():
    n = 1_000_000
    chain = np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(7)
    perm = rng.permutation(n)
    assert (component_labels(perm[1:], perm[:-1], n) == 0).all()
    assert (component_labels(chain[::-1][1:], chain[::-1][:-1], n) == 0).all()
    src, dst = rng.integers(0, 20_000, 15_000), rng.integers(0, 20_000, 15_000)
    assert component_labels(src, dst, 20_000).tolist() == component_labels_reference(src, dst, 20_000).tolist()


def test_kernel_rejects_bad_input():
    with pytest.raises(ValueError, match="outside"):
        component_labels(np.array([0, 3]), np.array([1, 1]), 3)
    with pytest.raises(ValueError, match="outside"):
        component_labels(np.array([0]), np.array([-1]), 3)
    with pytest.raises(ValueError):
        component_labels(np.array([0, 1]), np.array([1]), 3)
    assert component_labels(np.array([]), np.array([]), 3).tolist() == [0, 1, 2]


# ---------------------------------------------------------------------------
# Id-level API.

_ids = st.text(alphabet="aAb9é_", min_size=1, max_size=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_ids, _ids), max_size=60))
def test_components_equals_reference(edges):
    assert components(edges) == components_reference(edges)


def test_labels_follow_python_str_order():
    # Code-point order, not numeric or case-folded: "10" < "9", "B" < "a".
    labels = components([("9", "10"), ("a", "B"), ("x", "x")])
    assert labels == {"9": "10", "10": "10", "a": "B", "B": "B", "x": "x"}


# ---------------------------------------------------------------------------
# Round logic without Beam, wired as ConnectedComponents.expand wires it.


def _drain(round_step, out, labels):
    """Run one key's generator: pairs to ``out``, tagged rows to ``labels``."""
    while True:
        try:
            item = next(round_step)
        except StopIteration as stop:
            return stop.value
        if isinstance(item, TaggedOutput):
            labels.append(item.value)
        else:
            out.append(item)


def _rounds_in_memory(edges, max_rounds, max_in_memory_edges, neighbour_set_limit=1_000_000):
    pairs = [pair for edge in edges for pair in _both_directions(edge)]
    labels = []
    for r in range(1, max_rounds + 1):
        grouped = collections.defaultdict(list)
        for key, value in pairs:
            grouped[key].append(value)
        out, count = [], 0
        for node, values in grouped.items():
            emitted, _ = _drain(large_star(node, values, neighbour_set_limit), out, labels)
            count += emitted
        if count <= max_in_memory_edges:
            labels += components(kv for kv in out if type(kv[1]) is not tuple).items()
            return labels, r
        if r == max_rounds:
            raise RuntimeError("did not converge")
        grouped = collections.defaultdict(list)
        for key, value in out:
            grouped[key].append(value)
        pairs = [kv for node, values in grouped.items() for kv in small_star(node, values, neighbour_set_limit)]


def _assert_exact(rows, edges):
    assert len(rows) == len(set(node for node, _ in rows)), "a node was labelled twice"
    assert dict(rows) == components_reference(edges)


@st.composite
def small_graphs(draw):
    n = draw(st.integers(1, 40))
    return draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=80))


@settings(max_examples=400, deadline=None)
@given(small_graphs(), st.sampled_from([0, 1, 4, 1000]), st.sampled_from([1, 2, 3, 1_000_000]))
def test_rounds_are_exact_on_random_graphs(edges, max_in_memory_edges, neighbour_set_limit):
    # Small neighbour_set_limit values force the streaming path with repeats.
    rows, _ = _rounds_in_memory(edges, 40, max_in_memory_edges, neighbour_set_limit)
    _assert_exact(rows, edges)


def test_rounds_converge_on_long_paths():
    # Label propagation needs n rounds on a path; large-star/small-star about log2(n)+3.
    n = 2**13
    perm = list(range(n))
    random.Random(3).shuffle(perm)
    for path in ([(i, i + 1) for i in range(n - 1)], [(perm[i], perm[i + 1]) for i in range(n - 1)]):
        rows, rounds = _rounds_in_memory(path, 40, 0)
        assert rounds <= 13 + 3
        _assert_exact(rows, path)


# ---------------------------------------------------------------------------
# Beam.


def _run(edges, config, workers=1, out_dir=None):
    """Run the stage on FnApiRunner; assert it is exact; return rows if out_dir."""
    args = []
    if workers > 1:
        args = [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    expected = sorted(components_reference(edges).items())
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(args)) as p:
        rows = p | beam.Create(edges, reshuffle=False) | ConnectedComponents(config)
        assert_that(rows, equal_to(expected))
        if out_dir is not None:
            rows | beam.Map(json.dumps) | beam.io.WriteToText(f"{out_dir}/rows")
    if out_dir is not None:
        return sorted(tuple(json.loads(line)) for f in glob.glob(f"{out_dir}/rows*") for line in open(f))


def test_beam_chain_of_10000_converges_exactly():
    # Zero-padded ids keep str order = path order: the worst case for label
    # propagation. max_in_memory_edges=0 makes the rounds do all the work.
    ids = [f"doc-{i:05d}" for i in range(10_000)]
    chain = [(ids[i + 1], ids[i]) for i in range(len(ids) - 1)]
    _run(chain, ComponentsConfig(max_rounds=18, max_in_memory_edges=0))


def _zoo(seed=11):
    """Stars, a big hub, a random graph, duplicates, reversed and self edges."""
    rng = random.Random(seed)
    edges = [(f"hub-{i:04d}", "hub-zzzz") for i in range(3000)]  # hub is the largest id
    edges += [(f"star{s:03d}-c", f"star{s:03d}-{j:02d}") for s in range(200) for j in range(rng.randint(1, 12))]
    edges += [(f"r{rng.randrange(3000)}", f"r{rng.randrange(3000)}") for _ in range(2600)]
    edges += rng.sample(edges, 300) + [(b, a) for a, b in rng.sample(edges, 300)]
    edges += [("alone", "alone"), ("alone", "alone"), ("hub-0001", "hub-0001")]
    rng.shuffle(edges)
    return edges


@pytest.mark.parametrize("max_in_memory_edges, neighbour_set_limit", [(0, 2), (2500, 1_000_000)])
def test_beam_stars_random_duplicates_and_self_edges(max_in_memory_edges, neighbour_set_limit):
    # (0, 2): the rounds label everything, streaming every neighbourhood over
    # two ids (the 3,000-leaf hub among them); (2500, ...): round 3 hands its
    # 2,415 remaining edges to the union-find.
    config = ComponentsConfig(
        max_rounds=8, max_in_memory_edges=max_in_memory_edges, neighbour_set_limit=neighbour_set_limit
    )
    _run(_zoo(), config)


def test_beam_default_config_finishes_in_memory():
    _run(_zoo(seed=5), ComponentsConfig(max_rounds=3))


def test_beam_round_cap_finishes_in_memory_or_fails_loudly():
    # Round 1 carries all 1,300 edges; round 2, the last, only the path's 300
    # (the pairs were confirmed finished and peeled). Those fit a limit of 500
    # and the union-find finishes them exactly; a limit of 100 must fail.
    edges = [(f"p{i:04d}a", f"p{i:04d}b") for i in range(1000)]
    edges += [(f"q{i:04d}", f"q{i + 1:04d}") for i in range(300)]
    assert _rounds_in_memory(edges, 2, 500)[1] == 2
    _run(edges, ComponentsConfig(max_rounds=2, max_in_memory_edges=500))
    with pytest.raises(Exception, match="did not converge"):
        _run(edges, ComponentsConfig(max_rounds=2, max_in_memory_edges=100))


def test_beam_empty_input():
    _run([], ComponentsConfig(max_rounds=1))


def test_beam_same_output_for_one_and_two_workers(tmp_path):
    rng = random.Random(2)
    edges = [(f"c{i:04d}", f"c{i + 1:04d}") for i in range(1000)]
    edges += [(f"g{rng.randrange(1500)}", f"g{rng.randrange(1500)}") for _ in range(1300)]
    config = ComponentsConfig(max_rounds=13, max_in_memory_edges=0)
    one = _run(edges, config, workers=1, out_dir=tmp_path / "one")
    two = _run(edges, config, workers=2, out_dir=tmp_path / "two")
    assert one == two == sorted(components_reference(edges).items())
