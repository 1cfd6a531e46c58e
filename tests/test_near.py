"""Near dedup: banding math, candidate rules, verification, and the Beam stage against the plain core."""
from __future__ import annotations

import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from datasketch.lsh import _optimal_param

from dedup.lsh import bucket_pairs, collision_probability, optimal_bands_rows, s_curve
from dedup.near import NearDedup, NearDedupConfig, NearDuplicates, exact_jaccard, judge, near_dedup, verified_edges

WORDS = [f"w{i}" for i in range(5000)]


def doc(doc_id: str, text: str, position: int, source: str = "c.jsonl") -> dict:
    return {"id": doc_id, "text": text, "source": source, "position": position, "metadata": None}


def corpus(seed: int = 7) -> list[dict]:
    """Random documents plus edited copies at graded similarity, and a punctuation-only text."""
    rng = random.Random(seed)
    docs = []
    for i in range(60):
        docs.append(doc(f"orig{i}", " ".join(rng.choice(WORDS) for _ in range(120)), 2 * i))
    for i in range(0, 60, 3):  # copies with 1..6 substituted words: Jaccard from ~0.92 down to ~0.6
        words = docs[i]["text"].split()
        for k in range(1 + i % 6):
            words[10 + 17 * k] = f"edit{k}"
        docs.append(doc(f"copy{i}", " ".join(words), 2 * i + 1))
    docs.append(doc("punct", "... !!! ---", 999))
    docs.append(doc("punct2", "??? ,,,", 1000))
    return docs


@pytest.mark.parametrize("threshold, num_perm", [(0.5, 128), (0.8, 128), (0.9, 256), (0.7, 64)])
def test_bands_rows_match_datasketch_at_equal_weights(threshold, num_perm):
    assert optimal_bands_rows(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)


def test_default_banding_catches_pairs_at_the_threshold():
    bands, rows = NearDedupConfig().banding()
    assert bands * rows <= 128
    curve = s_curve(bands, rows)
    assert curve["0.80"] >= 0.97 and curve["0.90"] >= 0.9999 and curve["0.50"] < 0.2
    assert np.all(np.diff(collision_probability(np.linspace(0, 1, 50), bands, rows)) >= 0)


def test_bucket_pairs_are_all_pairs_when_small_and_linear_when_huge():
    assert bucket_pairs(["c", "a", "b"], 16) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert bucket_pairs(["a"], 16) == [] and bucket_pairs(["a", "a"], 16) == []
    members = [f"n{i:06d}" for i in range(100_000)]
    pairs = bucket_pairs(members, 16)
    assert len(pairs) < 2 * len(members)
    assert all(a < b for a, b in pairs)
    assert {b for _, b in pairs} == set(members[1:])


def test_exact_jaccard_and_the_borderline_rule():
    a, b = np.array([1, 2, 3, 4], np.uint64), np.array([3, 4, 5], np.uint64)
    assert exact_jaccard(a, b) == 2 / 5
    assert exact_jaccard(np.array([], np.uint64), np.array([], np.uint64)) == 1.0
    config = NearDedupConfig()
    assert judge(0.95, config) is True and judge(0.65, config) is False and judge(0.82, config) is None
    assert judge(0.82, NearDedupConfig(verify="estimate")) is True


def test_every_asserted_edge_has_exact_jaccard_at_least_the_threshold():
    from dedup.minhash import MinHasher
    from dedup.near import shingle_set

    docs = corpus()
    config = NearDedupConfig()
    hasher = MinHasher(config.minhash())
    by_node = {f"{d['source']}\0{d['position']:020d}\0{d['id']}": d for d in docs}
    edges = verified_edges(docs, config)
    assert edges
    for a, b in edges:
        sa, sb = shingle_set(hasher, by_node[a]["text"]), shingle_set(hasher, by_node[b]["text"])
        assert exact_jaccard(sa, sb) >= config.threshold


def test_plain_core_keeps_first_in_corpus_order_and_ignores_shingle_less_texts():
    docs = corpus()
    kept, removed = near_dedup(docs)
    removed_ids = {r["id"] for r in removed}
    assert "punct" not in removed_ids and "punct2" not in removed_ids
    assert removed_ids and all(i.startswith("copy") for i in removed_ids)  # a copy sorts after its original
    for row in removed:
        assert row["kept_id"] == row["id"].replace("copy", "orig")
        assert row["stage"] == "near_dedup" and row["reason"] == "near_duplicate" and row["cluster_id"]
    assert len(kept) + len(removed) == len(docs)
    # light edits are caught, heavy ones are not
    assert {"copy0", "copy6"} <= removed_ids and "copy5" not in removed_ids


@pytest.mark.parametrize("beam_args", [[], ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]])
def test_beam_stage_equals_plain_core_with_one_or_two_workers(beam_args):
    docs = corpus()
    kept, removed = near_dedup(docs)
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(beam_args)) as p:
        result = p | beam.Create(docs) | NearDedup()
        assert_that(result["docs"] | "Kept" >> beam.Map(lambda d: d["id"]), equal_to([d["id"] for d in kept]),
                    label="kept")
        assert_that(result["removed"] | "Rows" >> beam.Map(lambda r: (r["id"], r["kept_id"], r["cluster_id"])),
                    equal_to([(r["id"], r["kept_id"], r["cluster_id"]) for r in removed]), label="removed")
        assert_that(result["stats"] | beam.Map(lambda s: (s["bands"], s["rows"], s["clusters"])),
                    equal_to([(*NearDedupConfig().banding(), len({r["kept_id"] for r in removed}))]), label="stats")


def test_a_huge_bucket_of_identical_texts_is_one_cluster():
    text = " ".join(WORDS[:200])
    docs = [doc(f"same{i:04d}", text, i) for i in range(400)]
    kept, removed = near_dedup(docs)
    assert [d["id"] for d in kept] == ["same0000"]
    assert len({r["cluster_id"] for r in removed}) == 1


# --- bounded upweighting: max_copies ------------------------------------------------------

TWO_WORKERS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def upweight_corpus() -> list[dict]:
    """The graded corpus plus a cluster of six light edits of one long text, fed out of corpus order.

    Corpus order of the cluster: near0 (a.jsonl:4) < near1 (a.jsonl:8) < near2 (n.jsonl:0) < ...
    """
    rng = random.Random(11)
    words = [rng.choice(WORDS) for _ in range(400)]
    places = [("a.jsonl", 4), ("a.jsonl", 8), ("n.jsonl", 0), ("n.jsonl", 3), ("n.jsonl", 5), ("z.jsonl", 1)]
    cluster = []
    for i, (source, position) in enumerate(places):
        edited = list(words)
        for k in range(i % 3):  # 0-2 substituted words each: pairwise Jaccard above 0.9
            edited[40 + 60 * k + 7 * i] = f"near{i}edit{k}"
        cluster.append(doc(f"near{i}", " ".join(edited), position, source))
    order = [4, 1, 5, 0, 3, 2]
    return [cluster[order[0]], *corpus()[:30], *(cluster[i] for i in order[1:]), *corpus()[30:]]


def test_plain_core_max_copies_keeps_the_first_k_of_a_cluster():
    docs = upweight_corpus()
    kept1, removed1 = near_dedup(docs)
    kept2, removed2 = near_dedup(docs, max_copies=2)
    cluster_rows = [r for r in removed2 if r["id"].startswith("near")]
    assert sorted(r["id"] for r in cluster_rows) == ["near2", "near3", "near4", "near5"]
    assert {r["kept_id"] for r in cluster_rows} == {"near0"}
    assert all(r["stage"] == "near_dedup" and r["reason"] == "near_duplicate" for r in cluster_rows)
    # the k=2 rows are k=1 rows (same kept_id, cluster_id), less the second member of each cluster
    assert all(row in removed1 for row in removed2)
    assert {"near0", "near1"} <= {d["id"] for d in kept2} and "near1" not in {d["id"] for d in kept1}
    assert [d["id"] for d in kept2] == [d["id"] for d in docs if d["id"] not in {r["id"] for r in removed2}]
    assert len(kept1) + len(removed1) == len(docs) and len(kept2) + len(removed2) == len(docs)
    # the graded corpus's clusters are pairs: with k=2 nothing of it goes
    assert not [r for r in removed2 if not r["id"].startswith("near")]
    assert near_dedup(docs, max_copies=1) == (kept1, removed1)
    assert near_dedup(docs, max_copies=50)[1] == []


@pytest.mark.parametrize("beam_args", [[], TWO_WORKERS])
def test_beam_stage_with_max_copies_equals_plain_core(beam_args):
    docs = upweight_corpus()
    kept, removed = near_dedup(docs, max_copies=2)
    assert removed
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(beam_args)) as p:
        result = p | beam.Create(docs) | NearDedup(max_copies=2)
        assert_that(result["docs"] | "Kept" >> beam.Map(lambda d: d["id"]), equal_to([d["id"] for d in kept]),
                    label="kept")
        assert_that(result["removed"], equal_to(removed), label="removed")


def test_max_copies_below_one_is_refused():
    with pytest.raises(ValueError, match="max_copies must be >= 1"):
        near_dedup(corpus(), max_copies=0)
    with pytest.raises(ValueError, match="max_copies must be >= 1"):
        NearDuplicates(max_copies=0)
