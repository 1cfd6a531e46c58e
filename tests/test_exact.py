"""Exact dedup: the keep rule, the plain-Python core and the standalone PTransform."""
import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from dedup.exact import ExactDedup, exact_dedup, split_exact_duplicates


def doc(doc_id, text, source="s.jsonl", position=0):
    return {"id": doc_id, "text": text, "source": source, "position": position, "metadata": None}


def test_first_in_corpus_order_is_kept_not_first_seen():
    group = [doc("late", "same", "b.jsonl", 1), doc("early", "same", "a.jsonl", 7), doc("mid", "same", "a.jsonl", 9)]
    kept, removed = split_exact_duplicates(group)
    assert kept["id"] == "early"
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
