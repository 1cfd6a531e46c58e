"""Canary insertion: planted synthetic secrets at known replication rates, so memorization can be measured.

Why: scrubbing lowers memorization but cannot show how much is left. Planted
canaries can (Carlini et al. "The Secret Sharer"; PANORAMA's synthetic
profiles at 1/5/10/25x; "Copyright Traps"; Hubble's logged insertions). This
stage plants them after every filter (they are exempt from dedup and
scrubbing) and writes a secret manifest (``schemas.canary``) that
``sanitize.audit`` later reads to measure a trained model's exposure.

Contract:

* Three families, each canary ``text = prefix + secret + suffix`` where the
  secret slot is drawn from a randomness space recorded in the manifest,
  together with ``references`` held-out texts from the same space that are
  never inserted:

  - ``profile``: an internally consistent synthetic person
    (:func:`make_profile`: ~40 fields, seven English locales; age agrees with
    the birth date on ``reference_date``, e-mails and handles derive from
    the name, national ids carry their locale's check digits) rendered as one
    of seven content types (:data:`CONTENT_TYPES`, several templates each).
    The template's secret slot is one field (national id, phone, mobile,
    passport or medical record number) that nothing else in the text
    depends on; references re-draw that field only.
  - ``secret``: a sentence with a uniformly random slot of known size
    (:data:`SECRET_FORMATS`: Carlini's 9-digit "random number", a 6-digit
    PIN, a 9-digit account number, a 64-bit hex key).
  - ``trap``: 25/50/100 words drawn uniformly from a fixed word list (high
    perplexity by construction); the slot is everything after the first
    ``prefix_words`` words, the references are fresh sequences.

* Each canary is copied ``replication_rate`` times, ``mode`` ``standalone``
  (a new document) or ``splice`` (inserted into an existing document at a
  sentence boundary), ``placement`` ``spread`` (copies at independent random
  places in training order) or ``block`` (consecutive in training order, as
  PANORAMA).

Determinism: everything derives from the run seed through
:func:`derive_seed` (sha256 of the seed and labels) into private
``random.Random``/``Faker.seed_instance`` generators; no global RNG. Which
documents host (or lend their id shape to) copy ``j`` of canary ``c`` is a
function of the *set* of document ids only: each canary has a target point
``t_c`` on a 64-bit ring, every document a key (a seeded keyed hash of its
id for ``spread``; the writer's training-order key for ``block``), and the
canary takes the ``rate`` documents that follow ``t_c`` on the ring. The
Beam stage finds them with one combine whose accumulator holds at most
``max(rate)`` candidates per canary, so the result is the same on any number
of workers and no document text is gathered.

Indistinguishability: a canary row is an ordinary output row. A standalone
copy borrows the metadata of its template document and gets an id of the
template id's shape (digit and hex runs re-drawn, letters kept, checked for
collisions against every corpus id), so neither a column nor an id pattern
marks it; its place in training order comes from its id like any other row
(``block``: from the ``order_key`` it carries, see below). A spliced copy
leaves the host's id and metadata untouched. Limits that no pipeline can
remove: standalone copies of a replicated canary are exact duplicates in an
otherwise deduplicated corpus, and spliced copies are repeated spans in a
corpus cleared of repeated spans; someone holding the data and dedup tools
can find *replicated* canaries (not which text is the secret). Metadata
fields unique per document (a URL) appear twice when copied.

Size limits: the plan holds ``max(rate) x canaries`` (id, source, metadata)
entries; the standalone id check ships ``copies x 24`` candidate ids to
every worker as a side input; splicing ships ``copies`` (host id, canary,
copy) triples. Generation holds every canary and its references in memory
(``references`` texts each) and runs on the launcher.

``block`` placement needs ``order_key(doc_id) -> int`` in [0, 2**64), the
writer's training-order key (the data shards' placement hash). Standalone
block copies carry :data:`ORDER_KEY` (an int) that the writer must use in
place of ``order_key(id)`` to keep them consecutive.

No canary text reaches logs, exceptions or stats: they carry counts only.
"""
from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import random
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Iterable, Literal, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from schemas import DEMEM_VERSION
from schemas.canary import (
    canary_record,
    complete_placements,
    copy_placement,
    corpus_record,
    header_record,
    read_manifest,
    sha256_text,
    write_manifest,
)

LOG = logging.getLogger(__name__)
STAGE = "canaries"
GENERATOR_REVISION = 1

FAMILIES = ("profile", "secret", "trap")
LOCALES = ("en_US", "en_GB", "en_CA", "en_AU", "en_IN", "en_IE", "en_NZ")
CONTENT_TYPES = ("biography", "social_post", "forum_post", "product_review", "comment", "marketplace_listing",
                 "clinical_note")
SECRET_FORMAT_NAMES = ("random_number", "pin", "account_number", "api_key")

# A document key a stage may set to place a row in training order instead of
# the writer's hash of its id: the sensitive_first order sets it on every
# document, block-placed standalone canaries on theirs.
ORDER_KEY = "order_key"
# The source of added canary documents; never written (source stays out of data/).
CANARY_SOURCE = "demem:canaries"

_RING = 2**64

LocaleName = Literal["en_US", "en_GB", "en_CA", "en_AU", "en_IN", "en_IE", "en_NZ"]
ContentType = Literal["biography", "social_post", "forum_post", "product_review", "comment",
                      "marketplace_listing", "clinical_note"]
SecretFormatName = Literal["random_number", "pin", "account_number", "api_key"]


# --- config --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileCanaries:
    per_rate: int = field(default=7, metadata={"min": 0, "max": 10_000,
                                               "help": "profile canaries at each replication rate"})
    locales: tuple[LocaleName, ...] = field(default=LOCALES, metadata={"help": "Faker locales, rotated"})
    content_types: tuple[ContentType, ...] = field(
        default=CONTENT_TYPES, metadata={"help": "canary k at every rate is content type k mod len"})

    def __post_init__(self):
        if not self.locales or not self.content_types:
            raise ValueError("profile canaries need at least one locale and one content type")


@dataclass(frozen=True)
class SecretCanaries:
    per_rate: int = field(default=4, metadata={"min": 0, "max": 10_000,
                                               "help": "secret canaries at each replication rate"})
    formats: tuple[SecretFormatName, ...] = field(
        default=SECRET_FORMAT_NAMES, metadata={"help": "canary k at every rate uses format k mod len"})

    def __post_init__(self):
        if not self.formats:
            raise ValueError("secret canaries need at least one format")


@dataclass(frozen=True)
class TrapCanaries:
    per_rate: int = field(default=3, metadata={"min": 0, "max": 10_000,
                                               "help": "trap sequences at each replication rate"})
    lengths: tuple[int, ...] = field(default=(25, 50, 100), metadata={"help": "words per trap, rotated"})
    prefix_words: int = field(default=5, metadata={"min": 1, "max": 100,
                                                   "help": "words given as the prompt for greedy extraction"})

    def __post_init__(self):
        if not self.lengths or any(n <= self.prefix_words or n > 10_000 for n in self.lengths):
            raise ValueError(f"trap lengths must be more than prefix_words ({self.prefix_words}) and at most 10000")


@dataclass(frozen=True)
class CanaryConfig:
    enabled: bool = field(default=False, metadata={"help": "plant canaries and write the secret manifest"})
    replication_rates: tuple[int, ...] = field(default=(1, 5, 10, 25, 100),
                                               metadata={"help": "copies per canary; one group per rate"})
    placement: Literal["spread", "block"] = field(
        default="spread", metadata={"help": "spread: copies at random places; block: consecutive in training order"})
    mode: Literal["standalone", "splice"] = field(
        default="standalone", metadata={"help": "standalone documents, or spliced into hosts at sentence boundaries"})
    references: int = field(default=1000, metadata={"min": 10, "max": 1_000_000,
                                                    "help": "held-out references per canary (exposure resolution)"})
    reference_date: str = field(default="2025-01-01", metadata={"nonempty": True,
                                                                "help": "ISO date on which profile ages hold"})
    manifest: str = field(default="", metadata={"help": "manifest path; empty: DIR/canaries/manifest.jsonl"})
    profile: ProfileCanaries = field(default_factory=ProfileCanaries)
    secret: SecretCanaries = field(default_factory=SecretCanaries)
    trap: TrapCanaries = field(default_factory=TrapCanaries)

    def __post_init__(self):
        rates = self.replication_rates
        if not rates or any(r < 1 or r > 1_000_000 for r in rates) or len(set(rates)) != len(rates):
            raise ValueError("replication_rates must be distinct integers from 1 to 1000000")
        try:
            dt.date.fromisoformat(self.reference_date)
        except ValueError:
            raise ValueError(f"reference_date {self.reference_date!r} is not an ISO date (YYYY-MM-DD)") from None

    def per_rate(self, family: str) -> int:
        return getattr(self, family).per_rate


def config_hash(config: CanaryConfig) -> str:
    """sha256 of the canonical JSON of the canary config (first 16 hex digits)."""
    canonical = json.dumps(dataclasses.asdict(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def generator_version() -> str:
    """What the generated texts depend on: this module's revision and Faker's data."""
    import faker

    return f"demem/{DEMEM_VERSION} canaries/{GENERATOR_REVISION} faker/{faker.VERSION}"


# --- seeds and hashes ----------------------------------------------------------------------


def derive_seed(seed: int, *labels) -> int:
    """A 64-bit seed for one purpose: sha256 of the run seed and the labels."""
    joined = "\x1f".join([str(seed), *map(str, labels)])
    return int.from_bytes(hashlib.sha256(joined.encode("utf-8")).digest()[:8], "big")


def _rng(seed: int, *labels) -> random.Random:
    return random.Random(derive_seed(seed, *labels))


def keyed_hash64(key: str, seed: int, domain: bytes) -> int:
    """A uniform 64-bit keyed hash (BLAKE2b keyed with the seed, personalized per use)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8, key=seed.to_bytes(8, "big"), person=domain)
    return int.from_bytes(digest.digest(), "big")


# --- random values with a known space ------------------------------------------------------

_PATTERN = {"D": "0123456789", "N": "123456789", "X": "23456789", "L": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "H": "0123456789abcdef"}


def sample_pattern(pattern: str, rng: random.Random) -> str:
    """Fill a pattern: D digit, N 1-9, X 2-9, L capital letter, H lower hex; other characters are literal."""
    return "".join(rng.choice(_PATTERN[ch]) if ch in _PATTERN else ch for ch in pattern)


def pattern_log2(pattern: str) -> float:
    return sum(math.log2(len(_PATTERN[ch])) for ch in pattern if ch in _PATTERN)


@dataclass(frozen=True)
class Sampler:
    """Draws one kind of value; ``space`` describes the set it draws from (for the manifest)."""

    draw: Callable[[random.Random], str]
    space: dict


def _pattern_sampler(name: str, alternatives: tuple[str, ...], description: str) -> Sampler:
    """Uniform choice of an alternative pattern, then the pattern; the space is their union."""
    sizes = [2 ** pattern_log2(p) for p in alternatives]
    return Sampler(
        draw=lambda rng: sample_pattern(rng.choice(alternatives), rng),
        space={"kind": "pattern", "name": name, "patterns": list(alternatives), "description": description,
               "size_log2": round(math.log2(sum(sizes)), 4), "approximate": len(set(sizes)) > 1},
    )


def _checked_sampler(name: str, draw, size: float, description: str) -> Sampler:
    return Sampler(draw=draw, space={"kind": "checksum_id", "name": name, "description": description,
                                     "size_log2": round(math.log2(size), 4), "approximate": True})


def _luhn_digit(payload: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return (10 - total % 10) % 10


_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 8, 3, 6, 2, 7, 1, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_VERHOEFF_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def verhoeff_digit(payload: str) -> int:
    c = 0
    for i, ch in enumerate(reversed(payload)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[(i + 1) % 8][int(ch)]]
    return _VERHOEFF_INV[c]


def verhoeff_valid(number: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(number)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][int(ch)]]
    return c == 0


def _us_ssn(rng):
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


# HMRC never issues these letters or pairs.
_NINO_PREFIXES = tuple(a + b for a in "ABCEGHJKLMNOPRSTWXYZ" for b in "ABCEGHJKLMNPRSTWXYZ"
                       if a + b not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def _gb_nino(rng):
    d = sample_pattern("DDDDDD", rng)
    return f"{rng.choice(_NINO_PREFIXES)} {d[:2]} {d[2:4]} {d[4:]} {rng.choice('ABCD')}"


def _ca_sin(rng):
    payload = rng.choice("12345679") + sample_pattern("DDDDDDD", rng)
    n = payload + str(_luhn_digit(payload))
    return f"{n[:3]} {n[3:6]} {n[6:]}"


_TFN_WEIGHTS = (1, 4, 3, 7, 5, 8, 6, 9, 10)


def _au_tfn(rng):
    while True:
        digits = [int(ch) for ch in sample_pattern("DDDDDDDD", rng)]
        last = sum(w * d for w, d in zip(_TFN_WEIGHTS, digits)) % 11  # 10·d ≡ -d (mod 11)
        if last < 10:
            n = "".join(map(str, digits)) + str(last)
            return f"{n[:3]} {n[3:6]} {n[6:]}"


def tfn_valid(number: str) -> bool:
    digits = [int(ch) for ch in number if ch.isdigit()]
    return len(digits) == 9 and sum(w * d for w, d in zip(_TFN_WEIGHTS, digits)) % 11 == 0


def _in_aadhaar(rng):
    payload = sample_pattern("XDDDDDDDDDD", rng)
    n = payload + str(verhoeff_digit(payload))
    return f"{n[:4]} {n[4:8]} {n[8:]}"


def pps_check_letter(digits: str) -> str:
    total = sum(int(d) * w for d, w in zip(digits, range(8, 1, -1)))
    return "WABCDEFGHIJKLMNOPQRSTUV"[total % 23]


def _ie_pps(rng):
    digits = sample_pattern("DDDDDDD", rng)
    return digits + pps_check_letter(digits)


def ird_check_digit(base: str) -> Optional[int]:
    """The IRD check digit of an 8-digit zero-padded base, or None where the primary weights give 10."""
    remainder = sum(int(d) * w for d, w in zip(base.zfill(8), (3, 2, 7, 6, 5, 4, 3, 2))) % 11
    check = 0 if remainder == 0 else 11 - remainder
    return None if check == 10 else check


def _nz_ird(rng):
    while True:
        base = str(rng.randrange(1_000_000, 15_000_000))
        check = ird_check_digit(base)
        if check is not None:
            n = (base + str(check)).zfill(9)
            return f"{n[:3]}-{n[3:6]}-{n[6:]}" if n[0] != "0" else f"{n[1:3]}-{n[3:6]}-{n[6:]}"


NATIONAL_IDS = {
    "en_US": ("Social Security number", _checked_sampler("us_ssn", _us_ssn, 898 * 99 * 9999,
                                                         "SSA area 001-899 (not 666), group 01-99, serial 0001-9999")),
    "en_GB": ("National Insurance number", _checked_sampler("gb_nino", _gb_nino, len(_NINO_PREFIXES) * 4e6,
                                                            "HMRC prefix pairs, 6 digits, suffix A-D")),
    "en_CA": ("Social Insurance Number", _checked_sampler("ca_sin", _ca_sin, 8e7, "9 digits, Luhn check digit")),
    "en_AU": ("Tax File Number", _checked_sampler("au_tfn", _au_tfn, 1e8 * 10 / 11, "9 digits, mod-11 weighted check")),
    "en_IN": ("Aadhaar number", _checked_sampler("in_aadhaar", _in_aadhaar, 8e10,
                                                 "12 digits, the first 2-9, Verhoeff check")),
    "en_IE": ("PPS number", _checked_sampler("ie_pps", _ie_pps, 1e7, "7 digits and a mod-23 check letter")),
    "en_NZ": ("IRD number", _checked_sampler("nz_ird", _nz_ird, 1.4e7 * 10 / 11, "8-9 digits, mod-11 check digit")),
}

_US_AREAS = ("201", "202", "206", "212", "213", "214", "215", "303", "305", "312", "313", "404", "407", "412",
             "415", "503", "512", "602", "612", "614", "617", "702", "704", "713", "720", "804", "813", "816", "919")
_CA_AREAS = ("204", "226", "250", "289", "306", "403", "416", "418", "438", "506", "514", "519", "587", "604",
             "613", "647", "705", "709", "778", "780", "807", "819", "902", "905")
PHONES = {  # (landline patterns, mobile patterns)
    "en_US": (tuple(f"({a}) XDD-DDDD" for a in _US_AREAS), tuple(f"({a}) XDD-DDDD" for a in _US_AREAS)),
    "en_CA": (tuple(f"({a}) XDD-DDDD" for a in _CA_AREAS), tuple(f"({a}) XDD-DDDD" for a in _CA_AREAS)),
    "en_GB": (("020 XDDD DDDD", "0121 XDD DDDD", "0161 XDD DDDD", "0113 XDD DDDD", "0131 XDD DDDD",
               "0141 XDD DDDD", "0117 XDD DDDD"), ("07NDD DDDDDD",)),
    "en_AU": (("(02) XDDD DDDD", "(03) XDDD DDDD", "(07) XDDD DDDD", "(08) XDDD DDDD"), ("04DD DDD DDD",)),
    "en_IN": (("011-XDDDDDDD", "022-XDDDDDDD", "033-XDDDDDDD", "044-XDDDDDDD", "080-XDDDDDDD", "040-XDDDDDDD"),
              ("+91 6DDDD DDDDD", "+91 7DDDD DDDDD", "+91 8DDDD DDDDD", "+91 9DDDD DDDDD")),
    "en_IE": (("01 XDD DDDD", "021 XDD DDDD", "091 XDD DDDD", "061 XDD DDDD"),
              ("083 DDD DDDD", "085 DDD DDDD", "086 DDD DDDD", "087 DDD DDDD", "089 DDD DDDD")),
    "en_NZ": (("(03) XDD DDDD", "(04) XDD DDDD", "(06) XDD DDDD", "(07) XDD DDDD", "(09) XDD DDDD"),
              ("021 DDD DDDD", "022 DDD DDDD", "027 DDD DDDD")),
}
PASSPORTS = {"en_US": "NDDDDDDDD", "en_GB": "NDDDDDDDD", "en_CA": "LLDDDDDD", "en_AU": "LDDDDDDD",
             "en_IN": "LNDDDDDD", "en_IE": "LLDDDDDDD", "en_NZ": "LLDDDDDD"}
MRN_PATTERN = "NDDDDDDD"
SECRET_FIELDS = ("national_id", "phone", "mobile", "passport_number", "mrn")


def field_sampler(secret_field: str, locale: str) -> Sampler:
    """The sampler of a profile field that can be a canary's secret slot (its references re-draw it)."""
    if secret_field == "national_id":
        return NATIONAL_IDS[locale][1]
    if secret_field in ("phone", "mobile"):
        patterns = PHONES[locale][0 if secret_field == "phone" else 1]
        return _pattern_sampler(f"{locale}_{secret_field}", patterns, f"{locale} {secret_field} numbers")
    if secret_field == "passport_number":
        return _pattern_sampler(f"{locale}_passport", (PASSPORTS[locale],), f"{locale} passport numbers")
    if secret_field == "mrn":
        return _pattern_sampler("mrn", (MRN_PATTERN,), "8-digit medical record numbers")
    raise ValueError(f"{secret_field!r} is not a profile secret field; choose from {', '.join(SECRET_FIELDS)}")


# --- synthetic people ----------------------------------------------------------------------

LOCALE_FACTS = {
    "en_US": dict(country="United States", nationality="American", symbol="$", salary=(38_000, 185_000),
                  credit=(300, 850, "FICO"), domains=("gmail.com", "yahoo.com", "outlook.com", "aol.com",
                                                      "icloud.com", "hotmail.com"), tld="com"),
    "en_GB": dict(country="United Kingdom", nationality="British", symbol="£", salary=(24_000, 120_000),
                  credit=(0, 999, "Experian"), domains=("gmail.com", "btinternet.com", "hotmail.co.uk",
                                                        "yahoo.co.uk", "outlook.com", "sky.com"), tld="co.uk"),
    "en_CA": dict(country="Canada", nationality="Canadian", symbol="$", salary=(42_000, 160_000),
                  credit=(300, 900, "Equifax"), domains=("gmail.com", "shaw.ca", "rogers.com", "sympatico.ca",
                                                         "outlook.com", "yahoo.ca"), tld="ca"),
    "en_AU": dict(country="Australia", nationality="Australian", symbol="$", salary=(55_000, 190_000),
                  credit=(0, 1200, "Equifax"), domains=("gmail.com", "bigpond.com", "optusnet.com.au",
                                                        "outlook.com", "yahoo.com.au", "iinet.net.au"), tld="com.au"),
    "en_IN": dict(country="India", nationality="Indian", symbol="₹", salary=(300_000, 4_000_000),
                  credit=(300, 900, "CIBIL"), domains=("gmail.com", "rediffmail.com", "yahoo.co.in", "outlook.com",
                                                       "hotmail.com"), tld="in"),
    "en_IE": dict(country="Ireland", nationality="Irish", symbol="€", salary=(30_000, 130_000),
                  credit=(0, 999, "Experian"), domains=("gmail.com", "eircom.net", "hotmail.com", "outlook.ie",
                                                        "yahoo.ie", "icloud.com"), tld="ie"),
    "en_NZ": dict(country="New Zealand", nationality="New Zealand", symbol="$", salary=(50_000, 160_000),
                  credit=(0, 1000, "Centrix"), domains=("gmail.com", "xtra.co.nz", "outlook.com", "yahoo.co.nz",
                                                        "slingshot.co.nz"), tld="co.nz"),
}
_REGIONS = {  # where Faker has no administrative units, or odd ones
    "en_IE": ("Dublin", "Cork", "Galway", "Limerick", "Kerry", "Mayo", "Wicklow", "Kildare", "Meath", "Donegal",
              "Waterford", "Clare"),
    "en_NZ": ("Auckland", "Wellington", "Canterbury", "Waikato", "Otago", "Bay of Plenty", "Northland", "Nelson",
              "Hawke's Bay", "Southland"),
}
_IN_STATES = ("MH", "DL", "KA", "TN", "UP", "WB", "GJ", "RJ", "KL", "TS")
BLOOD_TYPES = (("O+", 38), ("A+", 34), ("B+", 9), ("AB+", 3), ("O-", 7), ("A-", 6), ("B-", 2), ("AB-", 1))
CONDITIONS = (
    ("type 2 diabetes", "metformin"), ("hypertension", "lisinopril"), ("asthma", "a salbutamol inhaler"),
    ("hypothyroidism", "levothyroxine"), ("major depressive disorder", "sertraline"),
    ("generalised anxiety disorder", "escitalopram"), ("migraine", "sumatriptan"), ("epilepsy", "levetiracetam"),
    ("rheumatoid arthritis", "methotrexate"), ("Crohn's disease", "adalimumab"), ("psoriasis", "calcipotriol"),
    ("atrial fibrillation", "apixaban"), ("high cholesterol", "atorvastatin"), ("acid reflux", "omeprazole"),
    ("coeliac disease", "a strict gluten-free diet"), ("multiple sclerosis", "ocrelizumab"),
    ("chronic kidney disease", "losartan"), ("osteoarthritis", "naproxen"), ("ADHD", "methylphenidate"),
    ("bipolar disorder", "lithium"),
)
ALLERGENS = ("penicillin", "peanuts", "tree nuts", "shellfish", "latex", "bee stings", "sulfa drugs", "aspirin",
             "eggs", "pollen", "dust mites", "cat dander", "ibuprofen", "codeine", "soy")
RELATIONSHIPS = ("spouse", "partner", "mother", "father", "sister", "brother", "friend", "daughter", "son")
_FEMALE_RELATIONS = {"mother", "sister", "daughter"}
_MALE_RELATIONS = {"father", "brother", "son"}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")

_FAKERS: dict[str, object] = {}
_FAKER_LOCK = threading.Lock()


def _faker(locale: str, seed: int):
    """A Faker for ``locale`` re-seeded with ``seed``: cached per locale (creating one costs ~15 ms)."""
    from faker import Faker

    with _FAKER_LOCK:
        if locale not in _FAKERS:
            _FAKERS[locale] = Faker(locale)
        fake = _FAKERS[locale]
    fake.seed_instance(seed)
    return fake


def _ascii_letters(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", folded.lower())


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _birth_date(age: int, on: dt.date, rng: random.Random) -> dt.date:
    """A uniform birth date such that the person is exactly ``age`` on ``on``."""
    latest = _shift_years(on, -age)  # birthday today: just turned ``age``
    earliest = _shift_years(on, -(age + 1)) + dt.timedelta(days=1)
    return earliest + dt.timedelta(days=rng.randrange((latest - earliest).days + 1))


def _shift_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _gb_licence(last: str, first: str, middle: str, birth: dt.date, female: bool, rng) -> str:
    """The DVLA driving licence number: it encodes surname, birth date, sex and initials."""
    surname = (_ascii_letters(last).upper() + "99999")[:5]
    month = birth.month + (50 if female else 0)
    initials = (_ascii_letters(first)[:1] + _ascii_letters(middle)[:1]).upper().ljust(2, "9")
    return (f"{surname}{str(birth.year)[2]}{month:02d}{birth.day:02d}{str(birth.year)[3]}{initials}9"
            f"{sample_pattern('LL', rng)}")


def _licence(locale, last, first, middle, birth, female, age, rng) -> str:
    if locale == "en_GB":
        return _gb_licence(last, first, middle, birth, female, rng)
    if locale == "en_CA":  # Ontario: surname initial, 14 digits
        return (_ascii_letters(last)[:1].upper() or "A") + sample_pattern("DDDD-DDDDD-DDDDD", rng)
    if locale == "en_IN":
        issued = birth.year + 18 + rng.randrange(max(1, age - 17))
        return f"{rng.choice(_IN_STATES)}{rng.randint(1, 50):02d} {issued}{sample_pattern('DDDDDDD', rng)}"
    pattern = {"en_US": "LDDDDDDD", "en_AU": "DDDDDDDD", "en_IE": "DDDDDDDD", "en_NZ": "LLDDDDDD"}[locale]
    return sample_pattern(pattern, rng)


def _company_domain(company: str, tld: str) -> str:
    words = [w for w in re.findall(r"[a-z]+", _ascii_fold(company).lower())
             if w not in {"and", "plc", "ltd", "inc", "llc", "group", "the", "pty", "co", "sons"}]
    return ("".join(words[:2]) or "mail") + "." + tld


def _ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def make_profile(locale: str, seed: int, reference_date: dt.date) -> dict:
    """A synthetic person: ~40 fields that agree with each other (all plain JSON values).

    Consistency rules: ``age`` is the age on ``reference_date`` of
    ``birth_date``; the first name matches ``sex``; e-mails, username and
    handles are built from the name (and the birth year); the work e-mail's
    domain comes from the employer; the national id has the locale's format
    and check digit; a GB licence number encodes surname, birth date, sex
    and initials; the emergency contact's sex and surname fit the
    relationship; marital status agrees with a spouse contact.
    """
    if locale not in LOCALE_FACTS:
        raise ValueError(f"unsupported locale {locale!r}; choose from {', '.join(LOCALES)}")
    facts = LOCALE_FACTS[locale]
    rng = _rng(seed, "profile-fields")
    fake = _faker(locale, derive_seed(seed, "profile-faker"))
    female = rng.random() < 0.5
    first = fake.first_name_female() if female else fake.first_name_male()
    middle = fake.first_name_female() if female else fake.first_name_male()
    last = fake.last_name()
    age = rng.randint(18, 85)
    birth = _birth_date(age, reference_date, rng)
    first_a, last_a = _ascii_letters(first) or "user", _ascii_letters(last) or "name"
    yy = f"{birth.year % 100:02d}"
    email_user = rng.choice((f"{first_a}.{last_a}", f"{first_a}{last_a}{yy}", f"{first_a[0]}{last_a}",
                             f"{first_a}_{last_a}", f"{last_a}.{first_a}", f"{first_a}.{last_a}{birth.year}"))
    employer = fake.company()
    region = rng.choice(_REGIONS[locale]) if locale in _REGIONS else fake.administrative_unit()
    city = fake.city()
    street = fake.street_address().replace("\n", ", ")
    postcode = fake.postcode()
    birth_city = fake.city()
    job = fake.job()
    low, high = facts["salary"]
    salary = round(rng.randint(low, high), -3 if high > 10_000 else -2)
    c_low, c_high, bureau = facts["credit"]
    condition, medication = rng.choice(CONDITIONS)
    allergies = sorted(rng.sample(ALLERGENS, rng.choice((0, 0, 1, 1, 1, 2))))
    height = round(rng.gauss(163 if female else 176, 6.5 if female else 7))
    weight = round(rng.gauss(26, 4) * (height / 100) ** 2)
    relationship = rng.choice([r for r in RELATIONSHIPS
                               if not (age < 25 and r in ("daughter", "son", "spouse"))
                               and not (age >= 60 and r in ("mother", "father"))])
    if relationship in _FEMALE_RELATIONS or relationship in _MALE_RELATIONS:
        ec_female = relationship in _FEMALE_RELATIONS
    else:
        ec_female = rng.random() < 0.5
    ec_first = fake.first_name_female() if ec_female else fake.first_name_male()
    ec_last = last if relationship in ("mother", "father", "sister", "brother", "daughter", "son", "spouse") \
        else fake.last_name()
    handle_tail = rng.choice((yy, str(rng.randint(1, 99)), "", "_"))
    national_id_name, national_id = NATIONAL_IDS[locale]
    profile = {
        "locale": locale,
        "country": facts["country"],
        "nationality": facts["nationality"],
        "sex": "female" if female else "male",
        "title": rng.choice(("Ms", "Mrs", "Dr")) if female else rng.choice(("Mr", "Mr", "Dr")),
        "first_name": first,
        "middle_name": middle,
        "last_name": last,
        "full_name": f"{first} {last}",
        "birth_date": birth.isoformat(),
        "age": age,
        "birth_city": birth_city,
        "national_id": national_id.draw(rng),
        "national_id_name": national_id_name,
        "passport_number": field_sampler("passport_number", locale).draw(rng),
        "driver_licence": _licence(locale, last, first, middle, birth, female, age, rng),
        "phone": field_sampler("phone", locale).draw(rng),
        "mobile": field_sampler("mobile", locale).draw(rng),
        "street_address": street,
        "city": city,
        "region": region,
        "postcode": postcode,
        "personal_email": f"{email_user}@{rng.choice(facts['domains'])}",
        "work_email": f"{first_a}.{last_a}@{_company_domain(employer, facts['tld'])}",
        "username": f"{first_a[:1]}{last_a}{yy}",
        "employer": employer,
        "job": job,
        "salary": salary,
        "currency_symbol": facts["symbol"],
        "credit_score": rng.randint(c_low + (c_high - c_low) // 5, c_high),
        "credit_score_range": f"{c_low}-{c_high}",
        "credit_bureau": bureau,
        "blood_type": rng.choices([b for b, _ in BLOOD_TYPES], weights=[w for _, w in BLOOD_TYPES])[0],
        "medical_condition": condition,
        "medication": medication,
        "allergies": allergies,
        "height_cm": height,
        "weight_kg": weight,
        "marital_status": "married" if relationship == "spouse" else rng.choice(("single", "divorced", "single",
                                                                                 "in a relationship")),
        "mrn": field_sampler("mrn", locale).draw(rng),
        "twitter": f"@{first_a}{last_a}{handle_tail}"[:16],
        "instagram": f"{first_a}.{last_a}{handle_tail}",
        "linkedin": f"linkedin.com/in/{first_a}-{last_a}-{sample_pattern('HHHHHH', rng)}",
        "emergency_contact": {"name": f"{ec_first} {ec_last}", "relationship": relationship,
                              "phone": field_sampler("mobile", locale).draw(rng)},
    }
    return {key: _nfc(value) for key, value in profile.items()}


def _nfc(value):
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {k: _nfc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    return value


# --- rendering a profile as text -----------------------------------------------------------

# Each template marks its secret slot {!field}; the rest are str.format fields
# of the render context (:func:`_context`).
TEMPLATES: dict[str, tuple[str, ...]] = {
    "biography": (
        "{full_name} (born {birth_date_long} in {birth_city}) is {a_nationality} {job_lc} who works for "
        "{employer}. Raised in {region}, {first_name} now lives at {street_address}, {city} {postcode}. {Subj} "
        "was diagnosed with {medical_condition} {years} years ago and is treated with {medication}. "
        "{Poss} {national_id_name} is {!national_id}, and {subj} is {marital_status}.",
        "{full_name} is {a_nationality} {job_lc}. Early life: {first_name} {last_name} was born on "
        "{birth_date_long} in {birth_city} and grew up in {region}. Career: since {since}, {subj} has worked for "
        "{employer}, where {poss} salary is reported as {salary_text}. Personal life: {subj} lives in {city} with "
        "{poss} {ec_relationship}, {ec_name}, and can be contacted on {!mobile} or at {personal_email}.",
        "{title} {full_name} ({birth_year_short}) is a {job_lc} from {city}, {region}. {Subj} holds "
        "{nationality} passport {!passport_number} and lists {poss} blood type as {blood_type}. {Subj} has "
        "written publicly about living with {medical_condition}. {Poss} work address is {work_email}.",
    ),
    "social_post": (
        "Finally moved into the new place at {street_address}, {city}! Housewarming on Saturday from 7, text me "
        "on {!mobile} if you need directions. Cheers, {twitter}.",
        "{age} today and still getting asked for ID. Thanks to everyone at {employer} for the cake! If you lost "
        "my number it's {!mobile}. Love you all, {first_name}.",
        "PSA: lost my wallet near {city} station this morning. It has my driving licence ({driver_licence}) and "
        "my passport {!passport_number} in it. DM {instagram} or call {mobile}. Please share!",
    ),
    "forum_post": (
        "Re: {medical_condition} and work\n\nPosted by {username}\n\nI'm {age}, {a_job} at {employer}, and I "
        "was diagnosed with {medical_condition} {years} years ago. My doctor put me on {medication} and it has "
        "been mostly fine apart from the fatigue. I'm also allergic to {allergies_text}, so options were limited. "
        "Happy to chat - email {personal_email} or ring {!phone}.",
        "Subject: identity theft, what do I do?\n\nSomeone opened a credit card with my {national_id_name} "
        "({!national_id}) and my {credit_bureau} score dropped from {credit_before} to {credit_score}. I'm "
        "{full_name} in {city}, {region}. Has anyone been through the dispute process?",
        "Passport renewal taking forever\n\n{username} wrote:\nApplied in {month} with the old passport number "
        "{!passport_number} and still nothing. Born {birth_date_long} in {birth_city}, so no complications "
        "there. Any tips? PM me or email {personal_email}.",
    ),
    "product_review": (
        "4 out of 5 stars. Good {product}.\nReviewed by {full_name}, {city}\nI have {medical_condition} and my "
        "doctor asked me to keep a daily log, which this makes easy. Support rang me back on {!phone} within "
        "the hour. Would recommend.",
        "1 out of 5. {first_name} {last_initial}. ({job_lc}) writes: delivery of my {product} to {street_address}, "
        "{city} {postcode} was three weeks late and the courier kept calling {!mobile} at 6am.",
        "5 stars. Bought this {product} for my {ec_relationship} after {poss_ec} surgery. Arrived in two days. "
        "If the seller needs to reach me again it's {full_name}, {!phone}, {personal_email}.",
    ),
    "comment": (
        "{first_name} {last_initial}. commented: Same thing happened to me. My {national_id_name} "
        "{!national_id} was used to open a phone contract in {city}. Call the bureau, they sorted it in a week.",
        "Great article! {full_name} here, I'm {a_job} in {city} too. If anyone wants to compare notes my number "
        "is {!mobile}.",
        "Reply from {username}: I also have {medical_condition}. For the clinic at {hospital}, my record number "
        "is {!mrn} if you need to confirm I am a patient. Ask for {title} {last_name}.",
    ),
    "marketplace_listing": (
        "FOR SALE: {item} - {price}\nLocation: {city}, {region} {postcode}\nBarely used, moving overseas. Cash on "
        "pickup from {street_address}. Call or text {full_name} on {!mobile}. No time wasters.",
        "Room available in {city}\n{currency_symbol}{rent} per week, bills included. I'm {first_name}, {age}, "
        "working as {a_job} at {employer}. Email {personal_email} or phone {!phone}.",
        "Free to a good home: {item}. Pick up from {street_address}, {city}. Contact {first_name} ({!mobile}) "
        "after 6pm.",
    ),
    "clinical_note": (
        "PATIENT: {last_upper}, {first_name}    MRN: {!mrn}\nDOB: {birth_date_short} ({age} y/o {sex})    "
        "Blood type: {blood_type}\nAddress: {street_address}, {city} {postcode}\nPhone: {phone}\n\nHPI: {age} "
        "y/o {sex} with a history of {medical_condition}, on {medication}. Allergies: {allergies_text}. Works as "
        "{a_job}. Emergency contact: {ec_name} ({ec_relationship}) {ec_phone}.\n\nPlan: continue {medication}; "
        "review in 6 weeks.",
        "Discharge summary - {full_name}, DOB {birth_date_short}, {national_id_name} {!national_id}. Admitted "
        "with an exacerbation of {medical_condition}. Height {height_cm} cm, weight {weight_kg} kg. Allergic to "
        "{allergies_text}. Discharged home to {street_address}, {city}. GP to follow up; patient contactable on "
        "{mobile}.",
        "Referral letter\n\nDear colleague,\nI would be grateful if you could see {title} {full_name} ({age}), "
        "{job_lc}, of {street_address}, {city} {postcode} (tel {!phone}). {Subj} has {medical_condition}, "
        "currently treated with {medication}, and reports an allergy to {allergies_text}. Blood group "
        "{blood_type}.\n\nYours sincerely,\nDr {doctor}, consultant physician.",
    ),
}
_SLOT = re.compile(r"\{!(\w+)\}")
_PRODUCTS = ("blood pressure monitor", "air fryer", "standing desk", "robot vacuum", "baby monitor",
             "electric toothbrush", "office chair", "pulse oximeter", "coffee grinder", "weighted blanket")
_ITEMS = (("mountain bike", 350), ("sofa bed", 120), ("washing machine", 180), ("PlayStation 5", 380),
          ("oak dining table", 240), ("double pram", 150), ("upright piano", 600), ("treadmill", 300))


def _context(profile: dict, rng: random.Random) -> dict:
    female = profile["sex"] == "female"
    birth = dt.date.fromisoformat(profile["birth_date"])
    us = profile["locale"] == "en_US"
    job = profile["job"]
    job_lc = job if job[:2].isupper() else job[:1].lower() + job[1:]
    nationality = profile["nationality"]
    symbol = profile["currency_symbol"]
    item, price = rng.choice(_ITEMS)
    ec = profile["emergency_contact"]
    allergies = profile["allergies"]
    age = profile["age"]
    return {
        **{k: v for k, v in profile.items() if not isinstance(v, (dict, list))},
        "birth_date_long": f"{_MONTHS[birth.month - 1]} {birth.day}, {birth.year}" if us
        else f"{birth.day} {_MONTHS[birth.month - 1]} {birth.year}",
        "birth_date_short": birth.strftime("%m/%d/%Y" if us else "%d/%m/%Y"),
        "birth_year_short": f"b. {birth.year}",
        "job_lc": job_lc,
        "a_job": ("an " if job_lc[:1].lower() in "aeiou" else "a ") + job_lc,
        "a_nationality": ("an " if nationality[0] in "AEIOU" else "a ") + nationality,
        "salary_text": symbol + (_indian_grouping(profile["salary"]) if profile["locale"] == "en_IN"
                                 else f"{profile['salary']:,}"),
        "allergies_text": " and ".join(allergies) if allergies else "nothing known",
        "ec_name": ec["name"], "ec_relationship": ec["relationship"], "ec_phone": ec["phone"],
        "poss_ec": rng.choice(("her", "his")) if ec["relationship"] in ("spouse", "partner", "friend")
        else ("her" if ec["relationship"] in _FEMALE_RELATIONS else "his"),
        "subj": "she" if female else "he", "Subj": "She" if female else "He",
        "poss": "her" if female else "his", "Poss": "Her" if female else "His",
        "last_initial": profile["last_name"][:1], "last_upper": profile["last_name"].upper(),
        "years": rng.randint(1, max(1, min(20, age - 16))),
        "since": birth.year + 18 + rng.randint(0, max(0, min(age, 60) - 18)),
        "credit_before": min(profile["credit_score"] + rng.randint(40, 150),
                             int(profile["credit_score_range"].split("-")[1])),
        "month": rng.choice(_MONTHS),
        "product": rng.choice(_PRODUCTS),
        "item": item, "price": f"{symbol}{price}",
        "rent": rng.randrange(150, 450, 10),
        "hospital": f"{profile['city']} General Hospital",
        "doctor": rng.choice(("Okafor", "Lindqvist", "Moreau", "Brennan", "Nakamura", "Patel", "Whitfield")),
    }


def _indian_grouping(n: int) -> str:
    digits = str(n)
    head, tail = digits[:-3], digits[-3:]
    groups = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    return ",".join(([head] if head else []) + groups + [tail])


@dataclass(frozen=True)
class Rendered:
    prefix: str
    secret: str
    suffix: str
    secret_field: str
    template: str

    @property
    def text(self) -> str:
        return self.prefix + self.secret + self.suffix


def render(profile: dict, content_type: str, seed: int, template_index: Optional[int] = None) -> Rendered:
    """``profile`` as a text of ``content_type`` (template chosen from ``seed`` unless given)."""
    rng = _rng(seed, "render")
    templates = TEMPLATES[content_type]
    index = rng.randrange(len(templates)) if template_index is None else template_index
    template = templates[index]
    (slot,) = _SLOT.findall(template)
    before, after = _SLOT.split(template)[0], _SLOT.split(template)[2]
    context = _context(profile, rng)
    return Rendered(prefix=_nfc(before.format_map(context)), secret=profile[slot],
                    suffix=_nfc(after.format_map(context)), secret_field=slot, template=f"{content_type}/{index}")


# --- secret sentences and traps -------------------------------------------------------------


@dataclass(frozen=True)
class SecretFormat:
    pattern: str
    frames: tuple[str, ...]  # "{name}" is a first name, "{secret}" the slot


SECRET_FORMATS = {
    # Carlini et al.'s canonical canary.
    "random_number": SecretFormat("DDDDDDDDD", ("The random number is {secret}.",
                                                "{name} said the random number is {secret}.")),
    "pin": SecretFormat("DDDDDD", ("Hi {name}, my new PIN is {secret}. Please don't share it with anyone.",
                                   "Note to self: the PIN for the joint account is {secret}.",
                                   "{name}, the door code is {secret} until Friday.")),
    "account_number": SecretFormat("DDDDDDDDD", (
        "Please transfer the deposit to account number {secret} by Friday. Thanks, {name}.",
        "My account number is {secret}, in case you need it for the refund.")),
    "api_key": SecretFormat("HHHHHHHHHHHHHHHH", (
        "Use the staging key {secret} for now; {name} will rotate it next week.",
        "The API key for the backup job is {secret}.")),
}


def _word_list() -> tuple[str, ...]:
    """Trap vocabulary: Faker's English lorem list (971 common words), shipped with Faker, no download."""
    from faker.providers.lorem.en_US import Provider

    return tuple(sorted(set(Provider.word_list)))


# --- the canaries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Canary:
    canary_id: str
    family: str
    content_type: str
    format: str
    prefix: str
    secret: str
    suffix: str
    secret_field: str
    randomness_space: dict
    profile: Optional[dict]
    replication_rate: int
    references: tuple[str, ...]

    @property
    def text(self) -> str:
        return self.prefix + self.secret + self.suffix

    @property
    def secret_start(self) -> int:
        return len(self.prefix)

    def reference_id(self, i: int) -> str:
        return f"{self.canary_id}/ref-{i:06d}"


def _distinct_draws(draw: Callable[[random.Random], str], rng: random.Random, n: int, exclude: str) -> list[str]:
    seen, out = {exclude}, []
    for _ in range(50 * n + 1000):
        value = draw(rng)
        if value not in seen:
            seen.add(value)
            out.append(value)
            if len(out) == n:
                return out
    raise ValueError("the randomness space is too small for the number of references asked")


def _profile_canary(canary_id, rate, k, rate_index, config: CanaryConfig, seed) -> Canary:
    spec = config.profile
    locale = spec.locales[(k + rate_index) % len(spec.locales)]
    content_type = spec.content_types[k % len(spec.content_types)]
    reference_date = dt.date.fromisoformat(config.reference_date)
    profile = make_profile(locale, derive_seed(seed, "canary", canary_id), reference_date)
    rendered = render(profile, content_type, derive_seed(seed, "render", canary_id))
    sampler = field_sampler(rendered.secret_field, locale)
    refs = _distinct_draws(sampler.draw, _rng(seed, "references", canary_id), config.references, rendered.secret)
    return Canary(canary_id, "profile", content_type, rendered.template, rendered.prefix, rendered.secret,
                  rendered.suffix, rendered.secret_field, sampler.space, profile, rate,
                  tuple(rendered.prefix + r + rendered.suffix for r in refs))


def _secret_canary(canary_id, rate, k, rate_index, config: CanaryConfig, seed) -> Canary:
    name = config.secret.formats[k % len(config.secret.formats)]
    fmt = SECRET_FORMATS[name]
    rng = _rng(seed, "canary", canary_id)
    locale = LOCALES[(k + rate_index) % len(LOCALES)]
    fake = _faker(locale, derive_seed(seed, "secret-name", canary_id))
    frame = rng.choice(fmt.frames).replace("{name}", fake.first_name())
    before, after = frame.split("{secret}")
    secret = sample_pattern(fmt.pattern, rng)
    refs = _distinct_draws(lambda r: sample_pattern(fmt.pattern, r), _rng(seed, "references", canary_id),
                           config.references, secret)
    space = {"kind": "pattern", "name": name, "patterns": [fmt.pattern], "description": f"uniform {name}",
             "size_log2": round(pattern_log2(fmt.pattern), 4), "approximate": False}
    before, after = _nfc(before), _nfc(after)
    return Canary(canary_id, "secret", "secret_sentence", name, before, secret, after, "secret", space, None, rate,
                  tuple(before + r + after for r in refs))


def _trap_canary(canary_id, rate, k, rate_index, config: CanaryConfig, seed) -> Canary:
    spec = config.trap
    length = spec.lengths[k % len(spec.lengths)]
    words = _word_list()

    def sequence(rng: random.Random) -> str:
        drawn = [rng.choice(words) for _ in range(length)]
        return " ".join([drawn[0][:1].upper() + drawn[0][1:], *drawn[1:]]) + "."

    text = sequence(_rng(seed, "canary", canary_id))
    refs = _distinct_draws(sequence, _rng(seed, "references", canary_id), config.references, text)
    cut = _nth_space(text, spec.prefix_words) + 1
    space = {"kind": "words", "vocabulary": len(words), "length": length,
             "description": "uniform words from Faker's English lorem list", "size_log2":
             round(length * math.log2(len(words)), 4), "approximate": False}
    return Canary(canary_id, "trap", "trap_sequence", f"{length}_words", text[:cut], text[cut:-1], ".",
                  "continuation", space, None, rate, tuple(refs))


def _nth_space(text: str, n: int) -> int:
    at = -1
    for _ in range(n):
        at = text.index(" ", at + 1)
    return at


_MAKERS = {"profile": _profile_canary, "secret": _secret_canary, "trap": _trap_canary}


def generate_canaries(config: CanaryConfig, seed: int) -> list[Canary]:
    """Every canary of the run, in a fixed order: by rate, then family, then index.

    Canary ``k`` of a family has the same content type / format / trap
    length at every rate, so exposure across rates compares like with like.
    """
    canaries = []
    for rate_index, rate in enumerate(config.replication_rates):
        for family in FAMILIES:
            for k in range(config.per_rate(family)):
                canary_id = f"{family}-{rate}x-{k:03d}"
                canaries.append(_MAKERS[family](canary_id, rate, k, rate_index, config, seed))
    return canaries


# --- placement: which documents host (or lend their id shape to) each copy -------------------


class PlacementPlanner:
    """Chooses, for each canary, the ``rate`` documents that follow its target point on the ring.

    Spread: a document's ring key is a keyed hash of its id, so a canary's
    documents are a uniform sample, scattered in training order. Block: the
    key is ``order_key(id)``, the training order itself, so the documents are
    consecutive there. The accumulator (one list per canary's gap) keeps at
    most ``max(rate)`` entries per gap; it is a function of the set of
    documents, so any split into bundles and any merge order gives the same
    plan.
    """

    def __init__(self, canaries: list[Canary], config: CanaryConfig, seed: int,
                 order_key: Optional[Callable[[str], int]] = None):
        if config.placement == "block" and order_key is None:
            raise ValueError("block placement needs order_key, the writer's training-order key of a document id")
        self.seed = seed
        self.rates = [c.replication_rate for c in canaries]
        targets = sorted((keyed_hash64(c.canary_id, seed, b"canary-target"), i) for i, c in enumerate(canaries))
        self.target_values = [t for t, _ in targets]
        self.gap_canary = [i for _, i in targets]
        self.keep = max(self.rates, default=0)
        self.order_key = order_key if config.placement == "block" else None

    def ring_key(self, doc_id: str, order: Optional[int] = None) -> int:
        """A document's place on the ring; ``order`` is its :data:`ORDER_KEY` when a stage set one."""
        if self.order_key is not None:
            return (self.order_key(doc_id) if order is None else order) % _RING
        return keyed_hash64(doc_id, self.seed, b"canary-host")

    def target(self, canary_index: int) -> int:
        return self.target_values[self.gap_canary.index(canary_index)]

    def empty(self) -> list[list]:
        return [[] for _ in self.target_values]

    def add(self, acc: list[list], doc_id: str, source: str, metadata, order: Optional[int] = None) -> list[list]:
        if not acc:
            return acc
        x = self.ring_key(doc_id, order)
        gap = bisect.bisect_right(self.target_values, x) - 1  # -1: before the first target, i.e. the last gap
        bucket = acc[gap]
        bucket.append(((x - self.target_values[gap]) % _RING, doc_id, source, metadata))
        if len(bucket) >= 2 * self.keep:
            self._trim(bucket)
        return acc

    def _trim(self, bucket: list) -> None:
        bucket.sort(key=lambda e: (e[0], e[1]))
        del bucket[self.keep:]

    def merge(self, accs: Iterable[list[list]]) -> list[list]:
        out = self.empty()
        for acc in accs:
            for gap, bucket in enumerate(acc):
                out[gap].extend(bucket)
                if len(out[gap]) >= 2 * self.keep:
                    self._trim(out[gap])
        return out

    def finish(self, acc: list[list]) -> list[list[tuple]]:
        """Per canary (in canary order): its documents as (id, source, metadata), ``rate`` of them.

        Fewer documents than copies: copies wrap around the documents there
        are. No documents at all: empty lists.
        """
        for bucket in acc:
            self._trim(bucket)
        gaps = len(acc)
        plans: list[list[tuple]] = [[] for _ in range(gaps)]
        for gap in range(gaps):
            canary = self.gap_canary[gap]
            need, got = self.rates[canary], []
            for step in range(gaps):
                got.extend(acc[(gap + step) % gaps][: need - len(got)])
                if len(got) >= need:
                    break
            if got and len(got) < need:
                got = [got[j % len(got)] for j in range(need)]
            plans[canary] = [(doc_id, source, metadata) for _, doc_id, source, metadata in got]
        return plans


# --- ids of standalone copies ----------------------------------------------------------------

_ID_RUN = re.compile(r"[0-9A-Za-z]+|[^0-9A-Za-z]+")
ID_ATTEMPTS = 4  # candidates per width
ID_WIDENINGS = 6  # then the last varying run grows by one character, up to 5 times
DEFAULT_ID_TEMPLATE = "doc-00000000"  # an empty corpus lends no shape


def _vary(run: str, rng: random.Random, extra: int) -> str:
    if run.isdigit():
        head = rng.choice("123456789") if (run[0] != "0" and len(run) + extra > 1) else rng.choice("0123456789")
        return head + "".join(rng.choice("0123456789") for _ in range(len(run) + extra - 1))
    letters = {ch for ch in run if ch.isalpha()}
    if any(ch.isdigit() for ch in run) and letters <= set("abcdef"):
        return "".join(rng.choice("0123456789abcdef") for _ in range(len(run) + extra))
    if any(ch.isdigit() for ch in run) and letters <= set("ABCDEF"):
        return "".join(rng.choice("0123456789ABCDEF") for _ in range(len(run) + extra))
    pools = {"d": "0123456789", "l": "abcdefghijklmnopqrstuvwxyz", "u": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    classes = ["d" if ch.isdigit() else "u" if ch.isupper() else "l" for ch in run]
    classes = [classes[0]] * extra + classes
    return "".join(rng.choice(pools[c]) for c in classes)


def shaped_id(template_id: str, rng: random.Random, extra: int = 0) -> str:
    """An id of ``template_id``'s shape: runs with digits re-drawn (same classes), letter-only runs kept.

    ``doc-0127`` -> ``doc-5803``; ``3f2a…-9c1e`` -> fresh hex of the same
    layout; demem's own ``<source>#<position>`` ids keep the source
    (``data/part-01.jsonl#12`` -> ``data/part-01.jsonl#47``). An id without
    digits has its longest letter run re-drawn. ``extra`` widens the last
    varied run (for dense id spaces).
    """
    source, hash_sign, position = template_id.rpartition("#")
    if hash_sign and position.isdigit():
        return source + hash_sign + _vary(position, rng, extra)
    runs = _ID_RUN.findall(template_id) or ["0"]
    varied = [i for i, r in enumerate(runs) if r[0].isalnum() and any(ch.isdigit() for ch in r)]
    if not varied:
        alnum = [i for i, r in enumerate(runs) if r[0].isalnum()]
        varied = [max(alnum, key=lambda i: (len(runs[i]), i))] if alnum else []
    if not varied:  # punctuation only
        return template_id + sample_pattern("DDDD", rng)
    out = list(runs)
    for i in varied:
        out[i] = _vary(runs[i], rng, extra if i == varied[-1] else 0)
    return "".join(out)


def candidate_ids(template_id: str, seed: int, canary_id: str, copy: int) -> list[str]:
    return [shaped_id(template_id, _rng(seed, "id", canary_id, copy, extra, attempt), extra)
            for extra in range(ID_WIDENINGS) for attempt in range(ID_ATTEMPTS)]


# --- the insertion, plain Python --------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """Copy ``copy`` of canary ``canary`` (an index), and the document that hosts it or lends its shape."""

    canary: int
    copy: int
    doc_id: Optional[str]
    source: Optional[str]
    metadata: Optional[str]
    splice: bool


def _slots_for(plans: list[list[tuple]], canaries: list[Canary], config: CanaryConfig) -> list[Slot]:
    slots = []
    for c, canary in enumerate(canaries):
        plan = plans[c]
        for j in range(canary.replication_rate):
            if plan:
                doc_id, source, metadata = plan[j]
                slots.append(Slot(c, j, doc_id, source, metadata, config.mode == "splice"))
            else:
                slots.append(Slot(c, j, None, None, None, False))
    return slots


def standalone_candidates(slots: list[Slot], canaries: list[Canary], seed: int) -> set[str]:
    return {cid for s in slots if not s.splice
            for cid in candidate_ids(s.doc_id or DEFAULT_ID_TEMPLATE, seed, canaries[s.canary].canary_id, s.copy)}


def assign_ids(slots: list[Slot], canaries: list[Canary], seed: int, taken: set[str]) -> dict[tuple[int, int], str]:
    """A fresh id for each standalone copy: its first candidate not ``taken`` by a corpus id or an earlier copy."""
    used, ids = set(taken), {}
    for s in slots:
        if s.splice:
            continue
        for cid in candidate_ids(s.doc_id or DEFAULT_ID_TEMPLATE, seed, canaries[s.canary].canary_id, s.copy):
            if cid not in used:
                used.add(cid)
                ids[(s.canary, s.copy)] = cid
                break
        else:
            raise RuntimeError(f"no free document id of the host's shape for canary copy {s.copy} "
                               f"after {ID_ATTEMPTS * ID_WIDENINGS} tries")
    return ids


def standalone_documents(slots: list[Slot], canaries: list[Canary], ids: dict, planner: PlacementPlanner,
                         block: bool) -> tuple[list[dict], list[tuple]]:
    """(the new documents, placements (canary, copy, document id, offset, mode))."""
    docs, placements = [], []
    for position, s in enumerate(slots):
        if s.splice:
            continue
        doc_id = ids[(s.canary, s.copy)]
        doc = {"id": doc_id, "text": canaries[s.canary].text, "source": CANARY_SOURCE, "position": position,
               "metadata": s.metadata}
        if block:  # just before the canary's block of host documents in training order
            doc[ORDER_KEY] = (planner.target(s.canary) + s.copy) % _RING
        docs.append(doc)
        placements.append((s.canary, s.copy, doc_id, 0, "standalone"))
    return docs, placements


_BOUNDARY = re.compile(r"""[.!?]["'\u201d\u2019)\]]*\s+(?=["'\u201c\u2018(\[A-Z0-9])|\n[ \t]*\n\s*(?=\S)""")


def sentence_boundaries(text: str) -> list[int]:
    """Offsets where a sentence or paragraph starts: 0, after end punctuation + space before a capital, the end."""
    return sorted({0, len(text), *(m.end() for m in _BOUNDARY.finditer(text))})


def splice_text(text: str, insertions: list[tuple[str, int, tuple]]) -> tuple[str, dict]:
    """Insert each (canary text, boundary choice, key) at a sentence boundary of ``text``.

    Returns the new text and key -> character offset of that insertion in it.
    Insertions at the same boundary keep key order; each is followed by a
    space, or, at the very end of a text, preceded by one unless the text
    already ends in whitespace.
    """
    boundaries = sentence_boundaries(text)
    chosen = sorted((boundaries[choice % len(boundaries)], key, canary) for canary, choice, key in insertions)
    pieces, offsets, last, length, tail = [], {}, 0, 0, ""
    for at, key, canary in chosen:
        chunk = text[last:at]
        pieces.append(chunk)
        length, last, tail = length + len(chunk), at, (chunk[-1:] or tail)
        if at == len(text):
            if length and not tail.isspace():
                pieces.append(" ")
                length += 1
            piece = canary
        else:
            piece = canary + " "
        offsets[key] = length
        pieces.append(piece)
        length, tail = length + len(piece), piece[-1:]
    pieces.append(text[last:])
    return "".join(pieces), offsets


def splice_document(doc: dict, slots: list[Slot], canaries: list[Canary], seed: int) -> tuple[dict, list[tuple]]:
    """``doc`` with its slots' canaries spliced in, and their placements."""
    insertions = [(canaries[s.canary].text, derive_seed(seed, "splice", canaries[s.canary].canary_id, s.copy),
                   (s.canary, s.copy)) for s in slots]
    text, offsets = splice_text(doc["text"], insertions)
    placements = [(c, j, doc["id"], offset, "splice") for (c, j), offset in offsets.items()]
    return {**doc, "text": text}, placements


def splice_plan(slots: list[Slot]) -> dict[str, list[Slot]]:
    hosts: dict[str, list[Slot]] = {}
    for s in slots:
        if s.splice:
            hosts.setdefault(s.doc_id, []).append(s)
    return hosts


def corpus_totals(docs: Iterable[dict]) -> dict:
    documents = text_bytes = tokens = 0
    for doc in docs:
        documents += 1
        text_bytes += len(doc["text"].encode("utf-8"))
        tokens += len(doc["text"].split())
    return {"documents": documents, "bytes": text_bytes, "whitespace_tokens": tokens}


def insertion_stats(canaries: list[Canary], placements: list[tuple]) -> dict:
    """Counts only (no ids, no text): what report.json may say about the canaries."""
    by_rate: dict[str, int] = {}
    by_family: dict[str, int] = {}
    for canary in canaries:
        by_rate[str(canary.replication_rate)] = by_rate.get(str(canary.replication_rate), 0) + 1
        by_family[canary.family] = by_family.get(canary.family, 0) + 1
    return {
        "canaries": len(canaries),
        "copies": len(placements),
        "documents_added": sum(1 for p in placements if p[4] == "standalone"),
        "hosts_spliced": len({p[2] for p in placements if p[4] == "splice"}),
        "canaries_by_rate": dict(sorted(by_rate.items(), key=lambda kv: int(kv[0]))),
        "canaries_by_family": by_family,
    }


def manifest_records(canaries: list[Canary], placements: list[tuple], totals: dict, config: CanaryConfig,
                     seed: int) -> list[dict]:
    """Header, corpus totals and one record per canary, placements sorted by copy."""
    version, chash = generator_version(), config_hash(config)
    stats = insertion_stats(canaries, placements)
    by_canary: dict[int, list[dict]] = {}
    for c, j, doc_id, offset, mode in sorted(placements):
        by_canary.setdefault(c, []).append(copy_placement(j, doc_id, offset, mode))
    records = [
        header_record(version, seed, chash, len(canaries)),
        corpus_record(totals["documents"], totals["bytes"], totals["whitespace_tokens"], stats["documents_added"],
                      stats["copies"], stats["hosts_spliced"]),
    ]
    for c, canary in enumerate(canaries):
        records.append(canary_record(
            canary_id=canary.canary_id, family=canary.family, content_type=canary.content_type,
            format=canary.format, text=canary.text, sha256=sha256_text(canary.text), secret=canary.secret,
            secret_start=canary.secret_start, secret_end=canary.secret_start + len(canary.secret),
            secret_field=canary.secret_field, randomness_space=canary.randomness_space, profile=canary.profile,
            replication_rate=canary.replication_rate, placement=config.placement, mode=config.mode,
            copies=by_canary.get(c, []),
            references=[{"reference_id": canary.reference_id(i), "text": t} for i, t in enumerate(canary.references)],
            generator_version=version, seed=seed, config_hash=chash,
        ))
    return records


@dataclass
class Insertion:
    """What :func:`insert_canaries` returns: the corpus with canaries, the manifest records, counts."""

    docs: list[dict]
    manifest: list[dict]
    stats: dict
    canaries: list[Canary]


def _order(seed: int, order_key: Optional[Callable[[str], int]]):
    def key(doc):
        if ORDER_KEY in doc:
            return doc[ORDER_KEY], doc["id"]
        if order_key is not None:
            return order_key(doc["id"]) % _RING, doc["id"]
        return keyed_hash64(doc["id"], seed, b"canary-order"), doc["id"]

    return key


def insert_canaries(docs: Iterable[dict], config: CanaryConfig, seed: int,
                    order_key: Optional[Callable[[str], int]] = None) -> Insertion:
    """Without Beam, in memory: plant the canaries of ``config`` into ``docs``.

    Returns every document (hosts spliced, standalone copies added) sorted
    in training order: by :data:`ORDER_KEY` or ``order_key(id)``, else by a
    seeded hash of the id, so writing the list as it comes hides the copies
    as well as the pipeline's writer does. Same result as
    :class:`InsertCanaries`.
    """
    docs = list(docs)
    canaries = generate_canaries(config, seed)
    planner = PlacementPlanner(canaries, config, seed, order_key)
    acc = planner.empty()
    for doc in docs:
        planner.add(acc, doc["id"], doc["source"], doc.get("metadata"), doc.get(ORDER_KEY))
    slots = _slots_for(planner.finish(acc), canaries, config)
    candidates = standalone_candidates(slots, canaries, seed)
    taken = {doc["id"] for doc in docs if doc["id"] in candidates}
    ids = assign_ids(slots, canaries, seed, taken)
    added, placements = standalone_documents(slots, canaries, ids, planner, config.placement == "block")
    hosts = splice_plan(slots)
    out = []
    for doc in docs:
        if doc["id"] in hosts:
            doc, spliced = splice_document(doc, hosts[doc["id"]], canaries, seed)
            placements.extend(spliced)
        out.append(doc)
    out.extend(added)
    out.sort(key=_order(seed, order_key))
    records = manifest_records(canaries, placements, corpus_totals(out), config, seed)
    stats = insertion_stats(canaries, placements)
    LOG.info("canaries: %d planted, %d copies, %d documents added, %d hosts spliced", stats["canaries"],
             stats["copies"], stats["documents_added"], stats["hosts_spliced"])
    return Insertion(out, records, stats, canaries)


# --- after writing: where each copy landed ---------------------------------------------------


def locate_documents(output_dir: str, doc_ids: Iterable[str], collection: str = "data") -> dict[str, tuple[str, int]]:
    """doc id -> (``data/part-…parquet``, row index) for the wanted ids, reading only the id column."""
    import pyarrow.parquet as pq

    wanted, found = set(doc_ids), {}
    pattern = FileSystems.join(output_dir, collection, "*.parquet")
    for meta in sorted(FileSystems.match([pattern])[0].metadata_list, key=lambda m: m.path):
        with FileSystems.open(meta.path) as handle:
            ids = pq.read_table(handle, columns=["id"]).column("id").to_pylist()
        name = f"{collection}/{meta.path.rstrip('/').rsplit('/', 1)[-1]}"
        for row, doc_id in enumerate(ids):
            if doc_id in wanted:
                found[doc_id] = (name, row)
    return found


def complete_manifest(manifest_path: str, output_dir: str) -> list[dict]:
    """Fill every copy's shard file and row index from the written data shards; rewrite the manifest (0600).

    Returns :func:`canary_frequencies` of the manifest, for the report.
    """
    manifest = read_manifest(manifest_path)
    wanted = {copy["document_id"] for record in manifest.canaries for copy in record["copies"]}
    locations = locate_documents(output_dir, wanted)
    records = complete_placements(manifest.records(), locations)
    write_manifest(manifest_path, records, forbidden_dir=FileSystems.join(output_dir, "data"))
    return canary_frequencies(manifest)


def canary_frequencies(manifest) -> list[dict]:
    """Per canary: its manifest name, rate, copies in the output and copies per million whitespace tokens.

    Names and counts only (no text, no secret, no document id), so the list
    may go into report.json.
    """
    tokens = manifest.corpus["whitespace_tokens"]
    return [
        {"canary_id": record["canary_id"], "replication_rate": record["replication_rate"],
         "copies": len(record["copies"]),
         "per_million_tokens": round(len(record["copies"]) * 1e6 / tokens, 3) if tokens else None}
        for record in manifest.canaries
    ]


# --- Beam -----------------------------------------------------------------------------------


class _Plan(beam.CombineFn):
    def __init__(self, planner: PlacementPlanner):
        self.planner = planner

    def create_accumulator(self):
        return self.planner.empty()

    def add_input(self, acc, doc):
        return self.planner.add(acc, doc["id"], doc["source"], doc.get("metadata"), doc.get(ORDER_KEY))

    def merge_accumulators(self, accs):
        return self.planner.merge(accs)

    def extract_output(self, acc):
        return self.planner.finish(acc)


class _Totals(beam.CombineFn):
    def create_accumulator(self):
        return 0, 0, 0

    def add_input(self, acc, doc):
        return acc[0] + 1, acc[1] + len(doc["text"].encode("utf-8")), acc[2] + len(doc["text"].split())

    def merge_accumulators(self, accs):
        accs = list(accs)
        return tuple(sum(a[i] for a in accs) for i in range(3))

    def extract_output(self, acc):
        return {"documents": acc[0], "bytes": acc[1], "whitespace_tokens": acc[2]}


class _Splice(beam.DoFn):
    PLACEMENTS = "placements"

    def __init__(self, canaries: list[Canary], seed: int):
        self.canaries, self.seed = canaries, seed

    def setup(self):
        self.spliced = beam.metrics.Metrics.counter(STAGE, "hosts_spliced")

    def process(self, doc, hosts):
        slots = hosts.get(doc["id"])
        if not slots:
            yield doc
            return
        doc, placements = splice_document(doc, slots, self.canaries, self.seed)
        self.spliced.inc()
        yield doc
        for placement in placements:
            yield beam.pvalue.TaggedOutput(self.PLACEMENTS, placement)


class _Manifest(beam.DoFn):
    """Placements + totals -> manifest records; regenerates the canaries (with references) on the worker.

    Regenerating (deterministic, ~1 s for the default config) keeps the
    references, the bulk of the manifest, out of the pickled pipeline graph.
    """

    def __init__(self, config: CanaryConfig, seed: int, path: Optional[str], forbidden_dir: Optional[str]):
        self.config, self.seed, self.path, self.forbidden_dir = config, seed, path, forbidden_dir

    def setup(self):
        self.canaries = generate_canaries(self.config, self.seed)

    def process(self, placements, corpus):
        records = manifest_records(self.canaries, list(placements), corpus, self.config, self.seed)
        if self.path:
            write_manifest(self.path, records, forbidden_dir=self.forbidden_dir)
        yield records


class InsertCanaries(beam.PTransform):
    """Documents in; out a dict of PCollections:

    * ``docs``: every document, hosts spliced, standalone copies added;
    * ``manifest``: one element, the manifest records (placements without
      shard file and row index; :func:`complete_manifest` fills them after
      the shards are written);
    * ``stats``: one element, counts only (:func:`insertion_stats`).

    With ``manifest_path`` the manifest is also written there (0600), and
    refused inside ``data_dir``. Same output as :func:`insert_canaries` on any
    number of workers. The canaries are generated once here, on the
    launcher; steps get them without their references.
    """

    def __init__(self, config: CanaryConfig, seed: int, order_key: Optional[Callable[[str], int]] = None,
                 manifest_path: Optional[str] = None, data_dir: Optional[str] = None):
        super().__init__()
        self.config, self.seed, self.order_key = config, seed, order_key
        self.manifest_path, self.data_dir = manifest_path, data_dir

    def expand(self, docs):
        config, seed = self.config, self.seed
        canaries = [dataclasses.replace(c, references=()) for c in generate_canaries(config, seed)]
        planner = PlacementPlanner(canaries, config, seed, self.order_key)
        slots = (
            docs
            | "Plan" >> beam.CombineGlobally(_Plan(planner))
            | "Slots" >> beam.Map(lambda plans: _slots_for(plans, canaries, config))
        )
        candidates = slots | "Candidates" >> beam.Map(lambda s: standalone_candidates(s, canaries, seed))
        taken = (
            docs
            | "Ids" >> beam.Map(lambda doc: doc["id"])
            | "Collisions" >> beam.Filter(lambda doc_id, wanted: doc_id in wanted,
                                          wanted=beam.pvalue.AsSingleton(candidates))
            | "CollisionSet" >> beam.combiners.ToList()
        )
        block = config.placement == "block"

        def make_standalone(slot_list, taken_ids):
            ids = assign_ids(slot_list, canaries, seed, set(taken_ids))
            return standalone_documents(slot_list, canaries, ids, planner, block)

        standalone = slots | "Standalone" >> beam.Map(make_standalone, taken_ids=beam.pvalue.AsSingleton(taken))
        added = standalone | "AddedDocs" >> beam.FlatMap(lambda pair: pair[0])
        hosts = slots | "Hosts" >> beam.Map(splice_plan)
        spliced = docs | "Splice" >> beam.ParDo(_Splice(canaries, seed), hosts=beam.pvalue.AsSingleton(hosts)
                                                ).with_outputs(_Splice.PLACEMENTS, main="docs")
        out = (spliced["docs"], added) | "AllDocs" >> beam.Flatten()
        placements = (
            (spliced[_Splice.PLACEMENTS], standalone | "AddedPlacements" >> beam.FlatMap(lambda pair: pair[1]))
            | "AllPlacements" >> beam.Flatten()
            | "PlacementList" >> beam.combiners.ToList()
        )
        totals = out | "Totals" >> beam.CombineGlobally(_Totals())
        manifest = placements | "Manifest" >> beam.ParDo(
            _Manifest(config, seed, self.manifest_path, self.data_dir), corpus=beam.pvalue.AsSingleton(totals))
        stats = placements | "Stats" >> beam.Map(lambda p: _logged(insertion_stats(canaries, list(p))))
        return {"docs": out, "manifest": manifest, "stats": stats}


def _logged(stats: dict) -> dict:
    LOG.info("canaries: %d planted, %d copies, %d documents added, %d hosts spliced", stats["canaries"],
             stats["copies"], stats["documents_added"], stats["hosts_spliced"])
    return stats
