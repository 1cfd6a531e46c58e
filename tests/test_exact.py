"""Exact dedup: the keep rule, the plain-Python core and the standalone PTransform."""
import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from dedup.exact import ExactDedup, ExactDuplicates, exact_dedup, split_exact_duplicates


def doc(doc_id, text, source="s.jsonl", position=0):
    return {"id": doc_id, "text": text, "source": source, "position": position, "metadata": None}


def test_first_in_corpus_order_is_kept_not_first_seen():
    group = [doc("late", "same", "b.jsonl", 1), doc("early", "same", "a.jsonl", 7), doc("mid", "same", "a.jsonl", 9)]
    kept, removed = split_exact_duplicates(group)
    assert [k["id"] for k in kept] == ["early"]
    assert [(r["id"], r["kept_id"], r["stage"], r["reason"]) for r in removed] == [
        ("mid", "early", "exact_dedup", "exact_duplicate"), ("late", "early", "exact_dedup", "exact_duplicate")]
    assert removed[0]["text_bytes"] == 4


def test_plain_core_keeps_one_per_distinct_text_in_input_order():
    docs = [doc("a", "x", position=1), doc("b", "y", position=2), doc("c", "x", position=3), doc("d", "X", position=4)]
    kept, removed = exact_dedup(docs)
    assert [d["id"] for d in kept] == ["a", "b", "d"]
    assert [(r["id"], r["kept_id"]) for r in removed] == [("c", "a")]


def test_ptransform_matches_the_plain_core():
    docs = [doc(f"d{i}", f"text {i % 5}", position=i) for i in range(23)]
    kept, removed = exact_dedup(docs)
    with beam.Pipeline(runner=FnApiRunner()) as p:
        result = p | beam.Create(docs) | ExactDedup()
        assert_that(result["docs"] | "KeptIds" >> beam.Map(lambda d: d["id"]), equal_to([d["id"] for d in kept]),
                    label="kept")
        assert_that(result["removed"] | beam.Map(lambda r: (r["id"], r["kept_id"])),
                    equal_to([(r["id"], r["kept_id"]) for r in removed]), label="removed")
        assert_that(result["stats"], equal_to([{"duplicate_groups": 5, "largest_group": 5}]), label="stats")


# --- bounded upweighting: max_copies ------------------------------------------------------


def upweight_corpus():
    """Five copies of one text in an input order unlike corpus order, plus a pair and a single."""
    return [
        doc("c4", "same", "b.jsonl", 2), doc("c2", "same", "a.jsonl", 9), doc("p1", "pair", "a.jsonl", 3),
        doc("c5", "same", "b.jsonl", 10), doc("c0", "same", "a.jsonl", 1), doc("u", "unique", "a.jsonl", 4),
        doc("c1", "same", "a.jsonl", 5), doc("p0", "pair", "a.jsonl", 2),
    ]


def test_max_copies_keeps_the_first_k_in_corpus_order():
    group = [d for d in upweight_corpus() if d["text"] == "same"]
    kept, removed = split_exact_duplicates(group, max_copies=3)
    assert [k["id"] for k in kept] == ["c0", "c1", "c2"]
    assert [(r["id"], r["kept_id"], r["stage"], r["reason"], r["cluster_id"]) for r in removed] == [
        ("c4", "c0", "exact_dedup", "exact_duplicate", None), ("c5", "c0", "exact_dedup", "exact_duplicate", None)]


ALL = ["c4", "c2", "p1", "c5", "c0", "u", "c1", "p0"]


@pytest.mark.parametrize("max_copies, kept_ids, removed_rows", [
    (1, ["c0", "u", "p0"], [("c1", "c0"), ("c2", "c0"), ("c4", "c0"), ("c5", "c0"), ("p1", "p0")]),
    (3, ["c2", "p1", "c0", "u", "c1", "p0"], [("c4", "c0"), ("c5", "c0")]),
    (5, ALL, []),
    (9, ALL, []),  # more than the group holds: every copy stays
])
def test_plain_core_max_copies(max_copies, kept_ids, removed_rows):
    docs = upweight_corpus()
    kept, removed = exact_dedup(docs, max_copies=max_copies)
    assert [d["id"] for d in kept] == kept_ids  # input order
    assert sorted((r["id"], r["kept_id"]) for r in removed) == removed_rows
    assert len(kept) + len(removed) == len(docs)


def test_max_copies_one_is_the_default():
    docs = upweight_corpus()
    assert exact_dedup(docs, max_copies=1) == exact_dedup(docs)
    assert split_exact_duplicates(docs[:5], max_copies=1) == split_exact_duplicates(docs[:5])


@pytest.mark.parametrize("bad", [0, -1])
def test_max_copies_below_one_is_refused(bad):
    with pytest.raises(ValueError, match="max_copies must be >= 1"):
        exact_dedup(upweight_corpus(), max_copies=bad)
    with pytest.raises(ValueError, match="max_copies must be >= 1"):
        ExactDuplicates(max_copies=bad)
    with pytest.raises(TypeError):
        ExactDedup(max_copies=2.0)


@pytest.mark.parametrize("max_copies", [1, 3, 6])
def test_ptransform_matches_the_plain_core_with_max_copies(max_copies):
    docs = upweight_corpus()
    kept, removed = exact_dedup(docs, max_copies=max_copies)
    with beam.Pipeline(runner=FnApiRunner()) as p:
        result = p | beam.Create(docs) | ExactDedup(max_copies=max_copies)
        assert_that(result["docs"] | "KeptIds" >> beam.Map(lambda d: d["id"]), equal_to([d["id"] for d in kept]),
                    label="kept")
        assert_that(result["removed"], equal_to(removed), label="removed")
        assert_that(result["stats"], equal_to([{"duplicate_groups": 2, "largest_group": 5}]), label="stats")


def test_all_k_kept_fingerprints_flow_on():
    docs = upweight_corpus()
    with beam.Pipeline(runner=FnApiRunner()) as p:
        fingerprints = p | beam.Create([{**d, "digest": d["text"], "text_bytes": len(d["text"])} for d in docs])
        exact = fingerprints | ExactDuplicates(max_copies=2)
        assert_that(exact["fingerprints"] | "KeptIds" >> beam.Map(lambda fp: fp["id"]),
                    equal_to(["c0", "c1", "p0", "p1", "u"]), label="kept")
        assert_that(exact["decisions"] | "DecidedIds" >> beam.Map(lambda d: (d[0], d[1].get("kept_id", d[1].get("copy_of")))),
                    equal_to([("c2", "c0"), ("c4", "c0"), ("c5", "c0"), ("c1", "c0"), ("p1", "p0")]),
                    label="decisions")  # removals, then the kept copies' copy rows
