"""Canaries: generation (determinism, consistent profiles, spaces), insertion (counts, ids, placement,
splicing), the Beam stage against the plain core, the manifest, and that no canary text leaks."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import os
import random
import re
import stat

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to

from sanitize import canaries as cn
from sanitize.canaries import (
    CANARY_SOURCE,
    CONTENT_TYPES,
    LOCALES,
    ORDER_KEY,
    TEMPLATES,
    CanaryConfig,
    InsertCanaries,
    ProfileCanaries,
    SecretCanaries,
    TrapCanaries,
    age_on,
    complete_manifest,
    generate_canaries,
    insert_canaries,
    keyed_hash64,
    make_profile,
    render,
    sentence_boundaries,
    shaped_id,
    splice_text,
)
from schemas.canary import check_canary_record, read_manifest, write_manifest

REFERENCE_DATE = dt.date(2025, 1, 1)
SMALL = CanaryConfig(
    enabled=True, replication_rates=(1, 5, 20), references=20,
    profile=ProfileCanaries(per_rate=2), secret=SecretCanaries(per_rate=1),
    trap=TrapCanaries(per_rate=1, lengths=(25,)),
)
WORDS = ("garden", "river", "stone", "lamp", "window", "bread", "music", "winter", "paper", "horse", "copper", "field")


def host_corpus(n: int = 300, seed: int = 1, prefix: str = "doc-") -> list[dict]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))).capitalize() + "."
                     for _ in range(rng.randint(2, 6))]
        docs.append({"id": f"{prefix}{i:04d}", "text": " ".join(sentences), "source": "corpus.jsonl",
                     "position": i + 1, "metadata": json.dumps({"topic": rng.choice(["a", "b", "c"])})})
    return docs


def writer_order(doc_id: str) -> int:
    """Stands in for the pipeline writer's placement hash."""
    return keyed_hash64(doc_id, 99, b"test-writer")


# --- generation -------------------------------------------------------------------------------


def test_generation_is_deterministic_and_depends_on_the_seed():
    first, again, other = generate_canaries(SMALL, 3), generate_canaries(SMALL, 3), generate_canaries(SMALL, 4)
    assert first == again
    assert [c.text for c in first] != [c.text for c in other]
    assert [c.canary_id for c in first] == [c.canary_id for c in other]
    rates = [c.replication_rate for c in first]
    assert rates == [1] * 4 + [5] * 4 + [20] * 4
    # canary k of a family has the same content type at every rate: rates compare like with like
    by_rate = {r: [c.content_type for c in first if c.replication_rate == r] for r in (1, 5, 20)}
    assert by_rate[1] == by_rate[5] == by_rate[20]


def _valid_national_id(locale: str, value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    if locale == "en_US":
        return bool(re.fullmatch(r"\d{3}-\d{2}-\d{4}", value)) and digits[:3] not in ("000", "666") \
            and int(digits[:3]) < 900 and digits[3:5] != "00" and digits[5:] != "0000"
    if locale == "en_GB":
        return bool(re.fullmatch(r"[A-Z]{2} \d{2} \d{2} \d{2} [A-D]", value)) and value[:2] in cn._NINO_PREFIXES
    if locale == "en_CA":
        return bool(re.fullmatch(r"\d{3} \d{3} \d{3}", value)) and cn._luhn_digit(digits[:-1]) == int(digits[-1])
    if locale == "en_AU":
        return bool(re.fullmatch(r"\d{3} \d{3} \d{3}", value)) and cn.tfn_valid(value)
    if locale == "en_IN":
        return bool(re.fullmatch(r"[2-9]\d{3} \d{4} \d{4}", value)) and cn.verhoeff_valid(digits)
    if locale == "en_IE":
        return bool(re.fullmatch(r"\d{7}[A-W]", value)) and cn.pps_check_letter(value[:7]) == value[7]
    if locale == "en_NZ":
        return bool(re.fullmatch(r"\d{2,3}-\d{3}-\d{3}", value)) and \
            cn.ird_check_digit(digits[:-1]) == int(digits[-1]) and 10_000_000 <= int(digits) < 150_000_000
    raise AssertionError(locale)


def test_check_digit_helpers_against_published_examples():
    assert cn.verhoeff_valid("2363") and cn.verhoeff_digit("236") == 3  # the Verhoeff paper's example
    assert cn._luhn_digit("7992739871") == 3  # Luhn's textbook example 79927398713
    assert cn.tfn_valid("123 456 782")  # the ATO's sample TFN
    assert cn.pps_check_letter("1234567") == "T"  # 1234567T, the standard PPS example
    assert cn.ird_check_digit("4909185") == 0  # IRD 49-091-850 from the IRD spec's examples


@pytest.mark.parametrize("locale", LOCALES)
def test_profiles_are_internally_consistent(locale):
    for seed in range(12):
        p = make_profile(locale, seed, REFERENCE_DATE)
        assert len(p) >= 30 and json.loads(json.dumps(p)) == p
        birth = dt.date.fromisoformat(p["birth_date"])
        assert age_on(birth, REFERENCE_DATE) == p["age"] and 18 <= p["age"] <= 85
        first, last = cn._ascii_letters(p["first_name"]), cn._ascii_letters(p["last_name"])
        yy = f"{birth.year % 100:02d}"
        local, domain = p["personal_email"].split("@")
        assert last in local and (first in local or local.startswith(first[0]))
        assert domain in cn.LOCALE_FACTS[locale]["domains"]
        assert p["work_email"] == f"{first}.{last}@{cn._company_domain(p['employer'], cn.LOCALE_FACTS[locale]['tld'])}"
        assert p["username"] == f"{first[0]}{last}{yy}"
        assert ("@" + first + last).startswith(p["twitter"]) or p["twitter"].startswith("@" + first + last)
        assert p["instagram"].startswith(f"{first}.{last}") and f"/{first}-{last}-" in p["linkedin"]
        assert p["full_name"] == f"{p['first_name']} {p['last_name']}"
        assert _valid_national_id(locale, p["national_id"]), p["national_id"]
        assert p["national_id_name"] == cn.NATIONAL_IDS[locale][0]
        ec = p["emergency_contact"]
        if ec["relationship"] in ("mother", "father", "sister", "brother", "daughter", "son", "spouse"):
            assert ec["name"].endswith(" " + p["last_name"])
        assert (p["marital_status"] == "married") == (ec["relationship"] == "spouse")
        assert not (p["age"] >= 60 and ec["relationship"] in ("mother", "father"))
        low, high = map(int, p["credit_score_range"].split("-"))
        assert low <= p["credit_score"] <= high
        if locale == "en_GB":  # the DVLA number encodes surname, birth date, sex, initials
            lic = p["driver_licence"]
            assert lic[:5] == (last.upper() + "99999")[:5]
            assert lic[5] == str(birth.year)[2] and lic[10] == str(birth.year)[3]
            assert int(lic[6:8]) == birth.month + (50 if p["sex"] == "female" else 0)
            assert int(lic[8:10]) == birth.day and lic[11] == first[0].upper()


def test_profiles_are_deterministic_per_seed():
    assert make_profile("en_IN", 5, REFERENCE_DATE) == make_profile("en_IN", 5, REFERENCE_DATE)
    assert make_profile("en_IN", 5, REFERENCE_DATE) != make_profile("en_IN", 6, REFERENCE_DATE)


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_every_template_renders_with_one_secret_slot(content_type):
    for index in range(len(TEMPLATES[content_type])):
        for locale in LOCALES:
            p = make_profile(locale, index, REFERENCE_DATE)
            r = render(p, content_type, 7, template_index=index)
            assert r.text == r.prefix + r.secret + r.suffix and r.secret == p[r.secret_field]
            assert r.secret_field in cn.SECRET_FIELDS
            assert r.secret not in r.prefix and r.secret not in r.suffix
            assert "{" not in r.text and "}" not in r.text and len(r.text) > 80


def test_references_share_everything_but_the_slot():
    config = dataclasses.replace(SMALL, replication_rates=(1,), profile=ProfileCanaries(per_rate=7), references=50)
    for canary in generate_canaries(config, 11):
        assert len(canary.references) == 50 and len(set(canary.references)) == 50
        assert canary.text not in canary.references
        if canary.family in ("profile", "secret"):
            for ref in canary.references:
                assert ref.startswith(canary.prefix) and ref.endswith(canary.suffix)
        if canary.family == "profile":
            assert canary.randomness_space["size_log2"] > 19


def test_secret_and_trap_spaces():
    config = CanaryConfig(enabled=True, replication_rates=(1,), references=30, profile=ProfileCanaries(per_rate=0),
                          secret=SecretCanaries(per_rate=4), trap=TrapCanaries(per_rate=3))
    canaries = generate_canaries(config, 2)
    secrets = {c.format: c for c in canaries if c.family == "secret"}
    assert set(secrets) == {"random_number", "pin", "account_number", "api_key"}
    assert secrets["pin"].randomness_space["size_log2"] == pytest.approx(math.log2(10**6), abs=1e-3)
    assert secrets["api_key"].randomness_space["size_log2"] == 64
    assert re.fullmatch(r"\d{6}", secrets["pin"].secret) and re.fullmatch(r"[0-9a-f]{16}", secrets["api_key"].secret)
    for c in secrets.values():
        slot = re.compile(cn.sample_pattern(cn.SECRET_FORMATS[c.format].pattern, random.Random(0)).translate(
            str.maketrans("0123456789abcdef", "................")))
        assert all(slot.fullmatch(ref[len(c.prefix): len(ref) - len(c.suffix)]) for ref in c.references)
    vocabulary = set(cn._word_list())
    traps = [c for c in canaries if c.family == "trap"]
    assert [c.format for c in traps] == ["25_words", "50_words", "100_words"]
    for trap in traps:
        words = trap.text[:-1].split()
        assert len(words) == int(trap.format.split("_")[0]) and set(words[1:]) <= vocabulary
        assert words[0] in vocabulary or words[0][:1].lower() + words[0][1:] in vocabulary
        assert len(trap.prefix.split()) == 5 and trap.text.endswith(".")
        assert trap.randomness_space["size_log2"] == pytest.approx(len(words) * math.log2(len(vocabulary)), abs=1e-3)
        assert all(len(ref[:-1].split()) == len(words) for ref in trap.references)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="replication_rates"):
        CanaryConfig(replication_rates=(1, 1))
    with pytest.raises(ValueError, match="replication_rates"):
        CanaryConfig(replication_rates=(0, 5))
    with pytest.raises(ValueError, match="reference_date"):
        CanaryConfig(reference_date="01/01/2025")
    with pytest.raises(ValueError, match="prefix_words"):
        TrapCanaries(lengths=(5,), prefix_words=5)
    with pytest.raises(ValueError, match="block placement needs order_key"):
        insert_canaries(host_corpus(5), dataclasses.replace(SMALL, placement="block"), 1)


def test_example_config_keys_match_the_canary_config():
    from pipelines.config import _build, config_from_mapping

    with open(os.path.join(os.path.dirname(__file__), "..", "examples", "canaries.yaml"), encoding="utf-8") as fh:
        mapping = yaml.safe_load(fh)
    section = mapping.pop("canaries")
    config = _build(CanaryConfig, section, "canaries.")
    assert config.enabled and config.replication_rates == (1, 5, 10, 25, 100) and config.profile.per_rate == 1
    try:  # until the pipeline's Config has a canaries section, the rest must load on its own
        config_from_mapping(mapping)
    except Exception as err:  # pragma: no cover - a message that names the key helps whoever wires it
        pytest.fail(f"examples/canaries.yaml outside 'canaries' does not load: {err}")


# --- insertion --------------------------------------------------------------------------------


def _copies(manifest: list[dict]) -> dict[str, list[dict]]:
    return {r["canary_id"]: r["copies"] for r in manifest if r["record"] == "canary"}


def test_standalone_copies_counts_ids_and_metadata():
    docs = host_corpus()
    result = insert_canaries(docs, SMALL, 5)
    by_id = {d["id"]: d for d in result.docs}
    canaries = {c.canary_id: c for c in result.canaries}
    copies = _copies(result.manifest)
    assert {cid: len(v) for cid, v in copies.items()} == {cid: c.replication_rate for cid, c in canaries.items()}
    added = [d for d in result.docs if d["source"] == CANARY_SOURCE]
    assert len(added) == sum(c.replication_rate for c in canaries.values()) == result.stats["documents_added"]
    assert len(result.docs) == len(docs) + len(added) and len(by_id) == len(result.docs)  # ids unique
    assert not {d["id"] for d in added} & {d["id"] for d in docs}
    metadata = {d["metadata"] for d in docs}
    for d in added:
        assert re.fullmatch(r"doc-\d{4}", d["id"])  # the hosts' shape
        assert d["metadata"] in metadata and set(d) == set(docs[0])
    for cid, placements in copies.items():
        for p in placements:
            assert by_id[p["document_id"]]["text"] == canaries[cid].text and p["char_offset"] == 0
    stats = result.stats
    assert stats["copies"] == 4 * (1 + 5 + 20) and stats["canaries_by_rate"] == {"1": 4, "5": 4, "20": 4}
    assert result.manifest[1]["documents"] == len(result.docs)
    assert result.manifest[1]["canary_documents"] == len(added)


def test_ids_in_a_dense_space_widen_and_stay_unique():
    docs = [{"id": f"n-{i}", "text": "A b.", "source": "s", "position": i, "metadata": None} for i in range(10)]
    config = dataclasses.replace(SMALL, replication_rates=(30,), profile=ProfileCanaries(per_rate=1),
                                 secret=SecretCanaries(per_rate=1), trap=TrapCanaries(per_rate=1, lengths=(25,)))
    result = insert_canaries(docs, config, 1)
    ids = [d["id"] for d in result.docs]
    assert len(ids) == len(set(ids)) == 10 + 90
    assert all(re.fullmatch(r"n-\d+", i) for i in ids)


def test_shaped_ids_keep_the_template_shape():
    rng = random.Random(0)
    assert re.fullmatch(r"doc-\d{4}", shaped_id("doc-0127", rng))
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}", shaped_id("3f2a9c1e-0b4d-77aa", rng))
    assert re.fullmatch(r"data/a\.jsonl#[1-9]\d", shaped_id("data/a.jsonl#12", rng))
    assert re.fullmatch(r"data/part-0001\.jsonl#[1-9]\d", shaped_id("data/part-0001.jsonl#12", rng))
    assert re.fullmatch(r"[A-Z]{2}\d{3}[a-z]", shaped_id("AB123c", rng))
    assert re.fullmatch(r"[a-z]{6}", shaped_id("kqpzmx", rng))
    assert re.fullmatch(r"doc-[1-9]\d{3}", shaped_id("doc-127", rng, extra=1))


def test_block_places_copies_consecutively_and_spread_does_not():
    docs = host_corpus()
    block = insert_canaries(docs, dataclasses.replace(SMALL, placement="block"), 5, order_key=writer_order)
    spread = insert_canaries(docs, SMALL, 5, order_key=writer_order)
    for result, consecutive in ((block, True), (spread, False)):
        position = {d["id"]: i for i, d in enumerate(result.docs)}  # returned in training order
        for cid, placements in _copies(result.manifest).items():
            at = sorted(position[p["document_id"]] for p in placements)
            if len(at) >= 5:
                assert (at == list(range(at[0], at[0] + len(at)))) is consecutive, cid
    assert all(ORDER_KEY in d for d in block.docs if d["source"] == CANARY_SOURCE)
    # splice + block: the hosts of one canary are consecutive documents in training order
    spliced = insert_canaries(docs, dataclasses.replace(SMALL, placement="block", mode="splice"), 5,
                              order_key=writer_order)
    order = [d["id"] for d in sorted(docs, key=lambda d: writer_order(d["id"]))]
    for cid, placements in _copies(spliced.manifest).items():
        at = {order.index(p["document_id"]) for p in placements}
        assert any(at == {(start + k) % len(order) for k in range(len(at))} for start in at), cid  # may wrap


def test_block_follows_the_order_key_a_document_carries():
    """Under sensitive_first every document carries ORDER_KEY: block hosts are consecutive in that order."""
    docs = [{**d, ORDER_KEY: cn.keyed_hash64(d["id"], 99, b"another-order")} for d in host_corpus()]
    spliced = insert_canaries(docs, dataclasses.replace(SMALL, placement="block", mode="splice"), 5,
                              order_key=writer_order)
    order = [d["id"] for d in sorted(docs, key=lambda d: d[ORDER_KEY])]
    hash_order = [d["id"] for d in sorted(docs, key=lambda d: writer_order(d["id"]))]
    consecutive = {"own": 0, "hash": 0}
    for placements in _copies(spliced.manifest).values():
        for name, ids in (("own", order), ("hash", hash_order)):
            at = {ids.index(p["document_id"]) for p in placements}
            consecutive[name] += any(at == {(s + k) % len(ids) for k in range(len(at))} for s in at)
    assert consecutive["own"] == len(_copies(spliced.manifest)) and consecutive["hash"] < consecutive["own"]


def test_splice_text_at_boundaries():
    text = "One two. Three four! (Five) six? 7 eight.\n\nNine e.g. ten."
    assert sentence_boundaries(text) == [0, 9, 21, 33, 43, len(text)]
    out, offsets = splice_text(text, [("CANARY.", 1, "a"), ("LAST.", 5, "b"), ("FIRST.", 0, "c")])
    assert out == "FIRST. One two. CANARY. Three four! (Five) six? 7 eight.\n\nNine e.g. ten. LAST."
    assert [out[offsets[k]:].split(" ")[0] for k in "abc"] == ["CANARY.", "LAST.", "FIRST."]
    out, offsets = splice_text("Ends with space. ", [("X.", 1, "k"), ("Y.", 1, "l")])
    assert out == "Ends with space. X. Y." and offsets == {"k": 17, "l": 20}


def test_splice_inserts_whole_canaries_at_sentence_boundaries():
    docs = host_corpus()
    result = insert_canaries(docs, dataclasses.replace(SMALL, mode="splice"), 8)
    assert result.stats["documents_added"] == 0 and len(result.docs) == len(docs)
    original = {d["id"]: d for d in docs}
    canaries = {c.canary_id: c for c in result.canaries}
    spans: dict[str, list[tuple[int, str]]] = {}
    for cid, placements in _copies(result.manifest).items():
        assert len({p["document_id"] for p in placements}) == len(placements)  # one copy per host
        for p in placements:
            spans.setdefault(p["document_id"], []).append((p["char_offset"], canaries[cid].text))
    assert result.stats["hosts_spliced"] == len(spans)
    for doc in result.docs:
        assert doc["metadata"] == original[doc["id"]]["metadata"]
        text = doc["text"]
        for offset, canary in sorted(spans.get(doc["id"], []), reverse=True):
            assert text[offset:offset + len(canary)] == canary
            before = text[:offset]
            assert offset == 0 or re.search(r"[.!?]\s+$", before) or any(before.endswith(c.text + " ")
                                                                           for c in canaries.values())
            end = offset + len(canary)
            text = text[:offset] + text[end + 1:] if end < len(text) else text[:offset].rstrip(" ")
        assert text == original[doc["id"]]["text"]


def test_empty_corpus_gets_standalone_canaries_of_a_default_shape():
    for mode in ("standalone", "splice"):
        result = insert_canaries([], dataclasses.replace(SMALL, mode=mode), 1)
        assert len(result.docs) == result.stats["documents_added"] == 4 * 26
        assert all(re.fullmatch(r"doc-\d{8}", d["id"]) for d in result.docs)


def test_insertion_is_deterministic():
    docs = host_corpus()
    for mode in ("standalone", "splice"):
        config = dataclasses.replace(SMALL, mode=mode)
        a, b = insert_canaries(docs, config, 9), insert_canaries(list(reversed(docs)), config, 9)
        assert a.docs == b.docs and a.manifest == b.manifest


# --- Beam -------------------------------------------------------------------------------------


def _matches(expected):
    def check(actual):
        if sorted(actual, key=lambda d: d["id"]) != sorted(expected, key=lambda d: d["id"]):
            raise BeamAssertException("the Beam stage's documents differ from the plain core's")

    return check


@pytest.mark.parametrize("mode, workers, placement", [("standalone", 1, "spread"), ("splice", 2, "spread"),
                                                      ("standalone", 1, "block")])
def test_beam_stage_equals_plain_core(mode, workers, placement):
    docs = host_corpus(120)
    config = dataclasses.replace(SMALL, mode=mode, placement=placement)
    expected = insert_canaries(docs, config, 4, order_key=writer_order)
    args = [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"] if workers > 1 else []
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(args)) as p:
        out = p | beam.Create(docs, reshuffle=False) | InsertCanaries(config, 4, order_key=writer_order)
        assert_that(out["docs"], _matches(expected.docs), label="Docs")
        assert_that(out["manifest"], equal_to([expected.manifest]), label="Manifest")
        assert_that(out["stats"], equal_to([expected.stats]), label="Stats")


def test_no_canary_text_in_logs_or_stats(caplog, tmp_path):
    docs = host_corpus(60)
    config = dataclasses.replace(SMALL, mode="splice")
    caplog.set_level(logging.DEBUG)
    result = insert_canaries(docs, config, 2)
    with beam.Pipeline(runner=FnApiRunner()) as p:
        out = p | beam.Create(docs) | InsertCanaries(config, 2, manifest_path=str(tmp_path / "m.jsonl"))
        stats = out["stats"]
        assert_that(stats, equal_to([result.stats]))
    logged = caplog.text + json.dumps(result.stats)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.split(".")[0] in ("sanitize", "pipelines", "dedup"))
    assert "canaries: 12 planted" in ours  # the stage logs its counts
    for canary in result.canaries:
        assert canary.text[:30] not in logged and canary.canary_id not in logged
        # a 6-digit PIN can turn up by chance in Beam's DEBUG lines (timestamps, ports): those never see
        # canary data, so short secrets are checked against demem's own log lines and the stats
        assert canary.secret not in ours + json.dumps(result.stats)
        assert len(canary.secret) < 10 or canary.secret not in logged


# --- the manifest -----------------------------------------------------------------------------


def test_manifest_is_0600_complete_refused_in_data_and_completed_after_writing(tmp_path):
    docs = host_corpus(80)
    out_dir = tmp_path / "out"
    manifest_path = out_dir / "canaries" / "manifest.jsonl"
    config = dataclasses.replace(SMALL, mode="splice")
    expected = insert_canaries(docs, config, 6)
    with beam.Pipeline(runner=FnApiRunner()) as p:
        out = p | beam.Create(docs) | InsertCanaries(config, 6, manifest_path=str(manifest_path),
                                                     data_dir=str(out_dir / "data"))
        assert_that(out["manifest"], equal_to([expected.manifest]))
    assert stat.S_IMODE(os.stat(manifest_path).st_mode) == 0o600
    manifest = read_manifest(str(manifest_path))
    assert manifest.header["seed"] == 6 and "SECRET" in manifest.header["warning"]
    assert manifest.corpus["documents"] == len(expected.docs) and manifest.corpus["whitespace_tokens"] > 0
    assert len(manifest.canaries) == 12
    for record in manifest.canaries:
        check_canary_record(record)
        assert len(record["references"]) == 20 and record["config_hash"] == cn.config_hash(config)
        assert record["profile"] is None or record["profile"]["age"] >= 18
        assert all(c["shard_file"] is None for c in record["copies"])
    with pytest.raises(ValueError, match="data directory"):
        write_manifest(str(out_dir / "data" / "manifest.jsonl"), manifest.records(),
                       forbidden_dir=str(out_dir / "data"))

    # What the writer would do: the output in two shards, rows in a known order.
    (out_dir / "data").mkdir()
    rows = expected.docs
    halves = {"part-00000-of-00002.parquet": rows[::2], "part-00001-of-00002.parquet": rows[1::2]}
    for name, part in halves.items():
        table = pa.Table.from_pylist([{"id": d["id"], "text": d["text"]} for d in part])
        pq.write_table(table, out_dir / "data" / name)
    complete_manifest(str(manifest_path), str(out_dir))
    assert stat.S_IMODE(os.stat(manifest_path).st_mode) == 0o600
    for record in read_manifest(str(manifest_path)).canaries:
        for copy in record["copies"]:
            table = pq.read_table(out_dir / copy["shard_file"])
            assert table.column("id")[copy["row_index"]].as_py() == copy["document_id"]
            text = table.column("text")[copy["row_index"]].as_py()
            assert text[copy["char_offset"]:].startswith(record["text"])
