"""Surrogates: realistic, format-preserving replacement values for detected PII.

Contract. ``SurrogateGenerator.surrogate(entity_type, original, doc_id, salt)``
returns a value that

- has the *shape* of the original (a phone keeps its digit count, separators,
  ``+``/country code and area code; a card keeps length, grouping, brand digits
  and a valid Luhn digit; an IBAN keeps country, length and grouping with valid
  mod-97 check digits; a date keeps its format; a secret keeps its length,
  character classes and vendor prefix, ...) so downstream text stays natural
  and no constant placeholder becomes a new memorized trace
  ("The Devil is in the Prompts"; Carrell et al., "hiding in plain sight");
- is **deterministic** without any stored mapping: a keyed HMAC-SHA256 of
  ``(doc_id, entity_type, original, salt)`` seeds the random draws, so the same
  original gets the same surrogate everywhere in one document, on any worker,
  in any run with the same key;
- is **diverse across documents**: a different ``doc_id`` gives a different
  HMAC, so one real value repeated in many documents does not become one
  high-frequency surrogate (frequency is what drives memorization);
- **never equals the original** (compared case- and separator-insensitively;
  for names token by token): a draw that would is redrawn with a counter.

Three deliberate refinements of "HMAC of (doc_id, type, value)":

- Names are replaced token by token, each token keyed by ``(doc_id, token,
  salt)``. "John Smith", "Smith", "Mr. Smith" and ``john.smith@x.org`` in
  one document then become "Eric Doyle", "Doyle", "Mr. Doyle" and
  ``eric.doyle@y.com``: coreference survives, which whole-string keys would break.
- Host names are keyed by their registrable domain, so ``acme.com`` in an
  email and in ``https://www.acme.com/x`` map to the same fake domain.
- Dates are shifted by one offset per document (1-365 days, keyed by
  ``(doc_id, salt)``), the standard de-identification practice that keeps the
  intervals between a document's dates (admission -> discharge, age at a visit).

``salt`` asks for an independent draw (frequency dilution: the k-th
occurrence gets ``salt=str(k)``).

The key. ``SurrogateKey`` holds the HMAC secret; its repr shows only a
fingerprint. Load it with ``from_env`` or ``from_file``; ``from_seed`` derives
a key from the run seed for runs that configure none: **that key is not
secret** (anyone with the config can recompute every surrogate's seed), so use
it only where reproducibility matters more than unlinkability. The same key
also gives ``hmac_hex``, the ``hash`` operator's digest (corpus-wide, not per
document, so dilution can count items).

What is kept, on purpose: a phone's country code and area/network code (shared
by many people; needed for the number to stay valid), a card's brand digits,
an IBAN's country, a URL's scheme, port and query keys, an email's public mail
provider (gmail.com) or reserved domain (example.com), name titles/suffixes,
an age's class (under 90 or "90 or older"), a date's format. A date of birth
is shifted like the document's other dates, so ages at a visit survive; a
marker with no date in it gets a fresh adult birth date. National-format
phone numbers are read for the generator's region and a few common ones (US,
GB, DE, FR, IN, ...); elsewhere they keep their shape and stay "possible" but
may not be valid, while international (+CC) numbers stay valid everywhere.

Privacy of errors: no exception or repr raised or built here contains the
original value (only entity types, lengths and key fingerprints).

Reproducibility: values depend on the key and on Faker's data (name pools,
word lists, address formats), so byte-identical output across machines needs
the same Faker version (developed against Faker 40.63.0) and phonenumbers
version (validity checks decide redraws).

Speed: one Faker instance per generator, built lazily; its ``random`` is
replaced by a hash-stream ``random.Random`` whose re-seeding is one HMAC
(seeding Mersenne Twister costs ~10 us, more than most draws). Simple types
(names, emails, cards, SSNs, IBANs, IPs, dates, ages, IDs, secrets) are drawn
from data pools without Faker's template engine; only street addresses,
locations, organizations and hospitals go through Faker providers. A
generator is not thread-safe: build one per DoFn instance (``DoFn.setup``);
it pickles as (key, locale) and rebuilds its caches on the worker.
"""
from __future__ import annotations

import calendar
import datetime as _dt
import hashlib
import hmac
import importlib
import ipaddress
import logging
import os
import random
import re
import traceback
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

log = logging.getLogger(__name__)

ENTITY_TYPES = ("PERSON", "FIRST_NAME", "LAST_NAME", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN",
                "IBAN_CODE", "IP_ADDRESS", "URL", "STREET_ADDRESS", "DATE_OF_BIRTH", "DATE", "SECRET", "LOCATION",
                "ORGANIZATION", "HOSPITAL", "ID_NUMBER", "AGE")

# Other names detectors and trace catalogues use for the same kinds of value.
ENTITY_ALIASES = {
    "ADDRESS": "STREET_ADDRESS", "DATE_TIME": "DATE", "EMAIL": "EMAIL_ADDRESS", "PHONE": "PHONE_NUMBER",
    "NAME": "PERSON", "KEY": "SECRET", "PASSWORD": "SECRET", "API_KEY": "SECRET", "CRYPTO": "SECRET",
    "US_DRIVER_LICENSE": "ID_NUMBER", "US_PASSPORT": "ID_NUMBER", "US_BANK_NUMBER": "ID_NUMBER",
    "US_ITIN": "ID_NUMBER", "MEDICAL_LICENSE": "ID_NUMBER", "UK_NHS": "ID_NUMBER", "ORG": "ORGANIZATION",
}

KEY_ENV_VAR = "DEMEM_SURROGATE_KEY"
_MAX_ATTEMPTS = 32
# Keys shorter than this are brute-forceable offline for the `hash` operator.
_MIN_KEY_BYTES = 16


class SurrogateKeyError(ValueError):
    """The surrogate key could not be loaded (message names the source, never the secret)."""


class SurrogateError(ValueError):
    """A surrogate could not be drawn (message names the entity type, never the value)."""


def canonical_entity_type(entity_type: str) -> str:
    """The ENTITY_TYPES name for ``entity_type`` or one of its ENTITY_ALIASES; ValueError names unknown types."""
    if entity_type in _GENERATOR_METHODS:
        return entity_type
    canonical = ENTITY_ALIASES.get(entity_type) if isinstance(entity_type, str) else None
    if canonical is None:
        shown = entity_type[:40] if isinstance(entity_type, str) else type(entity_type).__name__
        raise ValueError(f"unknown entity type {shown!r}; known: {', '.join(ENTITY_TYPES)}")
    return canonical


# --------------------------------------------------------------------------- the key


class SurrogateKey:
    """The secret HMAC key behind surrogates and the ``hash`` operator.

    Never printed: ``repr`` shows where it came from and a 12-hex fingerprint
    (a domain-separated SHA-256 of the key, useless for recomputing surrogates)
    so two runs can be checked to use the same key.
    """

    __slots__ = ("_secret", "source")

    def __init__(self, secret: bytes | str, source: str = "bytes"):
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if not isinstance(secret, (bytes, bytearray)) or not secret:
            raise SurrogateKeyError(f"surrogate key from {source} is empty")
        self._secret = bytes(secret)
        self.source = source
        if len(self._secret) < _MIN_KEY_BYTES and source != "seed":
            log.warning("surrogate key from %s is %d bytes; use at least %d random bytes (e.g. `openssl rand -hex 32`)",
                        source, len(self._secret), _MIN_KEY_BYTES)

    @classmethod
    def from_env(cls, var: str = KEY_ENV_VAR) -> "SurrogateKey":
        value = os.environ.get(var, "")
        if not value.strip():
            raise SurrogateKeyError(f"environment variable {var} is not set or empty; set it to a secret "
                                    "(e.g. `export {0}=$(openssl rand -hex 32)`) or configure a key file".format(var))
        return cls(value.strip().encode("utf-8"), source=f"env:{var}")

    @classmethod
    def from_file(cls, path) -> "SurrogateKey":
        """Read the key from a local path or any Beam filesystem URL (gs://, s3://, ...); surrounding whitespace
        is ignored."""
        path = os.fspath(path)
        try:
            if "://" in path:
                from apache_beam.io.filesystems import FileSystems
                with FileSystems.open(path) as f:
                    data = f.read()
            else:
                with open(path, "rb") as f:
                    data = f.read()
        except Exception as e:  # the message of an I/O error names the path only
            raise SurrogateKeyError(f"cannot read surrogate key file {path}: {type(e).__name__}") from None
        data = data.strip()
        if not data:
            raise SurrogateKeyError(f"surrogate key file {path} is empty")
        return cls(data, source=f"file:{path}")

    @classmethod
    def from_seed(cls, seed: int) -> "SurrogateKey":
        """A key derived from the run seed, for runs that configure no key. NOT SECRET: anyone who knows the
        seed can recompute surrogate seeds and test guesses of original values against them."""
        digest = hashlib.sha256(b"demem/surrogate-key-from-seed/v1\x00" + str(int(seed)).encode()).digest()
        return cls(digest, source="seed")

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(b"demem/surrogate-key-fingerprint/v1\x00" + self._secret).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"SurrogateKey(source={self.source!r}, fingerprint={self.fingerprint!r})"

    __str__ = __repr__

    def __eq__(self, other) -> bool:
        return isinstance(other, SurrogateKey) and hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __getstate__(self):
        return {"_secret": self._secret, "source": self.source}

    def __setstate__(self, state):
        self._secret = state["_secret"]
        self.source = state["source"]


# --------------------------------------------------------------------------- random draws from a keyed hash


class _KeyedStream(random.Random):
    """A ``random.Random`` whose bits are SHA-256(digest || block counter): seeded by one HMAC, no MT state.

    Overriding ``random`` and ``getrandbits`` makes every inherited method
    (choice, randint, shuffle, choices, ...) draw from the stream, so Faker
    providers can use it as their ``generator.random``.
    """

    def __init__(self, digest: bytes = b"\x00" * 32):  # noqa: D401 - skips MT seeding on purpose
        self._reset(digest)
        self.gauss_next = None

    def _reset(self, digest: bytes) -> None:
        self._digest = digest
        self._pool = int.from_bytes(digest, "little")
        self._nbits = len(digest) * 8
        self._block = 0

    def seed(self, a=None, version=2):  # Faker's seed_instance() lands here
        data = a if isinstance(a, (bytes, bytearray)) else repr(a).encode()
        self._reset(hashlib.sha256(bytes(data)).digest())

    def getrandbits(self, k: int) -> int:
        if k < 0:
            raise ValueError("number of bits must be non-negative")
        while self._nbits < k:
            self._block += 1
            more = hashlib.sha256(self._digest + self._block.to_bytes(8, "little")).digest()
            self._pool |= int.from_bytes(more, "little") << self._nbits
            self._nbits += 256
        value = self._pool & ((1 << k) - 1)
        self._pool >>= k
        self._nbits -= k
        return value

    def random(self) -> float:
        return self.getrandbits(53) * (1.0 / 9007199254740992.0)

    def below(self, n: int) -> int:
        """Uniform in [0, n) by rejection sampling (stable across Python versions, unlike randrange)."""
        k = n.bit_length()
        value = self.getrandbits(k)
        while value >= n:
            value = self.getrandbits(k)
        return value

    def digits(self, n: int) -> str:
        return "%0*d" % (n, self.below(10 ** n)) if n > 0 else ""

    def getstate(self):
        raise TypeError("a keyed stream is not meant to be saved; re-derive it from its key")

    def setstate(self, state):
        raise TypeError("a keyed stream is not meant to be restored; re-derive it from its key")


# --------------------------------------------------------------------------- validity helpers (also used by tests)


def luhn_check_digit(payload: str) -> str:
    """The Luhn check digit that completes the digit string ``payload``."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = ord(ch) - 48
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    digits = "".join(c for c in number if c in _ASCII_DIGITS)
    return len(digits) >= 2 and luhn_check_digit(digits[:-1]) == digits[-1]


def _iban_number(text: str) -> int:
    return int("".join(str(int(c, 36)) for c in text.upper()))


def iban_check_digits(country: str, bban: str) -> str:
    """ISO 13616 check digits for ``country`` + ``bban`` (mod 97-10)."""
    return "%02d" % (98 - _iban_number(bban + country + "00") % 97)


def iban_valid(iban: str) -> bool:
    compact = "".join(c for c in iban if c.isalnum()).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{8,30}", compact):
        return False
    return _iban_number(compact[4:] + compact[:4]) % 97 == 1


# --------------------------------------------------------------------------- data pools

# Name pools come from several English-language Faker locales so that no name
# dominates a large corpus; pools are drawn uniformly (Faker's own weights
# would make "James Smith" a high-frequency string).
_ENGLISH_NAME_LOCALES = ("en", "en_US", "en_GB", "en_IE", "en_NZ", "en_IN", "en_KE", "en_NG")
_NAME_SHAPE = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")


@dataclass(frozen=True)
class _NamePools:
    female: tuple
    male: tuple
    first: tuple
    last: tuple
    female_only: frozenset
    male_only: frozenset
    first_keys: frozenset
    last_keys: frozenset


def _provider_names(provider, attrs) -> set:
    out = set()
    for attr in attrs:
        for name in getattr(provider, attr, ()) or ():
            if isinstance(name, str) and _NAME_SHAPE.fullmatch(name):
                out.add(name)
    return out


@lru_cache(maxsize=8)
def _name_pools(locale: str) -> _NamePools:
    locales = _ENGLISH_NAME_LOCALES if locale.split("_")[0] == "en" else (locale,)
    female, male, last = set(), set(), set()
    for loc in locales:
        try:
            provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        except ImportError:
            continue
        female |= _provider_names(provider, ("first_names_female",))
        male |= _provider_names(provider, ("first_names_male",))
        if not getattr(provider, "first_names_female", None):
            female |= _provider_names(provider, ("first_names",))
            male |= _provider_names(provider, ("first_names",))
        last |= _provider_names(provider, ("last_names",))
    if not (female and male and last):
        return _name_pools("en_US")
    fkeys = {n.casefold() for n in female}
    mkeys = {n.casefold() for n in male}
    # sorted, never set order: str hashing is randomized per process
    return _NamePools(
        female=tuple(sorted(female)), male=tuple(sorted(male)), first=tuple(sorted(female | male)),
        last=tuple(sorted(last)), female_only=frozenset(fkeys - mkeys), male_only=frozenset(mkeys - fkeys),
        first_keys=frozenset(fkeys | mkeys), last_keys=frozenset(n.casefold() for n in last))


@lru_cache(maxsize=1)
def _words() -> tuple:
    from faker.providers.lorem.en_US import Provider
    return tuple(sorted({w for w in Provider.word_list if w.isascii() and w.isalpha() and len(w) >= 3}))


_TITLES = frozenset("mr mrs ms miss mx dr prof sir dame rev fr capt lt col gen hon lord lady".split())
# Only suffixes that are not also surnames ("Do", "Pa" are).
_NAME_SUFFIXES = frozenset("jr sr ii iii iv phd md esq dds mba cpa".split())
_NAME_PARTICLES = frozenset("van von der den de del della da di du la le bin binti bint ibn al el st y".split())

PUBLIC_MAIL_DOMAINS = frozenset("""
gmail.com googlemail.com outlook.com hotmail.com hotmail.co.uk hotmail.fr live.com msn.com yahoo.com yahoo.co.uk
yahoo.fr yahoo.de yahoo.co.in ymail.com aol.com icloud.com me.com mac.com protonmail.com proton.me pm.me gmx.com
gmx.de gmx.net web.de mail.com zoho.com yandex.com yandex.ru mail.ru qq.com 163.com 126.com fastmail.com
tutanota.com hey.com comcast.net verizon.net att.net sbcglobal.net btinternet.com orange.fr free.fr laposte.net
t-online.de rediffmail.com
""".split())
_RESERVED_DOMAINS = frozenset({"example.com", "example.org", "example.net", "example.edu", "localhost"})
_RESERVED_TLDS = frozenset({"example", "test", "invalid", "localhost", "local"})
_SECOND_LEVEL = frozenset({"co", "com", "ac", "org", "gov", "net", "edu", "ltd", "plc", "or", "ne", "go", "nhs"})
_GENERIC_SUBDOMAINS = frozenset(
    "www www2 mail m en api blog docs shop app smtp imap ftp cdn static web portal login secure support help news dev "
    "status store my wiki git".split())
_FAKE_TLDS = ("com", "com", "com", "com", "net", "org", "org", "io", "co", "info", "us", "biz")
_URL_EXTENSIONS = frozenset("html htm php asp aspx jsp pdf txt xml json csv png jpg jpeg gif svg doc docx zip".split())

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_MONTH_WORDS = {m: i + 1 for i, m in enumerate(_MONTHS)}
_MONTH_WORDS.update({m[:3]: i + 1 for i, m in enumerate(_MONTHS)})
_MONTH_WORDS["sept"] = 9
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_WORDS = {d: i for i, d in enumerate(_WEEKDAYS)}
_WEEKDAY_WORDS.update({d[:3]: i for i, d in enumerate(_WEEKDAYS)})
_WEEKDAY_WORDS.update({"tues": 1, "thur": 3, "thurs": 3})
_ORDINALS = frozenset({"st", "nd", "rd", "th"})

# Vendor prefixes a secret keeps: they say what kind of credential it was, not which one.
_SECRET_PREFIXES = tuple(sorted((
    "sk_live_", "sk_test_", "pk_live_", "pk_test_", "rk_live_", "rk_test_", "whsec_", "ghp_", "gho_", "ghu_", "ghs_",
    "ghr_", "github_pat_", "glpat-", "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xapp-", "AKIA", "ASIA", "AGPA",
    "AIDA", "AROA", "AIza", "ya29.", "hf_", "sk-proj-", "sk-ant-api03-", "sk-ant-", "sk-", "npm_", "pypi-", "SG.",
    "shpat_", "shpss_", "dop_v1_", "AccountKey=", "xkeysib-", "key-", "EAA", "sq0atp-", "sq0csp-",
), key=len, reverse=True))
_PEM = re.compile(r"(-----BEGIN ([A-Z0-9 ]+)-----)(.*?)(-----END \2-----)", re.S)
_SECRET_ASSIGNMENT = re.compile(
    r"""^((?:[\w.\-]*?(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|access[_-]?key|auth|credential)[\w.\-]*)"""
    r"""\s*[:=]\s*["']?)""", re.I)
_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_SYMBOLS = "!#$%&*+-.=?@^_~"

# Whole-string markers left by earlier de-identification: no shape to keep, draw a fresh value.
_MARKER = re.compile(
    r"^\s*(?:\[\*\*.*?\*\*\]|\[[^\]\d]*\]|<[^<>@.:/]*>|\|\|\|.*?\|\|\||\{\{.*?\}\}|_{2,}|\*{3,}|\(\s*\)|-+)\s*$", re.S)
_MIMIC_INNER = re.compile(r"\s*\[\*\*\s*(.*?)\s*\*\*\]\s*", re.S)
_OVER_89 = re.compile(r"(?i)over\s*(?:89|90)|\b9\d\s*\+|>\s*89|\bninety\b")
_MASK_CHARS = "Xx#*"
_WHITESPACE_SPLIT = re.compile(r"(\s+)")
_ASCII_DIGITS = frozenset("0123456789")
_DIGIT_SLOT_SHAPE = re.compile(r"^[\s0-9Xx#*().+\-/\u2010-\u2015]+$")
_PHONE_EXT = re.compile(r"(?i)(\s*(?:ext\.?|extension|x|#)\s*)(\d{1,6})\s*$")
_PHONE_FALLBACK_REGIONS = ("US", "GB", "DE", "FR", "IN", "CA", "AU", "IE", "NL", "ES", "IT")

_V4_SPECIAL = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15", "192.0.0.0/24", "0.0.0.0/8",
    "224.0.0.0/4", "240.0.0.0/4"))
_V6_SPECIAL = tuple(ipaddress.ip_network(n) for n in (
    "fc00::/7", "fe80::/10", "2001:db8::/32", "ff00::/8", "64:ff9b::/96", "2002::/16"))

_HOSPITAL_KINDS = ("Hospital", "General Hospital", "Memorial Hospital", "Medical Center", "Regional Medical Center",
                   "Community Hospital", "University Hospital", "Health Center", "Children's Hospital", "Clinic",
                   "Infirmary", "Rehabilitation Hospital")

_IBAN_FRESH = {"GB": "AAAA" + "9" * 14, "IE": "AAAA" + "9" * 14, "DE": "9" * 18, "FR": "9" * 23, "ES": "9" * 20,
               "IT": "A" + "9" * 22, "NL": "AAAA" + "9" * 10}


# --------------------------------------------------------------------------- small shape helpers


def _match_case(value: str, like: str) -> str:
    """``value`` in UPPER or lower case when ``like`` is (a single capital is not UPPER), else as drawn."""
    if like.isupper() and len(like) > 1:
        return value.upper()
    if like.islower():
        return value.lower()
    return value


def _ascii_slug(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


_NOT_ALNUM = re.compile(r"[\W_]+")


def _comparable(value: str) -> str:
    """What "equal to the original" means: same letters and digits, ignoring case and separators."""
    folded = value.casefold()
    return _NOT_ALNUM.sub("", folded) or folded.strip()


def _random_like(rng: _KeyedStream, ch: str) -> str:
    if "0" <= ch <= "9":
        return str(rng.below(10))
    if "A" <= ch <= "Z":
        return _UPPER[rng.below(26)]
    if "a" <= ch <= "z":
        return _LOWER[rng.below(26)]
    if ch.isdigit():
        return str(rng.below(10))
    if ch.isalpha():
        return (_UPPER if ch.isupper() else _LOWER)[rng.below(26)]
    if ch.isalnum():  # other numerals: "¼", "²"
        return str(rng.below(10))
    return ch


def _digit_slots(text: str) -> list[int] | None:
    """Positions that hold a digit or a mask character (X, #, *) in a digit-shaped string, else None."""
    if not _DIGIT_SLOT_SHAPE.match(text):
        return None
    slots = [i for i, c in enumerate(text) if c in _ASCII_DIGITS or c in _MASK_CHARS]
    return slots or None


def _fill(text: str, slots: list[int], digits: str) -> str:
    out = list(text)
    for pos, d in zip(slots, digits):
        out[pos] = d
    return "".join(out)


# --------------------------------------------------------------------------- the generator


class SurrogateGenerator:
    """Deterministic, keyed, format-preserving surrogates (see the module docstring)."""

    def __init__(self, key: SurrogateKey, locale: str = "en_US"):
        if not isinstance(key, SurrogateKey):
            raise TypeError("key must be a SurrogateKey (SurrogateKey.from_env / from_file / from_seed)")
        self._key = key
        self.locale = locale
        self.region = (locale.split("_")[1] if "_" in locale else "US").upper()
        self._mac = hmac.new(key._secret, digestmod=hashlib.sha256)
        self._faker_generator = None
        self._pools = None
        # phone original -> its analysed shape; in memory only, bounded (see _phone_shape)
        self._phone_shapes: OrderedDict = OrderedDict()

    def __repr__(self) -> str:
        return f"SurrogateGenerator(key={self._key!r}, locale={self.locale!r})"

    def __getstate__(self):
        return {"key": self._key, "locale": self.locale}

    def __setstate__(self, state):
        self.__init__(state["key"], state["locale"])

    # -- keyed digests

    def _digest(self, purpose: str, *parts: str) -> bytes:
        mac = self._mac.copy()
        mac.update("".join(f"{len(p)}:{p}" for p in (purpose, *parts)).encode("utf-8", "surrogatepass"))
        return mac.digest()

    def _stream(self, purpose: str, *parts: str) -> _KeyedStream:
        return _KeyedStream(self._digest(purpose, *parts))

    def hmac_hex(self, entity_type: str, original: str, length: int = 16) -> str:
        """The ``hash`` operator's digest: hex HMAC-SHA256 of (entity_type, original), the same in every document
        (unlike surrogates), so equal values stay countable. ``length`` hex characters, 1..64."""
        if not isinstance(length, int) or not 1 <= length <= 64:
            raise ValueError("length must be an int from 1 to 64")
        if not isinstance(original, str):
            raise TypeError("original must be a str")
        return self._digest("hash/v1", str(entity_type), original).hex()[:length]

    # -- lazily built resources

    @property
    def _faker(self):
        if self._faker_generator is None:
            from faker import Faker
            try:
                proxy = Faker(self.locale)
            except AttributeError:
                proxy = Faker("en_US")
            self._faker_generator = proxy[proxy.locales[0]]
        return self._faker_generator

    @property
    def pools(self) -> _NamePools:
        if self._pools is None:
            self._pools = _name_pools(self.locale)
        return self._pools

    def _faker_with(self, rng: _KeyedStream):
        fake = self._faker
        fake.random = rng
        return fake

    # -- public entry point

    def surrogate(self, entity_type: str, original: str, doc_id: str, salt: str = "") -> str:
        """A realistic value of ``entity_type`` shaped like ``original``; deterministic in
        (key, doc_id, entity_type, original, salt) and never equal to ``original``.

        An empty original, or a de-identification marker (``[**First Name**]``, ``<PERSON>``, ``___``,
        ``[REDACTED]``), gives a fresh value in the type's default format; a MIMIC marker around a date
        (``[**2151-8-5**]``) keeps the date's format; masks (``XXX-XX-XXXX``) keep their shape.
        ``entity_type`` may also be one of ENTITY_ALIASES (``DATE_TIME``, ``ADDRESS``, ...)."""
        entity_type = canonical_entity_type(entity_type)
        if not isinstance(original, str):
            raise TypeError("original must be a str")
        doc_id, salt = str(doc_id), str(salt)
        make = getattr(self, _GENERATOR_METHODS[entity_type])
        target = _comparable(original)
        failure = None
        for attempt in range(_MAX_ATTEMPTS):
            try:
                value = make(original, doc_id, salt, attempt)
            except Exception as e:  # noqa: BLE001 - a library's message may quote the value: never let it out
                frame = traceback.extract_tb(e.__traceback__)[-1]
                failure = f"{type(e).__name__} at {os.path.basename(frame.filename)}:{frame.lineno}"
                break
            if _comparable(value) != target:
                return value
        # raised outside the except block, so no chained exception carries the value
        if failure:
            raise SurrogateError(f"internal error ({failure}) while drawing a {entity_type} surrogate "
                                 f"for an original of {len(original)} characters")
        raise SurrogateError(f"could not draw a {entity_type} surrogate different from the original "
                             f"({len(original)} characters)")

    def _value_stream(self, entity_type, original, doc_id, salt, attempt) -> _KeyedStream:
        if attempt:
            return self._stream("surrogate/v1", doc_id, entity_type, original, salt, str(attempt))
        return self._stream("surrogate/v1", doc_id, entity_type, original, salt)

    # ------------------------------------------------------------------- names

    def name_token(self, token: str, role: str, doc_id: str, salt: str = "", attempt: int = 0,
                   avoid: frozenset = frozenset()) -> str:
        """Surrogate of one name token (no spaces), keyed by (doc_id, token, salt) so it is the same in every
        mention. ``role``: ``first``/``last`` (the pool to draw from), or ``auto:first``/``auto:last`` (the
        token's own pool if it is a known first or last name, else the given position's). Never the token
        itself, nor any case-folded token in ``avoid`` (the other tokens of the same name)."""
        if "-" in token.strip("-"):
            return "-".join(self.name_token(part, role, doc_id, salt, attempt, avoid) if part else part
                            for part in token.split("-"))
        key = token.casefold()
        avoid = avoid | {key}
        pools = self.pools
        if role.startswith("auto:"):
            is_first, is_last = key in pools.first_keys, key in pools.last_keys
            role = "first" if is_first and not is_last else "last" if is_last and not is_first else role[5:]
        if role == "first":
            pool = pools.female if key in pools.female_only else pools.male if key in pools.male_only else pools.first
        else:
            pool = pools.last
        parts = ("name/v1", doc_id, key, salt) + ((str(attempt),) if attempt else ())
        # 256 keyed bits give ~20 independent draws from a pool of thousands; the modulo bias is ~2**-240
        bits = int.from_bytes(self._digest(*parts), "little")
        size = len(pool)
        for _ in range(16):
            bits, index = divmod(bits, size)
            value = pool[index]
            if value.casefold() not in avoid:
                break
        return _match_case(value, token)

    def _initial(self, letter: str, doc_id: str, salt: str, attempt: int) -> str:
        rng = self._stream("initial/v1", doc_id, letter.casefold(), salt, *((str(attempt),) if attempt else ()))
        choices = [c for c in _UPPER if c != letter.upper()]
        new = choices[rng.below(len(choices))]
        return new if letter.isupper() else new.lower()

    def _fresh_name(self, rng: _KeyedStream, first: bool, last: bool) -> str:
        pools = self.pools
        out = []
        if first:
            out.append(pools.first[rng.below(len(pools.first))])
        if last:
            out.append(pools.last[rng.below(len(pools.last))])
        return " ".join(out)

    _NAME_TOKEN = re.compile(r"^([(\"'\[]*)([^\W\d_]+(?:[-'’.][^\W\d_]+)*)(\.?)([,;:)\"'\]]*)$")

    def _person(self, original, doc_id, salt, attempt, kind="PERSON"):
        body = original.strip()
        pieces = _WHITESPACE_SPLIT.split(body)
        tokens = pieces[::2]
        parsed = [self._NAME_TOKEN.match(t) for t in tokens] if body else [None]
        if None in parsed or _MARKER.match(body):
            rng = self._value_stream(kind, original, doc_id, salt, attempt)
            return self._fresh_name(rng, kind != "LAST_NAME", kind != "FIRST_NAME")
        # which tokens are names, not leading titles, trailing suffixes or lower-case particles
        last = len(tokens) - 1
        name_idx = []
        titled = False
        for i, m in enumerate(parsed):
            core = m.group(2)
            folded = core.casefold()
            if not name_idx and i < last and folded in _TITLES:
                titled = True
            elif i and folded in _NAME_SUFFIXES and (i == last or folded in ("jr", "sr")):
                pass
            elif 0 < i < last and folded in _NAME_PARTICLES and core.islower():
                pass
            else:
                name_idx.append(i)
        if not name_idx:  # "Dr." alone: keep the title, add a surname
            rng = self._value_stream(kind, original, doc_id, salt, attempt)
            return original.rstrip() + " " + self._fresh_name(rng, False, True) + original[len(original.rstrip()):]
        comma_order = len(name_idx) > 1 and parsed[name_idx[0]].group(4).startswith(",")
        # no draw may bring back another token of this name ("John Van Dyke" never gets a "Van")
        own = frozenset(part.casefold() for m in parsed for part in m.group(2).split("-") if part)
        final = len(name_idx) - 1
        for n, i in enumerate(name_idx):
            if kind == "FIRST_NAME":
                role = "first"
            elif kind == "LAST_NAME":
                role = "last"
            elif not final:
                # a lone token is a surname after a title; otherwise its own pool decides, surname if unknown
                role = "last" if titled else "auto:last"
            elif comma_order:  # "Smith, John"
                role = "auto:last" if n == 0 else "auto:first"
            else:
                role = "auto:last" if n == final else "auto:first"
            m = parsed[i]
            core = m.group(2)
            if len(core) == 1 or ("." in core and all(len(part) == 1 for part in core.split("."))):  # "J", "J.R"
                new_core = ".".join(self._initial(c, doc_id, salt, attempt) for c in core.split("."))
            else:
                new_core = self.name_token(core, role, doc_id, salt, attempt, own)
            tokens[i] = m.group(1) + new_core + m.group(3) + m.group(4)
        pieces[::2] = tokens
        return original[:len(original) - len(original.lstrip())] + "".join(pieces) + original[len(original.rstrip()):]

    def _first_name(self, original, doc_id, salt, attempt):
        return self._person(original, doc_id, salt, attempt, kind="FIRST_NAME")

    def _last_name(self, original, doc_id, salt, attempt):
        return self._person(original, doc_id, salt, attempt, kind="LAST_NAME")

    # ------------------------------------------------------------------- email, domains, URLs

    def _domain_word(self, rng: _KeyedStream) -> str:
        pools, words = self.pools, _words()
        form = rng.below(6)
        last = _ascii_slug(pools.last[rng.below(len(pools.last))])
        if form <= 1:
            return last or "mail"
        if form == 2:
            return last + "-" + _ascii_slug(pools.last[rng.below(len(pools.last))])
        if form == 3:
            return last + words[rng.below(len(words))]
        if form == 4:
            return words[rng.below(len(words))] + words[rng.below(len(words))]
        return _ascii_slug(pools.first[rng.below(len(pools.first))]) + last

    def fake_host(self, host: str, doc_id: str, salt: str = "", attempt: int = 0, keep_reserved: bool = True) -> str:
        """A fake host name for ``host``: same public suffix (.com, .co.uk) and generic subdomains (www, mail),
        registrable label keyed by (doc_id, registrable domain, salt)."""
        bare = host.rstrip(".")
        lower = bare.lower()
        labels = lower.split(".")
        if keep_reserved and (lower in _RESERVED_DOMAINS or labels[-1] in _RESERVED_TLDS
                              or ".".join(labels[-2:]) in _RESERVED_DOMAINS):
            return host
        if len(labels) == 1 or not all(labels):
            suffix, registrable, subs = [], labels[0], []
        else:
            n_suffix = 2 if (len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL) else 1
            suffix, registrable, subs = labels[-n_suffix:], labels[-n_suffix - 1], labels[:-n_suffix - 1]
        rng = self._stream("domain/v1", doc_id, ".".join([registrable, *suffix]), salt,
                           *((str(attempt),) if attempt else ()))
        new = registrable
        for _ in range(8):
            new = self._domain_word(rng)
            if new != registrable:
                break
        if not suffix:
            suffix = [_FAKE_TLDS[rng.below(len(_FAKE_TLDS))]]
        words = _words()
        subs = [s if s in _GENERIC_SUBDOMAINS else words[rng.below(len(words))] for s in subs]
        out = ".".join([*subs, new, *suffix]) + ("." if host.endswith(".") else "")
        return _match_case(out, bare)

    def _email(self, original, doc_id, salt, attempt):
        text = original.strip()
        at = text.rfind("@")
        if at <= 0 or at == len(text) - 1 or _MARKER.match(original) or " " in text:
            return self._fresh_email(self._value_stream("EMAIL_ADDRESS", original, doc_id, salt, attempt))
        local, domain = text[:at], text[at + 1:]
        rng = self._value_stream("EMAIL_ADDRESS", original, doc_id, salt, attempt)
        runs = re.findall(r"[^\W\d_]+|\d+|[\W_]+", local)
        alpha = [i for i, r in enumerate(runs) if r[0].isalpha() and len(r) > 1]
        out = []
        for i, run in enumerate(runs):
            if run[0].isdigit():
                out.append(rng.digits(len(run)))
            elif run[0].isalpha():
                if len(run) == 1:
                    out.append(self._initial(run, doc_id, salt, attempt))
                    continue
                # john.smith -> first, last; j.smith -> last; john -> first
                if len(alpha) > 1:
                    role = "auto:first" if i == alpha[0] else "auto:last"
                else:
                    after_initial = any(r[0].isalpha() and len(r) == 1 for r in runs[:i])
                    role = "auto:last" if after_initial else "auto:first"
                new = ""
                for extra in range(4):
                    new = _ascii_slug(self.name_token(run, role, doc_id, salt, attempt + extra * 1000))
                    if new:
                        break
                out.append(_match_case(new or "mail", run))
            else:
                out.append(run)
        new_local = "".join(out)
        lower_domain = domain.lower()
        if lower_domain in PUBLIC_MAIL_DOMAINS:
            new_domain = domain
        else:
            new_domain = self.fake_host(domain, doc_id, salt, attempt, keep_reserved=True)
        return (original[:len(original) - len(original.lstrip())] + new_local + "@" + new_domain
                + original[len(original.rstrip()):])

    def _fresh_email(self, rng: _KeyedStream) -> str:
        pools = self.pools
        first = _ascii_slug(pools.first[rng.below(len(pools.first))]) or "alex"
        last = _ascii_slug(pools.last[rng.below(len(pools.last))]) or "lee"
        form = rng.below(4)
        local = (f"{first}.{last}", f"{first[0]}{last}", f"{first}{last}{rng.below(100)}", f"{first}_{last}")[form]
        if rng.below(2):
            providers = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "aol.com", "proton.me")
            domain = providers[rng.below(len(providers))]
        else:
            domain = self._domain_word(rng) + "." + _FAKE_TLDS[rng.below(len(_FAKE_TLDS))]
        return f"{local}@{domain}"

    _URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*:(?://)?)?(?P<userinfo>[^@/?#\s]*@)?"
                      r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/?#\s\[\]]*)(?P<port>:\d{1,5})?(?P<rest>.*)$", re.S)

    def _url(self, original, doc_id, salt, attempt):
        text = original.strip()
        m = self._URL.match(text)
        rng = self._value_stream("URL", original, doc_id, salt, attempt)
        if _MARKER.match(original) or not m or not m.group("host") or (
                not m.group("scheme") and "." not in m.group("host")):
            fresh = self._fresh_url(rng)
            scheme = m.group("scheme") if m and m.group("scheme") else ""
            return scheme + fresh.split("://", 1)[1] if scheme.endswith("//") else fresh
        scheme, userinfo, host, port, rest = (m.group(k) or "" for k in ("scheme", "userinfo", "host", "port", "rest"))
        if scheme.lower() == "mailto:":
            return scheme + self._email(text[len(scheme):], doc_id, salt, attempt)
        if host.startswith("["):
            new_host = "[" + self._ip(host[1:-1], doc_id, salt, attempt) + "]"
        elif re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", host):
            new_host = self._ip(host, doc_id, salt, attempt)
        elif host:
            new_host = self.fake_host(host, doc_id, salt, attempt, keep_reserved=attempt == 0)
        else:
            new_host = host
        if userinfo:
            user, colon, password = userinfo[:-1].partition(":")
            new_password = "".join(_random_like(rng, c) for c in password)
            userinfo = self._shape_text(user, rng) + colon + new_password + "@"
        path, qmark, after = rest.partition("?")
        query, hashmark, fragment = after.partition("#") if qmark else ("", "", "")
        if not qmark:
            path, hashmark, fragment = rest.partition("#")
        new_path = self._shape_text(path, rng, keep_extensions=True)
        new_query = "&".join(self._query_pair(pair, rng) for pair in query.split("&")) if qmark else ""
        new_fragment = self._shape_text(fragment, rng) if hashmark else ""
        return (original[:len(original) - len(original.lstrip())] + scheme + userinfo + new_host + port + new_path
                + qmark + new_query + hashmark + new_fragment + original[len(original.rstrip()):])

    def _query_pair(self, pair: str, rng: _KeyedStream) -> str:
        key, eq, value = pair.partition("=")
        return key + eq + self._shape_text(value, rng) if eq else self._shape_text(pair, rng)

    def _shape_text(self, text: str, rng: _KeyedStream, keep_extensions: bool = False) -> str:
        """Letters runs -> English words (same case), digit runs -> digits of the same length; %XX and
        punctuation kept; with keep_extensions a trailing ``.html``-style extension is kept."""
        words = _words()

        def replace(m: re.Match) -> str:
            run = m.group(0)
            if run[0] == "%":
                return run
            if run[0].isdigit():
                return rng.digits(len(run))
            if keep_extensions and m.start() > 0 and text[m.start() - 1] == "." and run.lower() in _URL_EXTENSIONS \
                    and (m.end() == len(text) or text[m.end()] in "/;"):
                return run
            word = words[rng.below(len(words))]
            if run[0].isupper() and (len(run) == 1 or not run.isupper()):
                word = word.capitalize()
            return _match_case(word, run)

        return re.sub(r"%[0-9A-Fa-f]{2}|[A-Za-z]+|\d+", replace, text)

    def _fresh_url(self, rng: _KeyedStream) -> str:
        words = _words()
        host = "www." + self._domain_word(rng) + "." + _FAKE_TLDS[rng.below(len(_FAKE_TLDS))]
        path = "/".join(words[rng.below(len(words))] for _ in range(1 + rng.below(2)))
        return f"https://{host}/{path}"

    # ------------------------------------------------------------------- phones

    def _phone(self, original, doc_id, salt, attempt):
        rng = self._value_stream("PHONE_NUMBER", original, doc_id, salt, attempt)
        main, ext = original, ""
        m = _PHONE_EXT.search(original)
        if m and sum(c.isdigit() for c in original[:m.start()]) >= 7:
            main = original[:m.start()]
            ext = m.group(1) + rng.digits(len(m.group(2))) + original[m.end(2):]
        slots = None if _MARKER.match(original) else _digit_slots(main)
        if not slots or len(slots) > 17:
            return self._fresh_phone(rng)
        n = len(slots)
        if n < 7:  # an extension or local short number: same shape, new digits
            return _fill(main, slots, str(1 + rng.below(9)) + rng.digits(n - 1)) + ext
        masked = any(main[i] in _MASK_CHARS for i in slots)
        digits = "".join(main[i] for i in slots)
        keep, check, region, intl = (0, None, None, 0) if masked else self._phone_shape(main, digits)
        if masked or (check is None and self.region in ("US", "CA") and (n == 10 or (n == 11 and digits[0] == "1"))):
            return self._nanp_fill(main, slots, rng) + ext
        candidate = main
        for tries in range(48):
            # where few numbers behind an area code are valid (small NANP islands), keep one more digit every
            # 8 failed draws; at least 4 digits are always new
            k = min(keep + tries // 8, n - 4)
            new = digits[:k] + rng.digits(n - k)
            candidate = _fill(main, slots, new)
            if new != digits and (check is None or _phone_ok("+" + new[intl:] if intl else candidate, region, check)):
                break
        return candidate + ext

    def _phone_shape(self, main: str, digits: str):
        """(leading digits to keep: international prefix, country code, trunk prefix and area/network code;
        the check a redraw must pass: 'valid', 'possible' or None; the region to parse with).
        Cached per original (bounded, in memory only) because phones repeat and parsing costs ~50 us."""
        cached = self._phone_shapes.get(main)
        if cached is not None:
            self._phone_shapes.move_to_end(main)
            return cached
        result = _analyse_phone(main, digits, self.region)
        self._phone_shapes[main] = result
        if len(self._phone_shapes) > 4096:
            self._phone_shapes.popitem(last=False)
        return result

    def _nanp_fill(self, text: str, slots: list[int], rng: _KeyedStream) -> str:
        """Fill digit slots with a valid North American number (NPA from the numbering plan, exchange 2-9xx)."""
        npas = _valid_npas()
        n = len(slots)
        body = npas[rng.below(len(npas))] + str(2 + rng.below(8)) + rng.digits(6)
        if n == 11:
            body = "1" + body
        elif n != 10:
            body = str(2 + rng.below(8)) + rng.digits(n - 1)
        return _fill(text, slots, body)

    def _fresh_phone(self, rng: _KeyedStream) -> str:
        if self.region in ("US", "CA"):
            return self._nanp_fill("(XXX) XXX-XXXX", _digit_slots("(XXX) XXX-XXXX"), rng)
        import phonenumbers
        example = phonenumbers.example_number(self.region)
        if example is None:
            return self._nanp_fill("(XXX) XXX-XXXX", _digit_slots("(XXX) XXX-XXXX"), rng)
        text = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
        slots = _digit_slots(text) or []
        digits = "".join(text[i] for i in slots)
        keep, check, region, _ = _analyse_phone(text, digits, self.region)
        keep = min(keep, len(slots) - 4)
        candidate = text
        for _ in range(24):
            candidate = _fill(text, slots, digits[:keep] + rng.digits(len(slots) - keep))
            if _phone_ok(candidate, region, check or "possible"):
                break
        return candidate

    # ------------------------------------------------------------------- cards, SSNs, IBANs, IDs

    def _credit_card(self, original, doc_id, salt, attempt):
        rng = self._value_stream("CREDIT_CARD", original, doc_id, salt, attempt)
        slots = None if _MARKER.match(original) else _digit_slots(original)
        if not slots or not 12 <= len(slots) <= 19:
            original, slots = "XXXX XXXX XXXX XXXX", _digit_slots("XXXX XXXX XXXX XXXX")
        digits = "".join(original[i] for i in slots)
        if digits[:2].isdigit():
            prefix = digits[:1] if digits[0] == "4" else digits[:2]
        else:
            prefix = ("4", "51", "52", "53", "54", "55", "6011")[rng.below(7)]
        n = len(slots)
        body = prefix + rng.digits(n - 1 - len(prefix))
        return _fill(original, slots, body + luhn_check_digit(body))

    def _ssn(self, original, doc_id, salt, attempt):
        rng = self._value_stream("US_SSN", original, doc_id, salt, attempt)
        slots = None if _MARKER.match(original) else _digit_slots(original)
        if not slots or len(slots) != 9:
            original, slots = "XXX-XX-XXXX", _digit_slots("XXX-XX-XXXX")
        while True:
            area = 1 + rng.below(899)
            if area != 666:
                break
        group = 1 + rng.below(99)
        serial = 1 + rng.below(9999)
        return _fill(original, slots, "%03d%02d%04d" % (area, group, serial))

    def _iban(self, original, doc_id, salt, attempt):
        rng = self._value_stream("IBAN_CODE", original, doc_id, salt, attempt)
        positions = [i for i, c in enumerate(original) if c.isascii() and c.isalnum()]
        compact = "".join(original[i] for i in positions).upper()
        if _MARKER.match(original) or not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{8,30}", compact):
            country = self.region if self.region in _IBAN_FRESH else ("GB" if self.locale.startswith("en") else "DE")
            template = country + "00" + _IBAN_FRESH[country]
            original = " ".join(template[i:i + 4] for i in range(0, len(template), 4))
            positions = [i for i, c in enumerate(original) if c.isalnum()]
        chars = [original[i] for i in positions]
        bban = "".join(_random_like(rng, c) for c in chars[4:])
        country = "".join(chars[:2])
        check = iban_check_digits(country.upper(), bban.upper())
        out = list(original)
        for pos, ch in zip(positions, country + check + bban):
            out[pos] = ch
        return "".join(out)

    def _id_number(self, original, doc_id, salt, attempt):
        rng = self._value_stream("ID_NUMBER", original, doc_id, salt, attempt)
        if _MARKER.match(original) or not any(c.isalnum() for c in original):
            return rng.digits(7 + rng.below(4))
        if re.fullmatch(r"[\sXx#*\-./]+", original) and sum(c in _MASK_CHARS for c in original) >= 3:
            return "".join(str(rng.below(10)) if c in _MASK_CHARS else c for c in original)
        return "".join(_random_like(rng, c) for c in original)

    # ------------------------------------------------------------------- IPs

    def _ip(self, original, doc_id, salt, attempt):
        rng = self._value_stream("IP_ADDRESS", original, doc_id, salt, attempt)
        text = original.strip()
        lead, trail = original[:len(original) - len(original.lstrip())], original[len(original.rstrip()):]
        open_, close, suffix = "", "", ""
        m = re.fullmatch(r"\[([^\]]+)\](:\d{1,5})?", text)
        if m:  # [v6]:port
            core, open_, close, suffix = m.group(1), "[", "]", m.group(2) or ""
        else:
            core = text
            m = re.fullmatch(r"(.+?)(/\d{1,3})", core)
            if m:  # CIDR
                core, suffix = m.group(1), m.group(2)
            elif core.count(":") == 1 and "." in core:  # v4:port
                core, colon, port = core.partition(":")
                suffix = colon + port
        try:
            addr = ipaddress.ip_address(core)
        except ValueError:
            return lead + str(self._random_v4_global(rng)) + trail
        if addr.version == 4:
            new_text = str(self._v4_like(addr, rng))
        else:
            new = self._v6_like(addr, rng)
            groups = core.split(":")
            full_form = len(groups) == 8 and all(len(g) == 4 for g in groups)
            new_text = new.exploded if full_form else new.compressed
            if any(c.isupper() for c in core):
                new_text = new_text.upper()
        return lead + open_ + new_text + close + suffix + trail

    @staticmethod
    def _random_v4_global(rng):
        while True:
            candidate = ipaddress.IPv4Address(rng.getrandbits(32))
            if candidate.is_global and not candidate.is_multicast and 0 < candidate.packed[3] < 255:
                return candidate

    def _v4_like(self, addr, rng):
        net = next((n for n in _V4_SPECIAL if addr in n), None)
        if net is None:
            return self._random_v4_global(rng)
        host_bits = 32 - net.prefixlen
        for _ in range(64):
            candidate = ipaddress.IPv4Address(int(net.network_address) | rng.getrandbits(host_bits))
            if candidate != addr and 0 < candidate.packed[3] < 255:
                return candidate
        return candidate

    def _v6_like(self, addr, rng):
        if addr.ipv4_mapped is not None:
            return ipaddress.IPv6Address("::ffff:" + str(self._v4_like(addr.ipv4_mapped, rng)))
        net = next((n for n in _V6_SPECIAL if addr in n), None)
        if net is None:
            while True:  # global unicast 2000::/3
                candidate = ipaddress.IPv6Address((0b001 << 125) | rng.getrandbits(125))
                if candidate.is_global and not any(candidate in n for n in _V6_SPECIAL):
                    return candidate
        host_bits = 128 - net.prefixlen
        if net.prefixlen == 10:  # link-local: fe80::/64 with a random interface id
            return ipaddress.IPv6Address(int(ipaddress.IPv6Address("fe80::")) | rng.getrandbits(64))
        return ipaddress.IPv6Address(int(net.network_address) | rng.getrandbits(host_bits))

    # ------------------------------------------------------------------- dates and ages

    def _date_offset(self, doc_id: str, salt: str, attempt: int) -> int:
        """One shift per document (and salt), 1..365 days either way: the document's intervals survive."""
        rng = self._stream("date-shift/v1", doc_id, salt, *((str(attempt),) if attempt else ()))
        days = 1 + rng.below(365)
        return days if rng.below(2) else -days

    def _date(self, original, doc_id, salt, attempt, birth=False):
        inner = _MIMIC_INNER.fullmatch(original)
        if inner:  # a MIMIC-III marker around a shifted date, "[**2151-8-5**]": the date's format is known
            parsed = _parse_date(inner.group(1), self.region)
        else:
            parsed = None if _MARKER.match(original) else _parse_date(original, self.region)
        if parsed is None:
            rng = self._value_stream("DATE_OF_BIRTH" if birth else "DATE", original, doc_id, salt, attempt)
            if birth:  # an adult's birth date (18 to ~85 years before 2024)
                start, span = _dt.date(1940, 1, 1), (_dt.date(2006, 1, 1) - _dt.date(1940, 1, 1)).days
            else:
                start, span = _dt.date(1995, 1, 1), (_dt.date(2025, 1, 1) - _dt.date(1995, 1, 1)).days
            day = start + _dt.timedelta(days=rng.below(span))
            return f"{_MONTHS[day.month - 1].capitalize()} {day.day}, {day.year}"
        offset = self._date_offset(doc_id, salt, attempt)
        return _render_date(parsed, offset)

    def _date_of_birth(self, original, doc_id, salt, attempt):
        return self._date(original, doc_id, salt, attempt, birth=True)

    def _age(self, original, doc_id, salt, attempt):
        rng = self._value_stream("AGE", original, doc_id, salt, attempt)
        m = re.search(r"\d+", original)
        if _OVER_89.search(original) and (m is None or int(m.group(0)) >= 89):  # "[**Age over 90 **]", "90+"
            return str(90 + rng.below(15))
        if _MARKER.match(original) or m is None or len(m.group(0)) > 3:
            return str(18 + rng.below(72))
        age = int(m.group(0))
        if age >= 90:  # HIPAA's "90 or older" class stays in it
            new = 90 + rng.below(15)
            if new == age:
                new = 90 + (age - 89) % 15
        else:
            low, high = max(0, age - 5), min(89, age + 5)
            choices = [a for a in range(low, high + 1) if a != age]
            new = choices[rng.below(len(choices))]
        width = len(m.group(0)) if m.group(0).startswith("0") else 0
        return original[:m.start()] + str(new).zfill(width) + original[m.end():]

    # ------------------------------------------------------------------- secrets

    def _secret(self, original, doc_id, salt, attempt):
        rng = self._value_stream("SECRET", original, doc_id, salt, attempt)
        if _MARKER.match(original) or not original.strip():
            return self._fresh_secret(rng)
        if _PEM.search(original):
            return _PEM.sub(lambda m: m.group(1) + _fake_pem_body(m.group(3), rng) + m.group(4), original)
        prefix = ""
        m = _SECRET_ASSIGNMENT.match(original)
        if m and len(m.group(1)) < len(original):
            prefix = m.group(1)
        body = original[len(prefix):]
        quote = ""
        if prefix and prefix[-1] in "\"'" and body.endswith(prefix[-1]):
            body, quote = body[:-1], prefix[-1]
        keep = next((p for p in _SECRET_PREFIXES if body.startswith(p) and len(body) > len(p) + 3), "")
        rest = body[len(keep):]
        if keep == "" and rest.startswith("eyJ") and rest.count(".") == 2:  # JWT: keep each JSON segment's "eyJ"
            new_rest = ".".join(
                "eyJ" + _random_shape(seg[3:], rng, attempt) if seg.startswith("eyJ")
                else _random_shape(seg, rng, attempt) for seg in rest.split("."))
        else:
            new_rest = _random_shape(rest, rng, attempt)
        return prefix + keep + new_rest + quote

    def _fresh_secret(self, rng):
        form = rng.below(3)
        if form == 0:
            return "%032x" % rng.getrandbits(128)
        if form == 1:
            return "".join(_B64_ALPHABET[rng.below(62)] for _ in range(40))
        alphabet = _UPPER + _LOWER + "0123456789" + "!#$%&*?@"
        return "".join(alphabet[rng.below(len(alphabet))] for _ in range(14))

    # ------------------------------------------------------------------- Faker-backed kinds

    def _street_address(self, original, doc_id, salt, attempt):
        fake = self._faker_with(self._value_stream("STREET_ADDRESS", original, doc_id, salt, attempt))
        if "\n" in original.strip() or "," in original:
            if hasattr(fake, "state_abbr") and self.region == "US":
                # Faker's en_US address() is ~10% military (APO/FPO) addresses: compose a civilian one
                value = f"{_civilian_street(fake)}\n{fake.city()}, {fake.state_abbr()} {fake.postcode()}"
            else:
                value = fake.address()
            if "\n" not in original.strip():
                value = value.replace("\n", ", ")
        else:
            value = _civilian_street(fake)
        return _match_case(value, original)

    def _location(self, original, doc_id, salt, attempt):
        rng = self._value_stream("LOCATION", original, doc_id, salt, attempt)
        text = original.strip()
        if re.fullmatch(r"\d{5}(?:-\d{4})?", text):  # a US ZIP code
            return "".join(str(rng.below(10)) if c.isdigit() else c for c in text)
        fake = self._faker_with(rng)
        folded = text.casefold()
        if re.fullmatch(r"[A-Z]{2}", text) and hasattr(fake, "state_abbr"):
            value = fake.state_abbr()
        elif folded in _us_states() and hasattr(fake, "state"):
            value = fake.state()
        elif folded in _countries():
            value = fake.country()
        else:
            value = fake.city()
        return _match_case(value, text)

    def _organization(self, original, doc_id, salt, attempt):
        fake = self._faker_with(self._value_stream("ORGANIZATION", original, doc_id, salt, attempt))
        return _match_case(fake.company(), original)

    def _hospital(self, original, doc_id, salt, attempt):
        rng = self._value_stream("HOSPITAL", original, doc_id, salt, attempt)
        pools = self.pools
        form = rng.below(4)
        kind = _HOSPITAL_KINDS[rng.below(len(_HOSPITAL_KINDS))]
        if form == 0:
            value = f"St. {pools.first[rng.below(len(pools.first))]}'s {kind}"
        elif form == 1:
            value = f"{self._faker_with(rng).city()} {kind}"
        else:
            value = f"{pools.last[rng.below(len(pools.last))]} {kind}"
        return _match_case(value, original)


_GENERATOR_METHODS = {
    "PERSON": "_person", "FIRST_NAME": "_first_name", "LAST_NAME": "_last_name", "EMAIL_ADDRESS": "_email",
    "PHONE_NUMBER": "_phone", "CREDIT_CARD": "_credit_card", "US_SSN": "_ssn", "IBAN_CODE": "_iban",
    "IP_ADDRESS": "_ip", "URL": "_url", "STREET_ADDRESS": "_street_address", "DATE_OF_BIRTH": "_date_of_birth",
    "DATE": "_date", "SECRET": "_secret", "LOCATION": "_location", "ORGANIZATION": "_organization",
    "HOSPITAL": "_hospital", "ID_NUMBER": "_id_number", "AGE": "_age",
}
assert set(_GENERATOR_METHODS) == set(ENTITY_TYPES)


# --------------------------------------------------------------------------- phone helpers


@lru_cache(maxsize=1)
def _valid_npas() -> tuple:
    """North American area codes that libphonenumber accepts as valid (computed once, ~20 ms)."""
    import phonenumbers
    out = []
    for npa in range(200, 1000):
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(f"+1{npa}2345678", None)):
                out.append(str(npa))
        except phonenumbers.NumberParseException:
            pass
    return tuple(out) or ("212", "312", "415", "617", "713")


def _analyse_phone(main: str, digits: str, default_region: str):
    """(digits to keep, check a redraw must pass, region to parse with, international-prefix length)."""
    import phonenumbers
    stripped = main.strip()
    intl = 0
    if stripped.startswith("+"):
        attempts = [(stripped, None)]
    elif digits.startswith("00") or digits.startswith("011"):
        intl = 2 if digits.startswith("00") else 3
        attempts = [("+" + digits[intl:], None)]
    else:
        regions = (default_region,) + tuple(r for r in _PHONE_FALLBACK_REGIONS if r != default_region)
        attempts = [(stripped, r) for r in regions]
    best = None
    for text, region in attempts:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        check = "valid" if phonenumbers.is_valid_number(number) else \
            "possible" if phonenumbers.is_possible_number(number) else None
        if check is None:
            continue
        nsn = phonenumbers.national_significant_number(number)
        if not digits.endswith(nsn):
            continue
        ndc = phonenumbers.length_of_national_destination_code(number) if check == "valid" else 0
        keep = len(digits) - len(nsn) + (ndc or 1)
        parse_region = None if region is None else phonenumbers.region_code_for_number(number) or region
        result = (keep, check, parse_region, intl)
        if check == "valid":
            return result
        if best is None:
            best = result
        if region is None:
            break
    if best is not None:
        return best
    return (1 if digits[:1] in ("0", "1") else 0, None, None, 0)


def _phone_ok(candidate: str, region, check: str) -> bool:
    import phonenumbers
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number) if check == "valid" else phonenumbers.is_possible_number(number)


# --------------------------------------------------------------------------- secret helpers


def _random_shape(text: str, rng: _KeyedStream, attempt: int) -> str:
    """Same length and character classes: hex stays hex (same case), otherwise upper/lower/digit each stay
    in class; punctuation is structure and stays, except on a redraw of an all-punctuation value."""
    if len(text) >= 8 and re.fullmatch(r"[0-9a-f]+", text):
        return "".join("0123456789abcdef"[rng.below(16)] for _ in text)
    if len(text) >= 8 and re.fullmatch(r"[0-9A-F]+", text):
        return "".join("0123456789ABCDEF"[rng.below(16)] for _ in text)
    if attempt and not any(c.isalnum() for c in text):
        return "".join(_SYMBOLS[rng.below(len(_SYMBOLS))] for _ in text)
    return "".join(_random_like(rng, c) for c in text)


def _fake_pem_body(body: str, rng: _KeyedStream) -> str:
    lines = body.split("\n")
    out = []
    for line in lines:
        stripped = line.rstrip("\r")
        if ":" in stripped or not stripped.strip():
            out.append(line)
            continue
        core = stripped.rstrip("=")
        pad = stripped[len(core):]
        out.append("".join(_B64_ALPHABET[rng.below(64)] if c.isalnum() or c in "+/" else c for c in core)
                   + pad + line[len(stripped):])
    return "\n".join(out)


# --------------------------------------------------------------------------- location helpers


def _civilian_street(fake) -> str:
    """Faker's street address without the zero-padded house numbers some locales draw ("05328 Dawn Trace")."""
    return re.sub(r"^0+(?=\d)", "", fake.street_address())



@lru_cache(maxsize=1)
def _us_states() -> frozenset:
    from faker.providers.address.en_US import Provider
    return frozenset(s.casefold() for s in Provider.states)


@lru_cache(maxsize=1)
def _countries() -> frozenset:
    from faker.providers.address.en_US import Provider
    return frozenset(c.casefold() for c in Provider.countries)


# --------------------------------------------------------------------------- date helpers


@dataclass
class _ParsedDate:
    tokens: list
    roles: dict           # token index -> Y4, Y2, M, MN, D, WD, ORD
    year: int | None
    month: int | None
    day: int | None
    padded: bool


_DATE_TOKENS = re.compile(r"[0-9]+|[A-Za-z]+|[^0-9A-Za-z]+")
_DATE_FILLERS = frozenset({"of", "the", "on", "at", "am", "pm", "a", "p", "m", "h", "hrs", "utc", "gmt", "t", "z"})


def _parse_date(text: str, region: str) -> _ParsedDate | None:
    tokens = _DATE_TOKENS.findall(text)
    if not tokens or len(tokens) > 24:
        return None
    roles: dict = {}
    month_name = None
    for i, tok in enumerate(tokens):
        if tok[0].isascii() and tok[0].isalpha():
            low = tok.casefold()
            if low in _MONTH_WORDS and month_name is None:
                roles[i], month_name = "MN", _MONTH_WORDS[low]
            elif low in _WEEKDAY_WORDS:
                roles[i] = "WD"
            elif low in _ORDINALS and i > 0 and tokens[i - 1][0] in _ASCII_DIGITS:
                roles[i] = "ORD"
            elif low not in _DATE_FILLERS:
                return None
    # numbers before a time (a separator with ':') belong to the date
    numbers = []
    for i, tok in enumerate(tokens):
        if tok[0] in _ASCII_DIGITS:
            if i + 1 < len(tokens) and ":" in tokens[i + 1]:
                break
            numbers.append(i)
    year = month = day = None
    if month_name is not None:
        month = month_name
        for i in numbers:
            tok = tokens[i]
            value = int(tok)
            if len(tok) == 4 and year is None:
                roles[i], year = "Y4", value
            elif len(tok) <= 2 and day is None and 1 <= value <= 31 and (roles.get(i + 1) == "ORD" or year is None):
                roles[i], day = "D", value
            elif len(tok) == 2 and year is None and day is not None:
                roles[i], year = "Y2", 1900 + value if value >= 30 else 2000 + value
        if day is None and year is None:
            return None
    else:
        nums = [(i, tokens[i]) for i in numbers[:3]]
        lens = [len(t) for _, t in nums]
        vals = [int(t) for _, t in nums]
        if len(nums) == 1:
            i, tok = nums[0]
            if len(tok) == 8:
                y, mo, d = int(tok[:4]), int(tok[4:6]), int(tok[6:])
                if not (1 <= mo <= 12 and 1 <= d <= 31):
                    return None
                roles[i] = "YMD8"
                year, month, day = y, mo, d
            elif len(tok) == 4 and 1000 <= vals[0] <= 2999:
                roles[i], year = "Y4", vals[0]
            else:
                return None
        elif len(nums) == 2:
            (i, a), (j, b) = nums
            if lens[0] == 4:
                roles[i], roles[j], year, month = "Y4", "M", vals[0], vals[1]
            elif lens[1] == 4:
                roles[i], roles[j], month, year = "M", "Y4", vals[0], vals[1]
            elif vals[0] > 12:
                roles[i], roles[j], day, month = "D", "M", vals[0], vals[1]
            else:
                roles[i], roles[j], month, day = "M", "D", vals[0], vals[1]
        elif len(nums) == 3:
            (i, _), (j, _), (k, _) = nums
            sep = tokens[i + 1] if i + 1 < len(tokens) else ""
            if lens[0] == 4:
                if vals[1] > 12 >= vals[2]:
                    roles.update({i: "Y4", j: "D", k: "M"})
                    year, day, month = vals
                else:
                    roles.update({i: "Y4", j: "M", k: "D"})
                    year, month, day = vals
            elif lens[2] in (2, 4):
                day_first = "." in sep or vals[0] > 12 or (vals[1] <= 12 and region not in ("US", "CA", "PH"))
                if vals[1] > 12:
                    day_first = False
                ykind = "Y4" if lens[2] == 4 else "Y2"
                if day_first:
                    roles.update({i: "D", j: "M", k: ykind})
                    day, month = vals[0], vals[1]
                else:
                    roles.update({i: "M", j: "D", k: ykind})
                    month, day = vals[0], vals[1]
                year = vals[2] if lens[2] == 4 else (1900 + vals[2] if vals[2] >= 30 else 2000 + vals[2])
            else:
                return None
        else:
            return None
    if month is not None and not 1 <= month <= 12:
        return None
    if day is not None and not 1 <= day <= 31:
        return None
    if year is not None and not 1 <= year <= 9998:
        return None
    numeric = [tokens[i] for i, r in roles.items() if r in ("M", "D")]
    padded = not any(len(t) == 1 for t in numeric)
    return _ParsedDate(tokens, roles, year, month, day, padded)


def _render_date(p: _ParsedDate, offset: int) -> str:
    base_year = p.year if p.year is not None else 2000  # a leap year, so 29 Feb survives
    month = p.month or 7
    day = min(p.day or 15, calendar.monthrange(base_year, month)[1])
    if not 400 <= base_year <= 9600:  # keep the shift inside datetime's years 1..9999
        offset = abs(offset) if base_year < 400 else -abs(offset)
    new = _dt.date(base_year, month, day) + _dt.timedelta(days=offset)
    step = 1 if offset > 0 else -1
    if p.day is None and p.month is not None and (new.year, new.month) == (base_year, month):
        new = _dt.date(base_year, month, 15) + _dt.timedelta(days=31 * step)
    if p.month is None:  # year only
        years = max(1, round(abs(offset) / 365)) * step
        new = _dt.date(base_year + years, 1, 1)
    out = list(p.tokens)
    for i, role in p.roles.items():
        tok = p.tokens[i]
        if role == "Y4":
            out[i] = "%04d" % new.year
        elif role == "Y2":
            out[i] = "%02d" % (new.year % 100)
        elif role == "YMD8":
            out[i] = "%04d%02d%02d" % (new.year, new.month, new.day)
        elif role in ("M", "D"):
            value = new.month if role == "M" else new.day
            if len(tok) == 2 and (tok[0] == "0" or (p.padded and "MN" not in p.roles.values())):
                out[i] = "%02d" % value
            else:
                out[i] = str(value)
        elif role == "MN":
            full = _MONTHS[new.month - 1]
            low = tok.casefold()
            if low in _MONTHS:
                name = full
            elif low == "sept" or len(tok) == 4:
                name = full[:4] if new.month == 9 else full[:3]
            else:
                name = full[:3]
            out[i] = _case_word(name, tok)
        elif role == "WD":
            full = _WEEKDAYS[new.weekday()]
            name = full if tok.casefold() in _WEEKDAYS else full[:3]
            out[i] = _case_word(name, tok)
        elif role == "ORD":
            d = new.day
            suffix = "th" if 11 <= d % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
            out[i] = suffix.upper() if tok.isupper() else suffix
    return "".join(out)


def _case_word(word: str, like: str) -> str:
    """``word`` (lower case) in the case style of ``like``: UPPER, lower or Title."""
    if like.isupper() and len(like) > 1:
        return word.upper()
    if like.islower():
        return word
    return word.capitalize()
