"""De-identification traces: each family's positives and negatives, type inference, clean replacement."""
from __future__ import annotations

import pytest

from sanitize.traces import CATALOGUE, ExtraFamily, TraceFinder, TracesConfig, infer_type, replace_markers, scrub_traces

FINDER = TraceFinder()


class RecordingGenerator:
    """A surrogate generator double that shows which type each marker was replaced as."""

    def surrogate(self, entity_type, original, doc_id, salt=""):
        return f"«{entity_type}»"

    def hmac_hex(self, entity_type, original, length=16):
        return "0123456789abcdef"[:length]


def families(text):
    return [m.family for m in FINDER.find(text)]


POSITIVES = [
    ("mimic_blank", "INDICATION: ___ year old woman with chest pain."),
    ("mimic_blank", "Swan-___ catheter tip in the right atrium."),
    ("mimic_blank", "Comparison with the study of ___:53 showed no change."),
    ("mimic_bracket", "Seen by [**First Name8 (NamePattern2) 1234**] [**Last Name (NamePattern1) 5678**]."),
    ("mimic_bracket", "Admitted [**2151-8-5**] to [**Hospital1 18**]."),
    ("i2b2_xml", 'Discharged by <PHI TYPE="DOCTOR">John Smith</PHI> today.'),
    ("presidio_tag", "Contact <PERSON> at <PHONE_NUMBER>."),
    ("dolma_pipes", "mail |||EMAIL_ADDRESS||| or visit |||IP_ADDRESS|||"),
    ("bigcode_tag", "api_key = '<KEY>'  # owner <NAME> <EMAIL>"),
    ("curly_placeholder", "Dear {{name}}, your code is {{ PHONE_NUMBER }}."),
    ("bracket_label", "The plaintiff, [REDACTED], met [NAME] and [removed] in [PII]."),
    ("ssn_mask", "SSN: XXX-XX-XXXX on file, or ***-**-****."),
    ("phone_mask", "Call (XXX) XXX-XXXX today."),
    ("card_mask", "Charged to XXXX-XXXX-XXXX-4242 yesterday."),
    ("x_mask", "Account XXXXXXXX was closed; card ending in XXXX."),
    ("asterisk_mask", "The patient ***** was seen by Dr. *****."),
]

NEGATIVES = [
    "Fill in the blank: Paris is the capital of ___.",
    "Name: __________   Date: ____/____/______",
    "Section one\n***\nSection two\n* * *\n",
    "int **p = &q; printf(\"%d\", **p);",
    "This is **bold** and *italic* text.",
    "See [the docs](https://example.com/docs) and [1] and [x] done.",
    "<html><body><B>Hi</B> <T> template<typename T></body></html>",
    "{{ item.price }} {{#each people}} {{> partial}}",
    "Sizes: XL, XXL, XXX. Super Bowl XXXI.",
    "This document updates RFC XXXX (to be assigned by the RFC Editor).",
    "Lists, like STRUCT(***), follow rules (***) and\n*** notes ***\n  ::=  *****  host names *****",
    "<ID> ::= <LETTER> *<DIGIT>",
    "my_variable___name = __init__",
    "a snake_case_name and __dunder__ methods",
]


@pytest.mark.parametrize("family, text", POSITIVES)
def test_each_family_catches_its_markers(family, text):
    assert family in families(text)


@pytest.mark.parametrize("text", NEGATIVES)
def test_ordinary_text_is_not_a_trace(text):
    assert families(text) == []


def test_every_catalogue_family_has_a_positive_example():
    assert {f.name for f in CATALOGUE} <= {family for family, _ in POSITIVES}


@pytest.mark.parametrize("text, expected", [
    ("INDICATION: ___ year old woman", "AGE"),
    ("a ___-year-old man", "AGE"),
    ("Seen by Dr. ___ this morning", "PERSON"),
    ("Attending: ___", "PERSON"),
    ("admitted on ___ with pain", "DATE"),
    ("Date: ___", "DATE"),
    ("DOB: ___", "DATE_OF_BIRTH"),
    ("please call ___ for results", "PHONE_NUMBER"),
    ("MRN: ___", "ID_NUMBER"),
    ("transferred from ___ Hospital", "HOSPITAL"),
    ("Swan-___ catheter", "LAST_NAME"),
    ("at ___:53 the film", "HOUR"),
    ("the lungs are clear ___ and", None),
])
def test_type_is_inferred_from_context(text, expected):
    [marker] = FINDER.find(text)
    assert marker.entity_type == expected
    assert infer_type(text, marker.start, marker.end) == expected


@pytest.mark.parametrize("text, expected", [
    ("[**Known firstname 123**]", "FIRST_NAME"), ("[**Known lastname 12**]", "LAST_NAME"),
    ("[**Telephone/Fax (3) 1234**]", "PHONE_NUMBER"), ("[**MD Number(3) 123**]", "ID_NUMBER"),
    ("[**Location (un) 1234**]", "LOCATION"), ("[**2151-8-5**]", "DATE"), ("[**8-5**]", "DATE"),
    ("[**Hospital1 18**]", "HOSPITAL"), ("[**Age over 90 **]", "AGE"),
    ('<PHI TYPE="PATIENT">X</PHI>', "PERSON"), ("<DATE_TIME>", "DATE"), ("|||PHONE_NUMBER|||", "PHONE_NUMBER"),
    ("<PASSWORD>", "SECRET"), ("{{email}}", "EMAIL_ADDRESS"), ("[Address]", "STREET_ADDRESS"),
])
def test_marker_hints_give_the_type(text, expected):
    [marker] = FINDER.find(text)
    assert marker.entity_type == expected


# Notes with markers whose true type is known: the figure behind "type inference is measured".
LABELLED_NOTES = [
    ("___ year old male with cough.", ["AGE"]),
    ("Seen by Dr. ___ on ___ in clinic.", ["PERSON", "DATE"]),
    ("Patient [**First Name (Titles) 1**] [**Last Name (Titles) 2**] seen [**2150-3-2**].", ["FIRST_NAME", "LAST_NAME", "DATE"]),
    ("Call ___ with questions. Admitted on ___.", ["PHONE_NUMBER", "DATE"]),
    ("MRN: ___. DOB: ___.", ["ID_NUMBER", "DATE_OF_BIRTH"]),
    ("Transferred from ___ Hospital by ___, MD.", ["HOSPITAL", "PERSON"]),
    ("Swan-___ catheter placed at ___:15.", ["LAST_NAME", "HOUR"]),
    ("Contact <PERSON> at <EMAIL_ADDRESS> or <PHONE_NUMBER>.", ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER"]),
    ("Report signed by ___ on ___ at 10:00.", ["PERSON", "DATE"]),
    ("A ___-year-old woman presented to ___ Medical Center.", ["AGE", "HOSPITAL"]),
    ("Her daughter ___ will call back.", ["PERSON"]),
    ("Follow up with ___ in two weeks.", ["PERSON"]),
]


def test_type_inference_accuracy_on_labelled_notes():
    right = total = 0
    for text, truth in LABELLED_NOTES:
        markers = FINDER.find(text)
        assert len(markers) == len(truth), text
        for marker, expected in zip(markers, truth):
            total += 1
            right += marker.entity_type == expected
    accuracy = right / total
    print(f"type inference: {right}/{total} markers typed correctly ({accuracy:.0%})")
    assert accuracy >= 0.85


def test_replacement_uses_the_inferred_type_and_drops_untyped_markers_cleanly():
    text = "INDICATION: ___ year old. Seen by Dr. ___ on ___. Lungs clear ___. Result (___) stable, ok"
    new, found, left, items = scrub_traces(text, "d1", TracesConfig(), FINDER, RecordingGenerator())
    assert new == "INDICATION: «AGE» year old. Seen by Dr. «PERSON» on «DATE». Lungs clear. Result stable, ok"
    assert found == {"mimic_blank": 5} and left == {}
    # the surrogates are sensitive items at their place in the new text (frequency dilution counts them)
    assert [(new[s:e], entity_type, origin) for s, e, entity_type, origin in items] == [
        ("«AGE»", "AGE", "trace"), ("«PERSON»", "PERSON", "trace"), ("«DATE»", "DATE", "trace")]


def test_remove_and_keep_operators():
    text = "Contact <PERSON> today, ref [REDACTED]."
    removed, found, left, items = scrub_traces(text, "d", TracesConfig(operator="remove"), FINDER, RecordingGenerator())
    assert removed == "Contact today, ref." and left == {} and items == []
    kept, found, left, items = scrub_traces(text, "d", TracesConfig(operator="keep"), FINDER, RecordingGenerator())
    assert kept == text and found == left == {"presidio_tag": 1, "bracket_label": 1} and items == []


def test_user_defined_families_and_family_selection():
    config = TracesConfig(families=("presidio_tag",), extra_families=(ExtraFamily("hash_name", r"#NAME#", "PERSON"),))
    finder = TraceFinder(config)
    markers = finder.find("<PERSON> and #NAME# but not [REDACTED]")
    assert [(m.family, m.entity_type) for m in markers] == [("presidio_tag", "PERSON"), ("hash_name", "PERSON")]
    with pytest.raises(ValueError, match="unknown trace families"):
        TracesConfig(families=("nope",))
    with pytest.raises(ValueError, match="invalid regex"):
        TracesConfig(extra_families=(ExtraFamily("bad", "(", ""),))


def test_the_hour_surrogate_is_an_hour():
    markers = FINDER.find("at ___:53")
    text, _ = replace_markers("at ___:53", markers, "surrogate", "d", RecordingGenerator())
    hour = text[3:5]
    assert text.startswith("at ")
    assert hour.isdigit() and 1 <= int(hour) <= 12


def test_the_pii_stage_tag_operator_output_is_caught_as_a_trace():
    """A corpus scrubbed with tags must report its own traces (issue 6)."""
    from sanitize.pii import EntitiesConfig, EntityPolicy, PiiConfig, scrub

    tag_all = EntitiesConfig(**{name: EntityPolicy(True, "tag") for name in (
        "person", "email_address", "phone_number", "us_ssn", "credit_card", "ip_address")})
    text = "Mail jane.roe@corp-mail.net or call +1 415-555-0134; SSN 123-45-6789; card 4111 1111 1111 1111."
    tagged, findings = scrub(text, PiiConfig(entities=tag_all, ner=False), doc_id="d")
    assert findings and all(f.operator == "tag" for f in findings)
    markers = FINDER.find(tagged)
    assert len(markers) == len(findings)
    assert {m.family for m in markers} == {"presidio_tag"}
    assert {m.entity_type for m in markers} == {f.entity_type for f in findings}
