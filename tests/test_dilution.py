"""Frequency dilution (issue 7): corpus-wide caps on sensitive values, and training order on the shards."""
from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from pathlib import Path

import apache_beam as beam
import phonenumbers
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from hypothesis import given
from hypothesis import strategies as st

from pipelines.config import config_from_mapping
from pipelines.order import sensitive_first_key
from pipelines.pipeline import run
from sanitize.dilution import DiluteFrequencies, DilutionConfig, crowded, fresh_value, item_hash, summary, tally
from sanitize.sensitive import KEY
from sanitize.surrogates import SurrogateGenerator, SurrogateKey, _name_pools

TWO_WORKERS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
PHONE = "+1 202-555-0143"  # a fictional number (555-01xx) that is still a valid NANP number
NAME = "Ada Lovelace"
PHONE_SHAPE = re.compile(r"\+1 \d{3}-\d{3}-\d{4}")


def _key():
    return SurrogateKey.from_seed(5)


WORDS = ("river", "stone", "table", "window", "garden", "paper", "engine", "bridge", "cloud", "market", "yellow",
         "quiet", "carry", "build", "under", "across", "simple", "winter", "forest", "metal", "glass",
         "report", "travel", "kitchen", "planet", "coffee", "pocket", "ladder", "candle", "valley")


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


# --- the pieces ---------------------------------------------------------------------------------


def test_cap_takes_the_smaller_of_both_limits():
    assert DilutionConfig(max_occurrences=100).cap(10**9) == 100
    assert DilutionConfig(max_occurrences=0, per_million_tokens=2.5).cap(4_000_000) == 10
    assert DilutionConfig(max_occurrences=8, per_million_tokens=2.5).cap(4_000_000) == 8
    assert DilutionConfig(max_occurrences=0, per_million_tokens=2.5).cap(1000) == 1  # never below one
    assert DilutionConfig(max_occurrences=0).cap(10**9) is None
    with pytest.raises(ValueError, match="unknown types NOPE"):
        DilutionConfig(types=("PERSON", "NOPE"))


@given(st.lists(st.integers(1, 60), max_size=300), st.integers(1, 40))
def test_summary_matches_a_sorted_list(counts, cap):
    result = summary(Counter(counts), cap)
    assert result["items"] == len(counts) and result["occurrences"] == sum(counts)
    if counts:
        ordered = sorted(counts)
        assert result["max"] == ordered[-1]
        assert result["p99"] == ordered[-(-99 * len(ordered) // 100) - 1]
        assert result["over_cap"] == sum(c > cap for c in counts)


@given(st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 9), st.integers(0, 3)), min_size=1, max_size=80),
       st.integers(1, 30))
def test_tally_cutoff_is_the_cap_th_first_occurrence(positions, cap):
    entity_type, count, cutoff = tally([("PERSON", *p) for p in positions], cap)
    assert entity_type == "PERSON" and count == len(positions)
    assert cutoff == (sorted(positions)[cap - 1] if len(positions) > cap else None)


def test_replacements_avoid_crowded_values():
    """A value with half the cap or more is never drawn: replacements cannot push it over the cap."""
    assert crowded(50, 100) and not crowded(49, 100) and crowded(2, 1) and not crowded(1, 1) and not crowded(9, None)
    generator = SurrogateGenerator(_key())
    first = fresh_value(generator, "PERSON", "surrogate", NAME, "d1", 0, avoid=set())
    second = fresh_value(generator, "PERSON", "surrogate", NAME, "d1", 0, avoid={item_hash(generator, "PERSON", first)})
    assert first != second and NAME not in (first, second)
    digest = fresh_value(generator, "EMAIL_ADDRESS", "hash", "0123456789abcdef", "d1", 0, avoid=set())
    assert re.fullmatch(r"[0-9a-f]{16}", digest) and digest != "0123456789abcdef"


def test_sensitive_first_keys_split_the_key_space_by_the_sensitive_share():
    keys = {i: sensitive_first_key(f"d{i}", i < 300, 300, 1000, seed=3) for i in range(1000)}
    boundary = 2**64 * 300 // 1000
    assert all(keys[i] < boundary for i in range(300)) and all(boundary <= keys[i] < 2**64 for i in range(300, 1000))
    assert sum(k < boundary // 2 for k in keys.values()) == pytest.approx(150, abs=45)  # uniform inside the range


# --- the Beam stage: one phone number in 1,000 documents, one surrogate name in 500 ----------------


def _stage_corpus() -> list[dict]:
    rng = random.Random(7)
    docs = []
    for i in range(1500):
        parts, items = [f"note {i}: {_words(rng, 6)}"], []
        if i < 1000:
            items.append(("PHONE_NUMBER", "allowed", f"call {PHONE} today"))
        if i % 3 == 0:
            items.append(("PERSON", "surrogate", f"signed {NAME}"))
        text, spans = parts[0], []
        for entity_type, origin, phrase in items:
            value = PHONE if entity_type == "PHONE_NUMBER" else NAME
            text += " " + phrase
            start = len(text) - len(phrase) + phrase.index(value)
            spans.append([start, start + len(value), entity_type, origin])
        docs.append({"id": f"d{i:04d}", "text": text + ".", "source": "s.jsonl", "position": i + 1,
                     "metadata": None, KEY: spans})
    rng.shuffle(docs)  # arrival order is not corpus order
    return docs


def _run_stage(docs: list[dict], config: DilutionConfig, out: Path, beam_args=()) -> tuple[list[dict], dict]:
    """The stage on FnApiRunner; outputs are written by a worker, read back here."""
    path = str(out)

    def save(pair):
        Path(path).write_text(json.dumps({"docs": sorted(pair[0], key=lambda d: d["id"]), "stats": pair[1]}))

    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(list(beam_args))) as p:
        result = p | beam.Create(docs) | DiluteFrequencies(config, _key)
        listed = result["docs"] | "List" >> beam.combiners.ToList()
        _ = listed | "Save" >> beam.Map(lambda d, s: save((d, s)), s=beam.pvalue.AsSingleton(result["stats"]))
    saved = json.loads(out.read_text())
    return saved["docs"], saved["stats"]


def _values(doc: dict) -> list[tuple[str, str, str]]:
    return [(doc["text"][s:e], entity_type, origin) for s, e, entity_type, origin in doc[KEY]]


def test_no_value_exceeds_the_cap_and_replacements_are_valid_values_of_their_type(tmp_path):
    docs = _stage_corpus()
    out, stats = _run_stage(docs, DilutionConfig(max_occurrences=25), tmp_path / "one.json")
    assert len(out) == len(docs) and {d["id"] for d in out} == {d["id"] for d in docs}  # nothing removed

    counts = Counter((v, t) for d in out for v, t, _ in _values(d))
    assert max(counts.values()) <= 25
    assert counts[(PHONE, "PHONE_NUMBER")] == 25 and counts[(NAME, "PERSON")] == 25
    # the first 25 occurrences in corpus order keep their value
    keeps_phone = sorted(d["id"] for d in out if PHONE in d["text"])
    assert keeps_phone == [f"d{i:04d}" for i in range(25)]
    assert sorted(d["id"] for d in out if NAME in d["text"]) == [f"d{i:04d}" for i in range(0, 75, 3)]

    pools = _name_pools("en_US")
    replaced = [(v, t) for d in out for v, t, origin in _values(d) if origin == "dilution"]
    assert len(replaced) == 975 + 475
    for value, entity_type in replaced:
        if entity_type == "PHONE_NUMBER":
            assert PHONE_SHAPE.fullmatch(value) and phonenumbers.is_valid_number(phonenumbers.parse(value))
            assert value.startswith("+1 202-")  # the area code is kept, the subscriber is new
        else:
            first, last = value.split(" ")
            assert first in pools.first and last in pools.last and value != NAME
    # no document text changed outside its sensitive values
    originals = {d["id"]: d for d in docs}
    for doc in out:
        assert _mask(doc) == _mask(originals[doc["id"]])

    phone, person = stats["by_type"]["PHONE_NUMBER"], stats["by_type"]["PERSON"]
    assert stats["cap"] == 25 and stats["occurrences_replaced"] == 1450
    assert phone["before"] == {"items": 1, "occurrences": 1000, "max": 1000, "p99": 1000, "over_cap": 1}
    assert person["before"]["max"] == 500 and person["replaced"] == 475
    assert phone["after"]["max"] == 25 and phone["after"]["over_cap"] == 0 and phone["after"]["occurrences"] == 1000
    assert phone["after"]["items"] == len({v for d in out for v, t, _ in _values(d) if t == "PHONE_NUMBER"})
    assert stats["whitespace_tokens"] == sum(len(d["text"].split()) for d in docs)


def _mask(doc: dict) -> str:
    text, pos, parts = doc["text"], 0, []
    for s, e, _, _ in doc[KEY]:
        parts += [text[pos:s], "\0"]
        pos = e
    return "".join(parts) + text[pos:]


def test_caps_hold_across_two_workers_and_runs_are_deterministic(tmp_path):
    docs = _stage_corpus()
    config = DilutionConfig(max_occurrences=0, per_million_tokens=1500.0)  # cap from the corpus size
    one, stats_one = _run_stage(docs, config, tmp_path / "one.json")
    two, stats_two = _run_stage(docs, config, tmp_path / "two.json", TWO_WORKERS)
    again, _ = _run_stage(list(reversed(docs)), config, tmp_path / "again.json", TWO_WORKERS)
    assert one == two == again and stats_one == stats_two
    cap = stats_one["cap"]
    assert cap == int(1500 * stats_one["whitespace_tokens"] / 1e6)
    assert max(Counter(v for d in two for v, _, _ in _values(d)).values()) <= cap


def test_a_value_repeated_inside_one_document_is_capped_too(tmp_path):
    """One long document repeats a name 300 times (a page header): runs of half the cap share a replacement."""
    text, items = "", []
    for page in range(300):
        text += f"page {page} of the memo by "
        items.append([len(text), len(text) + len(NAME), "PERSON", "surrogate"])
        text += NAME + ".\n"
    doc = {"id": "memo", "text": text, "source": "m.jsonl", "position": 1, "metadata": None, KEY: items}
    [out], stats = _run_stage([doc], DilutionConfig(max_occurrences=25), tmp_path / "o.json")
    counts = Counter(v for v, _, _ in _values(out))
    assert counts[NAME] == 25 and max(counts.values()) == 25 and len(counts) == 1 + 23  # 275 = 22 runs of 12 + 11
    assert stats["by_type"]["PERSON"]["after"]["over_cap"] == 0


def test_types_not_listed_are_left_alone(tmp_path):
    out, stats = _run_stage(_stage_corpus(), DilutionConfig(max_occurrences=10, types=("PERSON",)), tmp_path / "o.json")
    assert sum(PHONE in d["text"] for d in out) == 1000 and sum(NAME in d["text"] for d in out) == 10
    assert set(stats["by_type"]) == {"PERSON"}


# --- demem run: caps and orderings on the written shards -------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """1,600 documents: the phone number in 1,000, the (allow-listed, public) name in 500, 434 without either."""
    rng = random.Random(11)
    path = tmp_path_factory.mktemp("dilution") / "corpus.jsonl"
    lines = []
    for i in range(1600):
        text = f"note {i}: {_words(rng, 12)}"
        if i < 1000:
            text += f" the helpline {PHONE} answered."
        if i % 3 == 0 and i < 1500:
            text += f" {NAME} wrote {_words(rng, 3)}."
        lines.append(json.dumps({"id": f"r{i:04d}", "text": text}))
    path.write_text("\n".join(lines) + "\n")
    return path


def _sensitive(i: int) -> bool:
    return i < 1000 or (i % 3 == 0 and i < 1500)


SENSITIVE = sum(map(_sensitive, range(1600)))  # 1,166


def _config(order: str = "shuffle"):
    return config_from_mapping({
        "seed": 2,
        "traces": {"enabled": False},
        "pii": {"ner": False, "allow_list": [PHONE, NAME]},
        "dilution": {"max_occurrences": 40, "order": order},
        "output": {"shard_target_bytes": 40_000},
    })


def _rows_in_training_order(out: Path) -> list[dict]:
    rows = []
    for shard in sorted((out / "data").iterdir()):
        rows += pq.read_table(shard).to_pylist()
    return rows


def _shard_sizes(out: Path) -> list[int]:
    return [pq.read_metadata(p).num_rows for p in sorted((out / "data").iterdir())]


def test_demem_run_caps_values_and_is_the_same_on_two_workers(corpus, tmp_path):
    one = run([str(corpus)], str(tmp_path / "one"), _config()).report
    two = run([str(corpus)], str(tmp_path / "two"), _config(), TWO_WORKERS).report
    digests = [{p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((tmp_path / d / "data").iterdir())}
               for d in ("one", "two")]
    assert digests[0] == digests[1] and len(digests[0]) >= 4
    assert one["accounting_ok"] and one["counts"]["output"] == 1600  # dilution removes nothing
    texts = [row["text"] for row in _rows_in_training_order(tmp_path / "two")]
    assert sum(t.count(PHONE) for t in texts) == 40 and sum(t.count(NAME) for t in texts) == 40
    dilution = two["stages"]["dilution"]
    assert dilution == one["stages"]["dilution"]
    assert dilution["by_type"]["PHONE_NUMBER"]["before"]["max"] == 1000
    assert dilution["by_type"]["PERSON"]["before"]["max"] == 500
    assert all(t["after"]["max"] <= 40 and t["after"]["over_cap"] == 0 for t in dilution["by_type"].values())
    said = json.dumps({k: v for k, v in two.items() if k != "config"})  # the config holds the user's allow list
    assert PHONE not in said and NAME not in said  # counts only in the report

    # shuffle: training order follows neither source order nor sensitivity
    order = [int(row["id"][1:]) for row in _rows_in_training_order(tmp_path / "two")]
    assert order != sorted(order) and two["ordering"] == {"order": "shuffle", "sensitive_documents": SENSITIVE,
                                                          "documents": 1600}
    assert 0 < sum(not _sensitive(i) for i in order[:200]) < 200
    sizes = _shard_sizes(tmp_path / "two")
    assert max(sizes) <= 2 * min(sizes)


def test_sensitive_first_puts_every_document_with_sensitive_values_before_the_others(corpus, tmp_path):
    report = run([str(corpus)], str(tmp_path / "out"), _config("sensitive_first")).report
    assert report["ordering"] == {"order": "sensitive_first", "sensitive_documents": SENSITIVE, "documents": 1600}
    ids = [int(row["id"][1:]) for row in _rows_in_training_order(tmp_path / "out")]
    assert [_sensitive(i) for i in ids] == [True] * SENSITIVE + [False] * (1600 - SENSITIVE)
    assert ids[:SENSITIVE] != sorted(ids[:SENSITIVE])  # shuffled inside the sensitive block
    sizes = _shard_sizes(tmp_path / "out")
    assert max(sizes) <= 2 * min(sizes)  # the key space is split by share, so shards stay balanced


def test_max_copies_keeps_the_first_copies_of_a_duplicate_through_demem_run(tmp_path):
    rng = random.Random(3)
    repeated = f"a notice repeated across the corpus: {_words(rng, 40)}"
    records = [{"id": f"u{i}", "text": f"unique {i}: {_words(rng, 30)}"} for i in range(30)]
    for k in range(5):
        records.insert(3 + 5 * k, {"id": f"copy{k}", "text": repeated})
    words = _words(rng, 120).split()
    variants = []
    for k in range(4):  # near duplicates: one word differs
        edited = words[:60] + [f"edit{k}"] + words[61:]
        variants.append(" ".join(edited))
        records.insert(2 + 6 * k, {"id": f"near{k}", "text": variants[-1]})
    source = tmp_path / "c.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    config = config_from_mapping({"traces": {"enabled": False}, "pii": {"enabled": False},
                                  "dilution": {"max_copies": 3}})  # substring removal on: copies stay whole
    report = run([str(source)], str(tmp_path / "out"), config).report
    rows = _rows_in_training_order(tmp_path / "out")
    kept = sorted((r["id"], r["text"]) for r in rows if r["id"].startswith("copy"))
    assert kept == [("copy0", repeated), ("copy1", repeated), ("copy2", repeated)]
    near = sorted((r["id"], r["text"]) for r in rows if r["id"].startswith("near"))
    assert near == [(f"near{k}", variants[k]) for k in range(3)]
    assert report["counts"]["removed"] == {"exact_dedup": 2, "near_dedup": 1, "substring": 0}
    assert report["accounting_ok"]


def test_trace_surrogates_are_counted_without_the_pii_stage_and_an_empty_corpus_reports_nothing(tmp_path):
    source = tmp_path / "notes.jsonl"
    source.write_text("\n".join(json.dumps({"id": f"n{i}", "text": f"note {i}: seen by <PERSON> about the "
                                                                 f"{_words(random.Random(i), 8)}."})
                                 for i in range(50)) + "\n")
    config = config_from_mapping({"pii": {"enabled": False}, "dilution": {"order": "sensitive_first"}})
    report = run([str(source)], str(tmp_path / "out"), config).report
    person = report["stages"]["dilution"]["by_type"]["PERSON"]
    assert person["before"]["occurrences"] == 50 and person["before"]["max"] == 1  # one surrogate per document
    assert report["ordering"]["sensitive_documents"] == 50
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"id": "x", "text": ""}\n')
    report = run([str(empty)], str(tmp_path / "empty-out"), config).report
    assert report["accounting_ok"] and report["counts"]["output"] == 0
    assert report["stages"]["dilution"]["by_type"] == {} and report["ordering"]["documents"] == 0
