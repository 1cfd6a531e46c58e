"""Presidio recognizers demem adds or replaces: one small class per entity type.

Every class here is a Presidio ``EntityRecognizer`` (register it into any
``AnalyzerEngine``: :func:`register`), and every class also exposes the
plain method ``spans(text) -> [(start, end, score)]`` that the PII stage
(``sanitize.pii``) calls directly. The stage runs these compiled ``re``
patterns itself instead of through ``AnalyzerEngine.analyze()``: Presidio
scans the whole text once per recognizer and pattern with the ``regex``
module, runs phonenumbers' matcher over the whole text once per region
(its issue 1461: the phone recognizer dominates runtime), then deduplicates
results in O(n²). Here each recognizer anchors on something rare (an ``@``,
a digit run of phone length, a keyword found with ``str.find``) and
validates the few candidates in Python.

Scores follow one scale so the stage's ``score_threshold`` (default 0.4)
means the same for every type:

* 0.95-1.0: a checksum or strict grammar holds (Luhn, IBAN mod 97, email,
  IP, known token prefixes);
* 0.6-0.85: a strong shape or a shape plus a context word nearby;
* 0.4-0.55: a plausible shape without context (kept by default: the stage
  prefers recall, F2 weighs misses four times false alarms);
* below 0.4: shapes that are only PII with context (a bare digit run, a
  space-grouped number), reported so a lower threshold can keep them.

No recognizer logs, raises or stores a matched value.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import ipaddress
import math
import pkgutil
import re
from collections import Counter
from collections.abc import Iterable, Iterator

from presidio_analyzer import LocalRecognizer, RecognizerResult

Span = tuple[int, int, float]


def _char_class(predicate, limit: int = 0x2000) -> str:
    """A regex character class body of every code point below ``limit`` for which ``predicate`` holds.

    Python's ``re`` has no ``\\p{Lu}``; names such as "Šárka Ottová" or
    "Árnþórsson" need upper-case letters beyond A-Z (Latin, Greek, Cyrillic).
    """
    ranges, start, prev = [], None, None
    for code in range(limit):
        if predicate(chr(code)):
            if start is None:
                start = code
            elif code != prev + 1:
                ranges.append((start, prev))
                start = code
            prev = code
    if start is not None:
        ranges.append((start, prev))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


UPPER = _char_class(str.isupper)
LOWER = _char_class(str.islower)


def context_before(text: str, start: int, width: int = 48) -> str:
    """The ``width`` characters before ``start``, lower-cased (context words live there)."""
    return text[max(0, start - width):start].lower()


def line_of(text: str, start: int, end: int) -> tuple[int, int]:
    """Offsets of the line(s) holding ``text[start:end]``."""
    a = text.rfind("\n", 0, start) + 1
    b = text.find("\n", end)
    return a, (len(text) if b < 0 else b)


def lower(text: str) -> str:
    """``text.lower()`` with the same length, so offsets found in it are offsets in ``text``.

    A few characters lower-case to two ("İ" -> "i̇"); those stay as they are.
    """
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def shannon_entropy(value: str) -> float:
    """Bits per character of ``value``'s own character distribution."""
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


class DememRecognizer(LocalRecognizer):
    """Base class: one entity type, found by :meth:`spans` on plain text.

    ``analyze`` wraps :meth:`spans` in Presidio's ``RecognizerResult`` so the
    class works inside a stock ``AnalyzerEngine``; the PII stage calls
    :meth:`spans` directly and skips that object overhead.
    """

    ENTITY = ""

    def __init__(self):
        super().__init__(supported_entities=[self.ENTITY], supported_language="en", name=type(self).__name__)

    def load(self) -> None:
        pass

    def spans(self, text: str) -> list[Span]:
        raise NotImplementedError

    def analyze(self, text: str, entities: list[str] | None = None, nlp_artifacts=None) -> list[RecognizerResult]:
        if entities and self.ENTITY not in entities:
            return []
        meta = {RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}
        return [RecognizerResult(self.ENTITY, start, end, score, recognition_metadata=dict(meta))
                for start, end, score in self.spans(text)]


# --- EMAIL_ADDRESS ------------------------------------------------------------------------


class DememEmailRecognizer(DememRecognizer):
    """RFC 5322-ish addresses, anchored on each ``@``.

    Replaces Presidio's EmailRecognizer, which validates the TLD with
    tldextract (a network fetch of the public-suffix list on first use).
    Here the domain must be dot-separated labels ending in a 2-24 letter
    TLD; the local part is scanned backwards from the ``@``.
    """

    ENTITY = "EMAIL_ADDRESS"
    _DOMAIN = re.compile(r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,24}(?![\w-])")
    _LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&'*+/=?^_`{|}~-")

    def spans(self, text: str) -> list[Span]:
        out = []
        at = text.find("@")
        while at >= 0:
            domain = self._DOMAIN.match(text, at + 1)
            if domain:
                start = at
                limit = max(0, at - 64)
                while start > limit and (text[start - 1] in self._LOCAL or text[start - 1].isalnum()):
                    start -= 1
                while start < at and text[start] in ".'":
                    start += 1
                if start < at:
                    out.append((start, domain.end(), 0.95))
            at = text.find("@", at + 1)
        return out


# --- PHONE_NUMBER -------------------------------------------------------------------------


PHONE_CONTEXT = re.compile(
    r"\b(?:phone|tel|telephone|mobile|mob|cell|cellphone|fax|call|calling|called|dial|contact|sms|whatsapp|"
    r"office|desk|hotline|helpline|voicemail|answering)\b")
PHONE_WEAK_CONTEXT = re.compile(r"\b(?:number|no|nr|home|work|direct|text|reach|messages?|registered|ring)\b|#")
PHONE_CONTEXT_AFTER = re.compile(r"[\s(\-]{0,3}(?:office|fax|mobile|cell|home|work|direct|desk|phone|tel)\b", re.I)


class DememPhoneRecognizer(DememRecognizer):
    """International phone numbers: a cheap candidate regex, then shape, context and phonenumbers.

    Presidio's PhoneRecognizer runs ``phonenumbers.PhoneNumberMatcher`` over
    the whole text for each of eight regions; that matcher dominates
    Presidio's runtime (its issue 1461) and finds only numbers valid in
    those regions. Here a regex picks digit runs of phone length (7-15
    digits with the separators phones use), and each candidate is judged:

    * ``+``/``00`` country code: parsed by phonenumbers (one call, no region);
      valid 0.9, possible 0.75;
    * North American shape ``(NXX) NXX-XXXX``: 0.7;
    * three or more groups of 2+ digits split by ``-``, ``.`` or ``()``: 0.5;
      split by spaces only: 0.35 (tables of numbers look like that), 0.45
      with a national trunk ``0`` in front;
    * one bare run of digits: 0.2;
    * a phone word (phone, fax, call, mobile, office, ...) within 48
      characters before, or right after ("... fax"), adds 0.35.

    Dates, IPv4 addresses, version strings and bit-ruler rows ("0 1 2 3")
    are rejected by shape.
    """

    ENTITY = "PHONE_NUMBER"
    _CANDIDATE = re.compile(
        r"(?=[+(\d])(?<![\w@/=+.:-])(?:\+ ?|00 ?)?(?:\(\+?\d{1,4}\) ?)?\d[\d ().\-\u00a0/]{4,24}\d"
        r"(?:(?: ?(?:x|ext\.?|extension) ?| ?# ?)\d{1,6})?(?![\w@/=]|[.,:-]\d)",
        re.I,
    )
    _EXTENSION = re.compile(r"(?: ?(?:x|ext\.?|extension) ?| ?# ?)\d{1,6}$", re.I)
    _DATE = re.compile(r"^\(?(?:\d{4}[./-]\d{1,2}[./-]\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})\)?$")
    _DOTTED_OCTETS = re.compile(r"^\d{1,3}(?:\.\d{1,3}){2,3}$")  # IPv4 and old "192.005.058" network numbers
    _NANP = re.compile(r"^(?:\+?1[ .-]?)?\(?[2-9]\d{2}\)?[ .-]?[2-9]\d{2}[ .-]\d{4}$")
    _GROUPS = re.compile(r"[ ().\-\u00a0/]+")

    def __init__(self, min_score: float = 0.0):
        self.min_score = min_score
        super().__init__()

    def spans(self, text: str) -> list[Span]:
        out = []
        for m in self._CANDIDATE.finditer(text):
            start, end = m.span()
            candidate = m.group()
            # Trailing ")" belongs to the sentence unless its "(" is in the number.
            while candidate.endswith(")") and candidate.count("(") < candidate.count(")"):
                candidate, end = candidate[:-1], end - 1
            score = self.score(candidate)
            if score <= 0:
                continue
            if score < 0.9:
                before = context_before(text, start)
                if PHONE_CONTEXT.search(before) or PHONE_CONTEXT_AFTER.match(text, end, min(len(text), end + 16)):
                    score = min(0.95, score + 0.35)
                elif PHONE_WEAK_CONTEXT.search(before):
                    score += 0.2
            if score >= self.min_score:
                out.append((start, end, round(score, 2)))
        return out

    def score(self, candidate: str) -> float:
        core = self._EXTENSION.sub("", candidate).strip()
        digits = "".join(ch for ch in core if ch.isdigit())
        if not 7 <= len(digits) <= 15 or len(set(digits)) < 3 or "  " in core:
            return 0.0  # "  ": columns of a table, not one number
        if self._DATE.match(core) or self._DOTTED_OCTETS.match(core):
            return 0.0
        groups = [g for g in self._GROUPS.split(core.lstrip("+")) if g]
        if "/" in core and len(groups) > 2:
            return 0.0  # dates and paths, not phones
        international = core.startswith("+") or (core.startswith("00") and len(groups) > 1)
        if international:
            return self._international(digits if core.startswith("+") else digits[2:])
        if len(digits) > 12:
            return 0.2  # longer than national numbers get (X.121 and account numbers): context decides
        if sum(len(g) == 1 for g in groups) > (1 if core.startswith("(") else 0):
            return 0.0  # "0 1 2 3 4 5 6 7": a bit ruler; "1.3.6.1.4": an OID
        if len(groups) == 2 and "-" in core and len(groups[0]) == len(groups[1]) and core[0] != "0" \
                and int(groups[1]) > int(groups[0]):
            return 0.0  # "1133-1144": a range (pages, RFC numbers)
        if self._NANP.match(core):
            return 0.7
        if len(groups) == 1:
            return 0.2
        separators = set(core) - set("0123456789")
        if len(groups) >= 3 and separators - {" ", "\u00a0"}:
            return 0.5
        if len(groups) >= 3 or "(" in core:
            return 0.45 if core.startswith("0") else 0.35
        return 0.2

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def _international(digits: str) -> float:
        import phonenumbers

        try:
            number = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException:
            return 0.0
        if phonenumbers.is_valid_number(number):
            return 0.9
        return 0.75 if phonenumbers.is_possible_number(number) else 0.0


# --- CREDIT_CARD --------------------------------------------------------------------------


class DememCreditCardRecognizer(DememRecognizer):
    """Payment card numbers: 12-19 digits, Luhn-valid, with a card-issuer prefix.

    Presidio's pattern misses issuer ranges its regex does not list (JCB
    2131/1800, Mastercard 2221-2720, 12-digit Maestro). Groups, when
    present, must be the printed ones (4-4-4-4..., 4-6-5, 4-6-4).
    """

    ENTITY = "CREDIT_CARD"
    _CANDIDATE = re.compile(r"(?=\d)(?<![\w.+/-])\d(?:[ -]?\d){11,18}(?![\w+/]|[.-]\d)")
    _GROUPINGS = {(4, 6, 5), (4, 6, 4), (4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 4, 4, 4, 2), (4, 4, 4, 4, 1),
                  (4, 4, 4, 3), (4, 4, 4, 2), (4, 4, 4), (4, 4, 4, 1), (4, 4, 5), (4, 4, 4, 4, 4)}

    def spans(self, text: str) -> list[Span]:
        out = []
        for m in self._CANDIDATE.finditer(text):
            value = m.group()
            digits = value.replace(" ", "").replace("-", "")
            if len(digits) != len(value):
                groups = tuple(len(g) for g in re.split(r"[ -]", value))
                if groups not in self._GROUPINGS:
                    continue
            if self.valid(digits):
                out.append((m.start(), m.end(), 1.0))
        return out

    @staticmethod
    def valid(digits: str) -> bool:
        if not 12 <= len(digits) <= 19 or len(set(digits)) < 2 or not luhn_ok(digits):
            return False
        first, two, four = digits[0], int(digits[:2]), int(digits[:4])
        if first == "0":
            return digits.startswith("0604")  # Maestro (UK)
        if first == "1":
            return digits.startswith("1800") and len(digits) == 15
        if first == "2":
            return four == 2131 or 2200 <= four <= 2204 or 2221 <= four <= 2720
        if first == "3":
            return two in (30, 34, 35, 36, 37, 38, 39)
        return first in "456"


# --- US_SSN -------------------------------------------------------------------------------


SSN_CONTEXT = re.compile(r"\b(?:ssn|ssns|social security|soc\.? ?sec|ss#|ss ?no|taxpayer|tin)\b")


class DememUsSsnRecognizer(DememRecognizer):
    """US Social Security numbers: AAA-GG-SSSS with the SSA's validity rules.

    Area 000, 666 and 900-999, group 00 and serial 0000 are never issued;
    the advertising sample numbers are ignored. Dashed numbers score 0.85;
    space- or dot-separated and bare nine-digit runs need a context word
    ("SSN", "social security").
    """

    ENTITY = "US_SSN"
    _CANDIDATE = re.compile(r"(?=\d)(?<![\w.+/-])(\d{3})([- .]?)(\d{2})\2(\d{4})(?![\w+/]|[.-]\d)")
    _SAMPLES = {"078051120", "219099999", "123456789", "457555462"}

    def spans(self, text: str) -> list[Span]:
        out = []
        for m in self._CANDIDATE.finditer(text):
            area, sep, group, serial = m.groups()
            if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
                continue
            if area + group + serial in self._SAMPLES or len(set(area + group + serial)) == 1:
                continue
            score = 0.85 if sep == "-" else 0.3
            if SSN_CONTEXT.search(context_before(text, m.start(), 64)):
                score = min(1.0, score + 0.4)
            out.append((m.start(), m.end(), score))
        return out


# --- IBAN_CODE ----------------------------------------------------------------------------


# ISO 13616 registry: country code -> IBAN length.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


class DememIbanRecognizer(DememRecognizer):
    """IBANs of any registry country: the registry length and the mod-97 checksum.

    Upper or lower case, compact or printed in groups of four. The candidate
    regex may run into the next word ("... 6119 to"); the checksum is tried
    on exactly the country's length, so the span ends where the IBAN does.
    """

    ENTITY = "IBAN_CODE"
    # Anchored on the two check digits (digits are rarer than letters): "GB82" is matched from the "8".
    _CANDIDATE = re.compile(r"\d(?<=(?<!\w)[A-Za-z]{2}\d)\d(?:[ -]?[A-Za-z0-9]){10,30}")

    def spans(self, text: str) -> list[Span]:
        out = []
        for m in self._CANDIDATE.finditer(text):
            start = m.start() - 2
            length = IBAN_LENGTHS.get(text[start:start + 2].upper())
            if length is None:
                continue
            compact, end = [], start
            for i in range(start, m.end()):
                if text[i].isalnum():
                    compact.append(text[i])
                    if len(compact) == length:
                        end = i + 1
                        break
            if len(compact) != length or (end < len(text) and text[end].isalnum()):
                continue
            if self.checksum_ok("".join(compact).upper()):
                out.append((start, end, 1.0))
        return out

    @staticmethod
    def checksum_ok(iban: str) -> bool:
        rearranged = iban[4:] + iban[:4]
        if not rearranged.isalnum() or not iban[2:4].isdigit():
            return False
        number = "".join(str(int(ch, 36)) for ch in rearranged)
        return int(number) % 97 == 1


# --- IP_ADDRESS ---------------------------------------------------------------------------


class DememIpRecognizer(DememRecognizer):
    """IPv4 (dotted quad, octets <= 255) and IPv6 (any form ``ipaddress`` accepts)."""

    ENTITY = "IP_ADDRESS"
    _V4 = re.compile(r"(?=\d)(?<![\w.:])(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?![\w]|\.\d)")
    _V6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")  # every IPv6 address has two colons this close
    _V6 = re.compile(r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?:/\d{1,3})?"
                     r"(?![\w:]|\.\w)")

    def spans(self, text: str) -> list[Span]:
        out = []
        for m in self._V4.finditer(text):
            address = m.group().split("/")[0]
            if all(int(octet) <= 255 for octet in address.split(".")):
                out.append((m.start(), m.end(), 0.9))
        last_end = -1
        for hint in self._V6_HINT.finditer(text):
            if hint.start() < last_end:
                continue
            start = hint.start()
            while start > 0 and start > hint.start() - 40 and (text[start - 1] in "0123456789abcdefABCDEF:"):
                start -= 1
            if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_.:"):
                continue
            m = self._V6.match(text, start)
            if m:
                last_end = m.end()
                address = m.group().split("/")[0]
                if sum(ch not in ":" for ch in address) < 3:
                    continue  # "::", "::1", "a::b"
                try:
                    ipaddress.IPv6Address(address)
                except ValueError:
                    continue
                out.append((m.start(), m.end(), 0.9))
        return out


# --- URL ----------------------------------------------------------------------------------


class DememUrlRecognizer(DememRecognizer):
    """URLs with a scheme or a ``www.`` host; trailing sentence punctuation is not part of them."""

    ENTITY = "URL"
    _URL = re.compile(r"(?:(?:https?|ftp|sftp|wss?)://|www\.)[^\s<>\"'`]+", re.I)
    _SCHEME = re.compile(r"(?:https?|ftp|sftp|wss?)\Z", re.I)

    def spans(self, text: str) -> list[Span]:
        lowered = lower(text)
        starts = set()
        for marker in ("://", "www."):  # str.find is far faster than a regex scan of every word
            at = lowered.find(marker)
            while at >= 0:
                if marker == "://":
                    scheme = self._SCHEME.search(lowered, max(0, at - 5), at)
                    if scheme and (scheme.start() == 0 or not lowered[scheme.start() - 1].isalnum()):
                        starts.add(scheme.start())
                elif at == 0 or not (lowered[at - 1].isalnum() or lowered[at - 1] in "/."):
                    starts.add(at)
                at = lowered.find(marker, at + 1)
        out = []
        for start in sorted(starts):
            m = self._URL.match(text, start)
            if m is None or (out and start < out[-1][1]):
                continue
            value = m.group()
            end = m.end()
            while value and (value[-1] in ".,;:!?'\"" or (value[-1] in ")]}" and value.count(value[-1]) >
                                                          value.count({")": "(", "]": "[", "}": "{"}[value[-1]]))):
                value, end = value[:-1], end - 1
            if len(value) > 8:
                out.append((m.start(), end, 0.6))
        return out


# --- DATE_OF_BIRTH ------------------------------------------------------------------------


_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"


class DememDateOfBirthRecognizer(DememRecognizer):
    """A date within 40 characters after "born", "birth", "DOB", "birthday".

    Dates alone are not personal (every RFC is dated); a date of birth is a
    quasi-identifier. Numeric (1/14/1961, 1961-01-14, 14.01.1961) and
    written (January 14, 1961; 14th of January 1961) forms; a bare year only
    right after "born in" (0.5).
    """

    ENTITY = "DATE_OF_BIRTH"
    _KEYWORDS = ("born", "birth", "dob", "d.o.b", "b-day", "bday")
    _DATE = re.compile(
        rf"""(?<![\w/.-])(?:
            \d{{4}}-\d{{1,2}}-\d{{1,2}}
          | \d{{1,2}}[/.-]\d{{1,2}}[/.-](?:\d{{4}}|\d{{2}})
          | {_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}
          | \d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+\d{{4}}
        )(?![\w/]|[.-]\d)""",
        re.I | re.X,
    )
    _YEAR = re.compile(r"\s*(?:in\s+)((?:1[89]|20)\d{2})\b")

    def spans(self, text: str) -> list[Span]:
        lowered = lower(text)
        out = {}
        for keyword in self._KEYWORDS:
            at = lowered.find(keyword)
            while at >= 0:
                if at == 0 or not lowered[at - 1].isalpha():
                    after = at + len(keyword)
                    window_end = min(len(text), after + 40)
                    m = self._DATE.search(text, after, window_end)
                    if m:
                        out[(m.start(), m.end())] = 0.85
                    elif keyword == "born":
                        y = self._YEAR.match(text, after, window_end)
                        if y:
                            out[y.span(1)] = 0.5
                at = lowered.find(keyword, at + 1)
        return [(s, e, score) for (s, e), score in sorted(out.items())]


# --- SECRET -------------------------------------------------------------------------------


_KNOWN_TOKENS = re.compile(
    r"""(?<![\w-])(?:
        (?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}           # AWS access key id
      | gh[pousr]_[A-Za-z0-9]{36,255}                             # GitHub tokens
      | github_pat_[A-Za-z0-9_]{22,255}
      | gl(?:pat|dt|ft|rt|soat)-[A-Za-z0-9_-]{20,50}              # GitLab
      | xox[abposr]-[A-Za-z0-9-]{10,}                             # Slack
      | (?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}                  # Stripe
      | AIza[0-9A-Za-z_-]{35}                                     # Google API key
      | ya29\.[0-9A-Za-z_-]{20,}                                  # Google OAuth access token
      | sk-(?:proj-|ant-)?[A-Za-z0-9_-]{32,}                      # OpenAI / Anthropic style
      | npm_[A-Za-z0-9]{36}
      | pypi-[A-Za-z0-9_-]{50,}
      | SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}                  # SendGrid
      | eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}   # JWT
    )(?![\w-])""",
    re.X,
)
_PEM = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----")
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=:\s,.()-]*")
_SECRET_KEYWORDS = ("pass", "pwd", "secret", "token", "key", "auth", "bearer", "credential", "cred",
                    "contraseña", "contrasena", "mot de passe", "kennwort")
_ASSIGNMENT = re.compile(
    r"""(?i)(?:pass(?:word|wd|phrase)?|pwd|secret|client_secret|api[_-]?key|apikey|access[_-]?key(?:[_-]?id)?|
        secret[_-]?key|private[_-]?key|auth[_-]?token|access[_-]?token|refresh[_-]?token|token|
        credentials?|contrase[ñn]a|kennwort)\w*["'\]]{0,2}\s*(?::=|=>|==?|:)\s*
        (?:(?P<q>["'`])(?P<quoted>[^"'`\n]{4,200})(?P=q)|(?P<bare>[^\s"'`,;<>]{6,200}))""",
    re.X,
)
_BEARER = re.compile(r"(?i)\b(?:bearer|basic|token)\s+([A-Za-z0-9._~+/=-]{16,})")
_LONG_TOKEN = re.compile(r"(?=[A-Za-z0-9_])(?<![A-Za-z0-9+/=_.:@-])[A-Za-z0-9+/=_.:@-]{20,}")
_PLACEHOLDERS = re.compile(
    r"(?i)^(?:\*+|x+|\.+|-+|_+|<[^>]*>|\$\{?[\w.]+\}?|%\(?\w*\)?s?|\{\{?[^}]*\}?\}|"
    r"null|none|nil|true|false|undefined|required|optional|string|password|passwd|secret|token|"
    r"changeme|example|your[_-]?\w*|redacted|hidden|n/a|\[\w*\])$")


def _detect_secrets_patterns() -> list[re.Pattern]:
    """The token regexes of detect-secrets' regex plugins (its vendor list is longer than ours).

    Only the ``denylist`` patterns are used: never ``analyze_line``, whose
    ``verify`` step calls vendor APIs over the network. The public-IP plugin
    is left out (IP_ADDRESS is its own type).
    """
    try:
        import detect_secrets.plugins as plugins
        from detect_secrets.plugins.base import RegexBasedDetector
    except ImportError:  # optional: our own patterns still run
        return []
    patterns = []
    for info in pkgutil.iter_modules(plugins.__path__):
        module = importlib.import_module(f"{plugins.__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (issubclass(cls, RegexBasedDetector) and cls is not RegexBasedDetector
                    and cls.__module__ == module.__name__ and cls.__name__ != "IPPublicDetector"):
                patterns.extend(cls.denylist)
    return patterns


class DememSecretRecognizer(DememRecognizer):
    """API keys, access tokens, private keys, passwords in assignments, high-entropy credentials.

    Four sources, each anchored so prose costs little:

    * PEM private-key blocks, BEGIN to END (found with ``str.find``);
    * known token formats (AWS, GitHub, GitLab, Slack, Stripe, Google, JWT,
      ...) and every regex plugin of detect-secrets, run only on lines that
      hold a run of 20+ token characters;
    * assignments to secret-sounding names (``password = "..."``,
      ``pwd: ...``, ``api_key=...``) and ``Bearer``/``token`` headers, run
      only on lines that hold such a keyword; placeholder values
      (``***``, ``<password>``, ``${VAR}``, ``changeme``) are not secrets;
    * on those keyword lines, any 20+ character token whose entropy is at
      least detect-secrets' thresholds (4.5 bits for base64, 3.0 for hex).

    The span is the secret value only, not the variable name.
    """

    ENTITY = "SECRET"

    def __init__(self, use_detect_secrets: bool = True):
        self.vendor_patterns = _detect_secrets_patterns() if use_detect_secrets else []
        super().__init__()

    def spans(self, text: str) -> list[Span]:
        found: dict[tuple[int, int], float] = {}
        self._pem_blocks(text, found)
        for a, b in self._token_lines(text):
            for m in _KNOWN_TOKENS.finditer(text, a, b):
                found[m.span()] = 0.95
            for pattern in self.vendor_patterns:
                for m in pattern.finditer(text, a, b):
                    s, e = self._value_span(m)
                    if e - s >= 8:
                        found.setdefault((s, e), 0.9)
        for a, b in self._keyword_lines(text):
            for m in _ASSIGNMENT.finditer(text, a, b):
                group = "quoted" if m.group("quoted") is not None else "bare"
                value = m.group(group)
                if _PLACEHOLDERS.match(value) or (group == "bare" and not self._looks_random(value)):
                    continue
                found.setdefault(m.span(group), 0.8)
            for m in _BEARER.finditer(text, a, b):
                found.setdefault(m.span(1), 0.8)
            for m in _LONG_TOKEN.finditer(text, a, b):
                if self.high_entropy(m.group()):
                    found.setdefault(m.span(), 0.7)
        return _drop_nested(found)

    @staticmethod
    def _pem_blocks(text: str, found: dict) -> None:
        at = text.find("-----BEGIN ")
        while at >= 0:
            m = _PEM.match(text, at)
            if m:
                end_marker = f"-----END {m.group(1)}-----"
                end = text.find(end_marker, m.end(), m.end() + 20000)
                end = end + len(end_marker) if end >= 0 else _PEM_BODY.match(text, m.end()).end()
                found[(at, end)] = 1.0
            at = text.find("-----BEGIN ", at + 1)

    @staticmethod
    def _token_lines(text: str) -> Iterator[tuple[int, int]]:
        last = -1
        for m in _LONG_TOKEN.finditer(text):
            if m.start() > last:
                a, b = line_of(text, m.start(), m.end())
                last = b
                yield a, b

    @staticmethod
    def _keyword_lines(text: str) -> list[tuple[int, int]]:
        lowered = lower(text)
        starts = set()
        for keyword in _SECRET_KEYWORDS:
            at = lowered.find(keyword)
            while at >= 0:
                starts.add(line_of(text, at, at))
                at = lowered.find(keyword, at + len(keyword))
        return sorted(starts)

    @staticmethod
    def _value_span(m: re.Match) -> tuple[int, int]:
        """The secret inside a detect-secrets match: its longest group, else the match, trimmed of delimiters."""
        s, e = m.span()
        if m.re.groups:
            best = max(range(1, m.re.groups + 1), key=lambda g: (m.end(g) - m.start(g)) if m.start(g) >= 0 else -1)
            if m.start(best) >= 0 and m.end(best) - m.start(best) >= 8:
                s, e = m.span(best)
        text = m.string
        while s < e and text[s] in " \t\n\"'=:":
            s += 1
        while e > s and text[e - 1] in " \t\n\"'":
            e -= 1
        return s, e

    @staticmethod
    def _looks_random(value: str) -> bool:
        """An unquoted assignment value that is a credential, not a word: mixes letters with digits or symbols."""
        has_alpha = any(ch.isalpha() for ch in value)
        has_other = any(ch.isdigit() or not ch.isalnum() for ch in value)
        return has_alpha and has_other and "*" not in value and not value.endswith(("(", ")"))

    @staticmethod
    def high_entropy(token: str) -> bool:
        token = token.strip("=.:@-_")
        if len(token) < 20:
            return False
        if all(ch in "0123456789abcdefABCDEF" for ch in token):
            return len(token) >= 32 and shannon_entropy(token) >= 3.0
        classes = sum((any(c.islower() for c in token), any(c.isupper() for c in token),
                       any(c.isdigit() for c in token)))
        return classes == 3 and shannon_entropy(token) >= 4.5


def _drop_nested(found: dict[tuple[int, int], float]) -> list[Span]:
    """Spans sorted by start; a span inside another of at least its score is dropped."""
    out: list[Span] = []
    for (s, e), score in sorted(found.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        if out and s >= out[-1][0] and e <= out[-1][1] and score <= out[-1][2]:
            continue
        out.append((s, e, score))
    return out


# --- STREET_ADDRESS -----------------------------------------------------------------------


_WORD = rf"[{UPPER}0-9][\w'’.-]*"              # Maple, O'Neil, 5th, St.
_NAMEWORD = rf"[{UPPER}{LOWER}][\w'’.-]*"      # rue de la Paix, Rua do Arenque (lower-case joiners)
_NUMBER = r"\d{1,6}[A-Za-z]?(?:-\d{1,5})?"
_EN_SUFFIXES = (
    "Street|Streets|St|Avenue|Avenues|Ave|Av|Road|Roads|Rd|Drive|Drives|Dr|Lane|Lanes|Ln|Court|Courts|Ct|"
    "Boulevard|Blvd|Way|Ways|Place|Pl|Terrace|Ter|Parkway|Pkwy|Circle|Circles|Cir|Square|Squares|Sq|Trail|Trl|"
    "Highway|Hwy|Pike|Alley|Row|Crescent|Cres|Close|Gardens|Grove|Mews|Walk|Plaza|Pass|Loop|Path|Point|"
    "Crossing|Commons|Heights|Ridge|View|Vista|Centre|Center|Route|Rte|Expressway|Expy|Freeway|Fwy|Turnpike|"
    "Causeway|Quay|Wharf|Gateway|Estate|Estates|Rise|Parade|Esplanade|Promenade|Bypass|Extension|Extensions|"
    "Ext|Cove|Coves|Park|Parks|Hill|Hills|Harbor|Harbour|Junction|Manor|Meadow|Meadows|Mill|Mills|Orchard|"
    "Station|Summit|Track|Trace|Valley|Village|Ville|Wells|Spur|Run|Green|Glen|Fork|Forks|Ferry|Ford|Creek|"
    "Bend|Branch|Bridge|Brook|Brooks|Burg|Canyon|Cape|Club|Corner|Corners|Course|Crest|Dale|Dam|Divide|"
    "Falls|Field|Fields|Flat|Flats|Forest|Forge|Fort|Garden|Haven|Hollow|Inlet|Island|Isle|Key|Knoll|Lake|"
    "Landing|Light|Lock|Lodge|Mall|Mission|Motorway|Mount|Mountain|Neck|Oval|Overpass|Pine|Pines|Plain|"
    "Plains|Port|Prairie|Radial|Ramp|Ranch|Rapids|Rest|Shoal|Shore|Shores|Skyway|Spring|Springs|Stream|"
    "Throughway|Tunnel|Underpass|Union|Viaduct|Vw|Wall|Well|Str|Crossroad|Crossroads"
)
# Street types written before the name ("Rue de Virton 38", "Via Roma 131", "ul. Miła 53"), as written;
# the second list also in lower case ("36 rue de pologne"), the first not ("via Agent 3", "am 5").
_PREFIX_TYPES_ANY_CASE = (
    "Rue|Rua|Rúa|Calle|Carrer|Avenida|Avda\\.|Strada|Viale|Vicolo|Piazza|Piazzale|Praça|Travessa|Ulica|Aleja|"
    "Trg|Ulitsa|Leoforos|Odos|Bulevardul|Aleea|Rruga|Chaussée|Impasse"
)
_PREFIX_TYPES = (
    "Rue|Rua|Rúa|Via|Viale|Vicolo|Piazza|Piazzale|Corso|Largo|Strada|Contrada|Borgo|Calle|Carrer|Avenida|Avda\\.|"
    "Av\\.|Avenue|Boulevard|Bd\\.?|Chemin|Allée|Place|Praça|Travessa|Alameda|Paseo|Camino|Ronda|Rambla|Plaza|"
    "Ulica|ul\\.|Aleja|al\\.|Plac|Jalan|Jln\\.?|Calea|Bulevardul|Aleea|Strada|Drumul|Odos|Leoforos|Leof\\.|"
    "Platz|Am|An der|Auf der|Im|Zum|Zur|Chaussée|Quai|Impasse|Cours|Route|Iroon|Rruga|Trg|Pod|Nad|"
    "Λεωφόρος|Λεωφ\\.|Οδός|Οδ\\.|Λ\\.|C/|Pl\\.|Pza\\.|Pº"
)
# Street types glued to the end of the name ("Friedhofstrasse 33", "Mellemvej 32", "Puruntie 82");
# English words that end the same way ("During", "Notepad", "Delegate") are why "ring", "pad", "gate"
# are not in the list.
_GLUED_TYPES = (
    "straße|strasse|str\\.|gasse|weg|allee|platz|damm|ufer|chaussee|steig|pfad|markt|"
    "vej|vejen|gade|gaden|stræde|vænget|allé|torv|plads|gata|gatan|vägen|väg|stigen|gränd|torget|veien|vegen|"
    "gaten|katu|tie|kuja|polku|raitti|kaari|laan|straat|gracht|plein|dreef|kade|singel|steeg|"
    "utca|körút|ulice|náměstí|třída|nábřeží|ulica|cesta|ulitsa|prospekt|gatve|iela|tänav|maantee|stræti|"
    "braut|vegur|stígur|sokak|sokağı|caddesi|bulevardi|hof|baan"
)
# Street types standing as their own word after the name ("Erzsébet tér 19.", "Piroska u. 97.").
_AFTER_TYPES = (
    "tér|út|utca|útja|u\\.|köz|sétány|kapu|terrasse|vei|vej|gade|gata|vägen|tie|katu|allé|straße|strasse|"
    "weg|platz|cad\\.|sk\\.|sok\\.|odos|street|road|avenue|tee|tänav|gate|gaten|veien|vegen|rkp\\.|krt\\."
)
_STATE = (r"(?:A[LKZRSEAP]|C[AOT]|D[EC]|F[LM]|G[AU]|HI|I[DLNA]|K[SY]|LA|M[EDAINSOTP]|N[EVHJMYCD]|O[HKR]|P[AWR]|"
          r"RI|S[CD]|T[NX]|UT|V[TAI]|W[AVIY]|[A-Z]{2})")
_POSTAL = (r"(?:\d{3,6}(?:[ -]\d{2,4})?|\d{2}-\d{3}"   # US, DE, FR, PL, ...
           r"|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}"         # UK
           r"|[A-Z]\d[A-Z] ?\d[A-Z]\d|\d{4} ?[A-Z]{2})")  # Canada, Netherlands
_UNIT = r"(?:(?i:apt\.?|apartment|suite|ste\.?|unit|flat|floor|fl\.?|room|rm\.?|bldg\.?|building)|#|No\.?)"
_JOINERS = ("de|des|du|la|le|les|del|della|delle|dello|dei|degli|do|da|dos|das|di|am|an|der|den|van|von|sur|upon|"
            "on|nan|el|al|na|nad|pod|y|e")
_PLACEWORD = rf"(?:[{UPPER}][^\W\d_]*(?:['’.-][^\W\d_]*)*|\([{UPPER}][^\W\d_]*\)|{_JOINERS})"
_JOINER_SET = frozenset(_JOINERS.split("|"))
_TITLEWORD = rf"[{UPPER}][{LOWER}][^\W\d_]*(?:['’-][^\W\d_]+)*\.?"  # Allika, Præstevænget, O'Brien

ADDRESS_CUES = re.compile(
    r"(?:address(?:es)?(?: is| was)?|addr\.?|lives? (?:at|on|in)|lived (?:at|on|in)|located (?:at|on|in)|"
    r"located|send (?:it |them |this )?to|sent to|ship(?:ped)? to|mail(?:ed)? to|moved to|move to|"
    r"deliver(?:ed)? to|office is (?:at|on|in)|meet (?:me |you )?at|meet (?:me |you )?on|taxi to|"
    r"drops? (?:you |me )?off at|stop at|return(?:ed)? to|enter on|north side of|side of|is at|are at|"
    r"reside(?:s|d)? at|visit(?:ed)? us at|find us at|residence|domicile|billing|shipping|"
    r"mailing|home)\s*[:,-]?\s*$",
    re.I,
)


class DememStreetAddressRecognizer(DememRecognizer):
    """Street and postal addresses (Presidio has no recognizer for them).

    A street is found by one of these shapes, anchored on a house number:

    * English: ``1234 [N] Maple Avenue`` (number, up to five words, a street
      suffix from the USPS list: Street, St, Ave, Rd, Way, ...): 0.75;
    * street type first: ``Rue de Virton 38``, ``Via Roma 131``,
      ``ul. Miła 53``: 0.7;
    * street type glued on or after: ``Friedhofstrasse 33``,
      ``Erzsébet tér 19.``, ``Mellemvej 32``: 0.7;
    * number, capitalised words, number (``20789 Allika 46``, Faker's
      international format): 0.45, 0.7 with a continuation or a cue;
    * military mail: ``PSC 1234, Box 5678 / APO AE 09876``, ``Unit ... DPO``,
      ``USNS Name / FPO``: 0.9; ``P.O. Box 123``: 0.7;
    * ``the corner of X and Y``: 0.6;
    * a postal code after "zip", "postal code", "postcode": 0.6.

    Then the span grows over what follows a street on the same line or the
    next three short lines: a unit ("Apt. 864", "Suite 245"), city words,
    a state abbreviation and a postal code ("Springfield, IL 62704",
    "Marina del Rey, CA 90292", "Uruguay 64677"). A continuation line must
    consist of place-like words (capitalised, upper-case, or joiners such
    as "de", "van") and stops at a blank line, a colon, a phone number or
    running lower-case text. An address cue ("lives at", "address:",
    "sent to", ...) just before a street adds 0.2.
    """

    ENTITY = "STREET_ADDRESS"
    # Forms that start with the house number, in one scan (each digit in the text is tried once;
    # "(?=\d)" first lets the regex engine skip to digits): which group matched says which form.
    _NUMBER_FIRST = re.compile(
        rf"(?=\d)(?<![\w.,/:+-]){_NUMBER}(?:,? {_NUMBER})?,? (?:"
        rf"(?P<open>(?:{_PREFIX_TYPES}|(?i:{_PREFIX_TYPES_ANY_CASE})) {_NAMEWORD}(?: (?!{_UNIT}\b){_NAMEWORD}){{0,4}}"
        rf"(?=[.,;:?!]?(?:\s|$)))"
        rf"|(?P<english>(?:(?:[NSEW]\.?|North|South|East|West|Old|New) )?(?:{_WORD} ){{0,4}}(?:{_EN_SUFFIXES})"
        rf"(?![\w'’-])\.?)"
        rf"|(?P<numbered>(?:(?:{_TITLEWORD}|{_JOINERS}) ){{0,3}}{_TITLEWORD} "
        rf"\d{{1,5}}[A-Za-z]?(?![\w'’:/.-]|\.\d)\.?)"
        r"|(?P<lower>(?:[a-z0-9][\w'’.-]* ){1,3}(?:street|st\.|avenue|ave\.?|road|rd\.|boulevard|blvd\.?|lane|"
        r"drive|terrace|court|plaza)(?![\w'’-])\.?))")
    _FORM_SCORES = {"english": 0.75, "open": 0.7, "numbered": 0.45, "lower": 0.6}
    # Forms that end with the house number: found from each " <number>" by looking back.
    _NUMBER_LAST = re.compile(rf" {_NUMBER}(?![\w'’-]|\.\d)\.?")
    _PREFIX_WORDS = frozenset(_PREFIX_TYPES.replace("\\", "").split("|"))
    _PREFIX_WORDS_ANY_CASE = frozenset(w.lower() for w in _PREFIX_TYPES_ANY_CASE.replace("\\", "").split("|"))
    _GLUED_ENDINGS = tuple(_GLUED_TYPES.replace("\\", "").split("|"))
    _AFTER_WORDS = frozenset(_AFTER_TYPES.replace("\\", "").split("|"))
    _UNIT_WORDS = frozenset("apt apt. apartment suite ste ste. unit flat floor fl fl. room rm rm. bldg bldg. "
                            "building".split())
    _NAMED_STREET = re.compile(r"(?:Street|Avenue|Road|Lane|Boulevard|Drive|Terrace|Parkway)\b")
    _STREET_PREPOSITIONS = frozenset("on at in off along down near".split())
    _MILITARY = re.compile(
        r"\b(?:(?:PSC|CMR|Unit) \d{3,5},? Box \d{3,5}|USNS \w+|USNV \w+|USS \w+|"
        r"USCGC \w+)(?:\s{0,4}|, )(?:APO|FPO|DPO) A[AEP] \d{5}\b", re.I)
    _PO_BOX = re.compile(r"\b(?:P\.? ?O\.?|Post Office|Postal) Box \d{1,6}\b|\bPostbox \d{1,6}\b", re.I)
    _CORNER = re.compile(
        r"\b(?:the )?corner of ((?:[\w'’.-]+ ){1,5}?)and(?: [\w'’.-]+){1,4}", re.I)
    _ZIP = re.compile(r"(?i)\b(?:zip|postal|post)(?: ?code)?(?: is|:| #)?\s*([A-Z0-9]{2,4}[ -]?[A-Z0-9]{2,5})\b")
    _UNIT_TAIL = re.compile(rf",? ?(?:\n[ \t]*(?:>+|\?+)?)?[ \t]*{_UNIT} ?[A-Za-z]?\d{{1,5}}[A-Za-z]?\b\.?")
    _SAME_LINE_TAIL = re.compile(
        rf"(?:,[ ]?{_PLACEWORD}(?:[ -]{_PLACEWORD}){{0,3}}){{1,3}}(?:,?[ ]{_STATE}\b)?(?:,?[ ]{_POSTAL})?\b\.?"
        rf"|,?[ ]{_STATE}[ ]{_POSTAL}\b|,?[ ]{_POSTAL}\b")
    _PLACE_TAIL = re.compile(rf"(?:[ ][{UPPER}][\w'’-]*){{1,3}}(?=[.?!,]?(?:\s|$))")
    _PLACES = rf"{_PLACEWORD}(?:[ -]{_PLACEWORD}){{0,4}}(?:,[ ]?{_PLACEWORD}(?:[ -]{_PLACEWORD}){{0,4}}){{0,2}}"
    _NEXT_LINE = re.compile(
        rf"[ \t]*\n(?P<blank>[ \t]*\n)?[ \t]*(?:>+[ \t]*|\?+[ \t]*)?(?:,[ ]?)?"
        rf"((?:{_PLACES})?(?:,?[ ]?{_STATE}\b)?(?:,?[ ]?(?P<postal>{_POSTAL}))?)"
        rf"[ \t]*\.?(?:(?<=\d)(?=\s)|(?=\n|$|[?!;,:](?:\s|$)|\.(?:\s|$)))")
    _POSTAL_END = re.compile(rf"(?<![\w-]){_POSTAL}\.?$")

    def spans(self, text: str) -> list[Span]:
        found: dict[tuple[int, int], float] = {}

        def add(start: int, end: int, score: float, grow: bool = True) -> None:
            if grow:
                new_end = self._grow(text, end)
                if new_end > end and score < 0.7:
                    score = 0.7
                end = new_end
            if ADDRESS_CUES.search(text, max(0, start - 40), start):
                score = min(0.95, score + 0.2)
            if found.get((start, end), 0) < score:
                found[(start, end)] = score

        for m in self._NUMBER_FIRST.finditer(text):
            form = m.lastgroup
            if form == "numbered" and (text[m.start(form) - 2] == "," or any(
                    word.rstrip(".") in COMMON_WORDS for word in m.group(form).split())):
                continue  # "10, No. 7", "1 Feb. 1985": references and dates, not streets
            add(m.start(), m.end(), self._FORM_SCORES[form])
        for m in self._NUMBER_LAST.finditer(text):
            street = self._street_before(text, m.start())
            if street is not None:
                start, score = street
                add(start, m.end(), score)
        for m in self._NAMED_STREET.finditer(text):
            start = self._named_street_start(text, m.start())
            if start is not None:
                add(start, m.end(), 0.45, grow=False)
        lowered = text.lower()
        if "po a" in lowered:
            for m in self._MILITARY.finditer(text):
                add(m.start(), m.end(), 0.9, grow=False)
        if "box" in lowered:
            for m in self._PO_BOX.finditer(text):
                add(m.start(), m.end(), 0.7)
        if "zip" in lowered or "postal" in lowered or "post" in lowered and "code" in lowered:
            for m in self._ZIP.finditer(text):
                if any(ch.isdigit() for ch in m.group(1)):
                    found.setdefault(m.span(1), 0.6)
        if "corner of" in lowered:
            for m in self._CORNER.finditer(text):
                add(m.start(), m.end(), 0.6, grow=False)
        return [(s, e - self._sentence_period(text, e), score) for s, e, score in _merge_overlaps(found)]

    def _street_before(self, text: str, space: int) -> tuple[int, float] | None:
        """(start, score) of a street that ends with the house number after ``text[space]``, if any.

        The word before the number may carry a glued street type ("Friedhofstrasse",
        "Puruntie"), be a street type ("tér", "u.", "gata"), a unit ("Apt.", "Suite"),
        or follow a street type within four words ("Rue de Virton", "Via Roma").
        """
        if space == 0:
            return None
        prev = text[space - 1]
        if not (prev.isalpha() or prev == "."):
            return None
        j = space
        while j > 0 and not text[j - 1].isspace():
            j -= 1
        word = text[j:space]
        lowered = word.lower()
        if lowered in self._UNIT_WORDS:
            return j, 0.5
        if lowered in self._AFTER_WORDS:
            start = self._street_start(text, j)
            return None if start is None else (start, 0.7)
        if len(word) > 4 and lowered.endswith(self._GLUED_ENDINGS):
            for ending in self._GLUED_ENDINGS:
                if lowered.endswith(ending) and len(lowered) > len(ending) + 1:
                    start = self._street_start(text, space - len(ending))
                    return None if start is None else (start, 0.7)
            return None
        if not (word[0].isupper() or word in _JOINER_SET):
            return None
        k, words = j, 0
        while words < 5 and k > 0 and text[k - 1] == " ":  # "Rue de la Paix 12": a street type within 4 words
            a = k - 1
            while a > 0 and not text[a - 1].isspace():
                a -= 1
            candidate = text[a:k - 1]
            if self._is_prefix_type(candidate) or self._is_prefix_type(word):
                start = a if self._is_prefix_type(candidate) else j
                number = re.search(r"\d{1,6}[A-Za-z]?,? $", text[max(0, start - 9):start])
                return (start - len(number.group()) if number else start), 0.7
            if not candidate or not (candidate[0].isupper() or candidate in _JOINER_SET):
                return None
            k, words = a, words + 1
        return None

    def _is_prefix_type(self, word: str) -> bool:
        return word in self._PREFIX_WORDS or word.lower() in self._PREFIX_WORDS_ANY_CASE

    def _named_street_start(self, text: str, suffix_at: int) -> int | None:
        """Start of "Marina Fort Street" after "on"/"at"/...: one to three capitalised words."""
        k, start, words = suffix_at, None, 0
        while words < 4 and k > 1 and text[k - 1] == " ":
            a = k - 1
            while a > 0 and not text[a - 1].isspace():
                a -= 1
            word = text[a:k - 1]
            if word in self._STREET_PREPOSITIONS:
                return start if words else None
            if not word[:1].isupper() or word in COMMON_WORDS:
                return None
            start, k, words = a, a, words + 1
        return None

    @staticmethod
    def _sentence_period(text: str, end: int) -> int:
        """1 when the span's final "." ends the sentence rather than an abbreviation or a house number."""
        if text[end - 1] != "." or end < 2 or not text[end - 2].isdigit():
            return 0
        rest = text[end:end + 2]
        return 1 if not rest or rest[0] in " \t" and (len(rest) < 2 or rest[1].isupper()) else 0

    def _street_start(self, text: str, suffix_at: int) -> int | None:
        """Start of a street whose type word or glued suffix begins at ``suffix_at``.

        Walks back over the word the suffix is glued to and up to two more
        capitalised words and an optional house number ("6108 Friedhofstrasse").
        """
        start = suffix_at
        while start > 0 and (text[start - 1].isalpha() or text[start - 1] in "'’-"):
            start -= 1
        glued = start < suffix_at
        if glued and not text[start].isupper() and not re.search(r"\d ?$", text[max(0, start - 8):start]):
            return None
        words = 0
        while words < 3:
            j = start - 1
            if j < 1 or text[j] != " ":
                break
            k = j
            while k > 0 and (text[k - 1].isalnum() or text[k - 1] in "'’.-"):
                k -= 1
            word = text[k:j]
            if not word or not (word[0].isupper() or word.isdigit()):
                break
            start = k
            words += 1
            if word.isdigit():
                break
        if not glued and words == 0:
            return None
        return start

    def _grow(self, text: str, end: int) -> int:
        """Extend an address over its unit, city, state and postal code (same line and up to 3 more)."""
        start_end = end
        for _ in range(3):
            m = self._UNIT_TAIL.match(text, end)
            if not m:
                break
            end = m.end()
        with_unit = end
        m = self._SAME_LINE_TAIL.match(text, end)
        if m and m.end() > end:
            end = m.end()
        elif with_unit > start_end:
            m = self._PLACE_TAIL.match(text, end)  # "Apt. 615 Moosleerau Switzerland"
            if m:
                end = m.end()
        for _ in range(4):
            m = self._NEXT_LINE.match(text, end)
            if not m or not m.group(2).strip(" ,") or len(m.group(2)) > 48:
                break
            if m.group("blank") and not m.group("postal"):
                break  # across a blank line only the "Country 12345" line of a block
            end = m.end(2)
            m = self._UNIT_TAIL.match(text, end)
            if m:
                end = m.end()
            if self._POSTAL_END.search(text, 0, end):
                break
        return end


def _merge_overlaps(found: dict[tuple[int, int], float]) -> list[Span]:
    """Overlapping spans of one type become their union, with the best score."""
    out: list[list] = []
    for (s, e), score in sorted(found.items()):
        if out and s < out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
            out[-1][2] = max(out[-1][2], score)
        else:
            out.append([s, e, score])
    return [tuple(x) for x in out]


# --- PERSON (names without NER) -----------------------------------------------------------


# Capitalised words that are names in Faker's lists but mostly something
# else in English text; they count as names only next to another name part.
COMMON_WORDS = frozenset("""
A An And Are As At Be But By Can Do For From Had Has Have He Her His How I If In Is It Its Me My No Not Of On
Or Our She So That The Their Then There These They This To Us We What When Where Which Who Why Will With You
Your Yes All Any Each Every Some Such Only Also Here Now Just More Most Other Than Very Well Back Over Under
January February March April May June July August September October November December Monday Tuesday
Wednesday Thursday Friday Saturday Sunday Mark Bill Rose Grace Hope Joy Faith Page Case Long Young King Hill
White Brown Green Black Gray Grey Street Field Price Love Little Rich West North South East Bell Ward Wood
Stone Banks Best Park Lane Cross Day Frank Major Miles Sharp Short Small Strong Sweet Summer Winter Spring
Star Sun Moon River Lake Brook Forest Dear Hi Hello Thanks Thank Sincerely Regards Best Mr Mrs Ms Dr Prof
Sir Madam Miss Saint St New Old Great Good Big Host Data Server Client Internet Network Protocol Section
Figure Table Request Comments Group Working Page Note Notes Abstract Introduction Status Memo Copyright
Security Considerations References Appendix Author Authors Address Addresses Email Phone Name Date Title
Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec Vol Pages Pp Fig Sec Chapter Item Step Rev Ver RFC
Version Type Value Length Code Message Header Field Option Port Path State Error Reply Response Status
Chase Hunter Archer Mason Cook Baker Carpenter Fisher Porter Turner Walker Taylor Carter Cooper Miller
Parker Bishop Knight Sterling Glass Hart Fox Wolf Bird Lamb Hall Moore Church Chapel Castle Temple Bank
Link Links Block Key Keys Lock Mode Rule Rules Set Sets Case Cases True False Null None Nil Min Max
Art Sky Rain Snow Ice Fire Dawn Eve Amber Ruby Pearl Jade Crystal Iris Lily Daisy Ivy Holly Violet Rosa
Ray Rod Guy Gene Bob Don Ken Pat Sue Max Ben Dick Jack Tom Jim
""".split())
# Words after which a capitalised word is a name: strong cues name anyone ("My name is Will"); weak
# cues ("by", "with") only someone whose name is in the lists or has several parts ("by Jon Postel",
# not "by Gateways").
NAME_CUES = re.compile(
    r"\b(?:name is|named|(?:is|was|am|are|were) called|call me|calls me|name's|i'm|i am|this is|dear|hi|hello|"
    r"hey|thanks|thank you|regards|sincerely|signed|ms|mr|mrs|miss|dr|prof|sir|madam|mx|name ?[:?]|"
    r"author ?:|editor ?:|attn ?:?|attention ?:)\.?\s*$", re.I)
WEAK_NAME_CUES = re.compile(r"\b(?:by|with|contact|ask|tell|from|to)\s*$", re.I)
# A verb that takes a person as subject right after a capitalised run ("Asya spent", "Usamov said").
PERSON_VERBS = re.compile(
    r"(?:'s?)?,? (?:said|says|told|tells|asked|asks|replied|shouted|whispered|wrote|writes|explained|explains|"
    r"added|noted|argued|claimed|lives|lived|spent|began|begins|married|died|was born|is from|had given|"
    r"has given|is very|works|worked|studied|thinks|thought|believes|wants|wanted|likes|loves|met|visited)\b")
TITLES = frozenset("Mr Mrs Ms Miss Mx Dr Prof Sir Madam Dame Lord Lady Rev Fr Sr Jr".split())
PLACE_AND_PEOPLE_WORDS = frozenset("""
Santa San Los Las Angeles York Francisco Diego Vegas Carolina Dakota Jersey Island Islands Republic Kingdom States
United Zealand Arabia Africa America Korea Guinea Coast Hampshire Mexico Rico English German French Spanish
Italian Russian Chinese Japanese American British European African Asian Greek Dutch Swedish Danish Norwegian
Finnish Polish Czech Hungarian Portuguese Brazilian Canadian Australian Irish Scottish Welsh Indian Turkish
Greenlander Internet Ethernet Unicode Windows Linux Unix Google Microsoft Apple Amazon
""".split())
# Words that make a capitalised run an organisation, not a person ("Newman Inc", "Stanford University").
ORG_WORDS = frozenset("""
Inc Inc. Corp Corp. Corporation Ltd Ltd. LLC GmbH AG Co Co. Company Companies Group University Institute College
School Laboratory Laboratories Labs Lab Foundation Association Society Agency Department Dept Center Centre
Council Committee Board Bank Systems Networks Network Technologies Technology Software Services Solutions
Partners Associates Consulting International Research Project Protocol Press Publishing Industries Holdings
Enterprises Ventures Capital Media Communications Telecom Electronics Computer Computers Data Information
""".split())
# Endings of Slavic, Nordic, Greek and Romanian surnames, the names spaCy's small model misses most
# often (it tags "Yefremova" or "Szczepańska" as ORG or nothing).
SURNAME_ENDING = re.compile(
    r"(?:ová|ova|ovna|evna|ovich|evich|ski|ska|sky|ský|cki|cka|dzki|dóttir|dottir|sson|ović|ević|vić|ić|enko|"
    r"escu|opoulos|akis|ishvili|adze|yev|yeva|ov|ev|uk|yk|chuk)$")
_SUFFIX_WORDS = frozenset("Jr Sr II III IV V PhD MD DDS DVM Esq".split())
STOP_CAPS = frozenset(w.capitalize() for w in "the a an and or of in on at to for from with by is are was were be "
                      "this that these those it its he she they we you i my your his her our their".split())


@functools.lru_cache(maxsize=1)
def common_words() -> frozenset:
    """Capitalised words that are no name on their own: :data:`COMMON_WORDS`, Faker's ~1,000 common
    English words, spaCy's stop words, and country and US state names."""
    from faker.providers.address.en_US import Provider as Places
    from faker.providers.lorem.en_US import Provider as Words
    from spacy.lang.en.stop_words import STOP_WORDS

    words = set(COMMON_WORDS)
    words.update(w.capitalize() for w in Words.word_list)
    words.update(w.capitalize() for w in STOP_WORDS)
    words.update(place for place in tuple(Places.countries) + tuple(Places.states) if place.isalpha())
    words.update(PLACE_AND_PEOPLE_WORDS)
    return frozenset(words)


@functools.lru_cache(maxsize=2)
def name_lexicon(with_common: bool = False) -> tuple[frozenset, frozenset]:
    """(first names, last names) from Faker's person providers, every locale, Latin/Greek/Cyrillic words.

    Faker is already a dependency (surrogates are Faker names). The lists
    are what makes names without an English context recognisable: spaCy's
    small model misses many non-English names (its PERSON recall on the
    dev set is 0.66).
    """
    import faker.providers.person as people

    first, last = set(), set()
    for info in pkgutil.iter_modules(people.__path__):
        try:
            provider = importlib.import_module(f"{people.__name__}.{info.name}").Provider
        except (ImportError, AttributeError):
            continue
        for attr in dir(provider):
            if not (attr.startswith("first_names") or attr.startswith("last_names")):
                continue
            values = getattr(provider, attr)
            if not isinstance(values, (dict, list, tuple, set, frozenset)):
                continue
            target = first if attr.startswith("first") else last
            for value in values:
                if isinstance(value, str):
                    for word in value.replace("-", " ").split():
                        if len(word) > 1 and word[0].isupper() and word[1:].islower() and word.isalpha() \
                                and ord(word[0]) < 0x0530:
                            target.add(word)
    if with_common:
        return frozenset(first), frozenset(last)
    common = common_words()
    return frozenset(first - common), frozenset(last - common)


class DememPersonNameRecognizer(DememRecognizer):
    """Person names from name lists and shape, without NER (the stage adds spaCy's PERSON on top).

    Runs of capitalised words and initials on one line ("Abby M. Laidlaw",
    "Šárka Ottová", "J. Postel") are names when:

    * a title leads them ("Mrs. Barbara Yudina", "Dr. Baker"): 0.8;
    * they start with a known first name and have another part ("Zoe
      Young": a known last name may be a common word), or a first name that
      is a common word is followed by a known last name ("Crystal
      Murdock"): 0.7;
    * a middle initial sits between two capitalised words ("Mijail C Adomo"): 0.65;
    * a name cue precedes them ("my name is", "Dear", "Hi", "call me",
      "Name:"): one to three capitalised words, 0.6;
    * a verb that takes a person follows them ("Asya spent", "Usamov said"): 0.55;
    * initials lead a capitalised word ("S. Crocker"): 0.55;
    * a lone known first name: 0.5; a lone known last name, or a word with
      a surname ending (-ová, -ski, -dóttir, -sson, -ović, -enko, ...): 0.45;
    * a capitalised word joined by "and" or a comma to a name found above
      ("Kónya, Becker and Vasquez"): 0.45.

    In text without capitals, a known first name (with a known last name:
    0.5; alone: 0.45) or a word after "mr."/"mrs."/"name is" (0.6).

    A word counts as a name part only if it is not a common English word
    (:func:`common_words`) and the document never writes it in lower case:
    that keeps "Will", "Bill" or "Handler" from being names where the text
    also says "will", "bill" or "handler". The name lists are Faker's, every
    locale (:func:`name_lexicon`).
    """

    ENTITY = "PERSON"
    _TOKEN = rf"(?:[{UPPER}][{LOWER}]*(?:['’-][{UPPER}]?[{LOWER}]+)*\.?)"
    _RUN = re.compile(rf"(?=[{UPPER}])(?<![\w@.'’-]){_TOKEN}(?: {_TOKEN}){{0,5}}(?![\w@'’-])")
    _LOWER_NAME = re.compile(rf"(?<![\w@.'’-])[{LOWER}]{{2,}}(?![\w@'’-])")
    _LOWER_CUE = re.compile(r"(?:\b(?:mr|mrs|ms|dr|miss)\.?|name is|call me|calls me|named|called)\s+$")
    _LOWER_WORD = re.compile(rf"[{LOWER}]+(?![@\w]|\.\w)")  # as sanitize.pii.lower_case_words
    _JOIN = re.compile(r"(?:,|,? and|,? or|,? &) ")

    def __init__(self):
        self.first, self.last = name_lexicon()
        self.first_all, self.last_all = name_lexicon(with_common=True)
        self.common = common_words()
        self.lower_common = frozenset(w.lower() for w in self.common)
        self.lower_first = frozenset(w.lower() for w in self.first)
        self.lower_last = frozenset(w.lower() for w in self.last)
        super().__init__()

    def spans(self, text: str, lower_words: set[str] | None = None) -> list[Span]:
        """``lower_words``: the document's lower-case words, if the caller has them already."""
        if lower_words is None:
            lower_words = set(self._LOWER_WORD.findall(text))
        out: list[Span] = []
        loose: list[tuple[int, int]] = []  # capitalised name-like words not taken (yet)
        for m in self._RUN.finditer(text):
            word = m.group()
            if " " not in word:  # most runs: one word, usually a common one ("The", "Section")
                bare = word.rstrip(".")
                if len(bare) > 1 and (bare in self.common or bare.lower() in lower_words) \
                        and bare not in self.first_all and bare not in TITLES:
                    continue
            elif ORG_WORDS.intersection(word.split()):
                continue  # "Newman Inc", "Stanford University"
            tokens = self._tokens(m)
            i = 0
            while i < len(tokens):
                span = self._name_at(text, tokens, i, lower_words)
                if span is None:
                    if self._part(tokens[i][2], lower_words) and len(tokens[i][2]) > 2:
                        loose.append(tokens[i][:2])
                    i += 1
                    continue
                j, score = span
                end = tokens[j - 1][1]
                last = tokens[j - 1][2].rstrip(".")
                if text[end - 1] == "." and len(last) > 1 and last not in TITLES and last not in _SUFFIX_WORDS:
                    end -= 1  # "... and Vasquez." ends the sentence, not the name
                out.append((tokens[i][0], end, score))
                i = j
        if loose and out:
            out += self._joined(text, out, loose)
        if not any(ch.isupper() for ch in text[:2000]):
            out += self._lower_case_names(text)
        return sorted(out)

    def _part(self, word: str, lower_words: set[str]) -> bool:
        """Can ``word`` be part of a name: an initial, a suffix, or neither common nor used in lower case."""
        w = word.rstrip(".")
        if w in _SUFFIX_WORDS or len(w) == 1:
            return True
        return w not in self.common and w.lower() not in lower_words

    @staticmethod
    def _tokens(m: re.Match) -> list[tuple[int, int, str]]:
        tokens, pos = [], m.start()
        for word in m.group().split(" "):
            tokens.append((pos, pos + len(word), word))
            pos += len(word) + 1
        return tokens

    def _name_at(self, text, tokens, i, lower_words) -> tuple[int, float] | None:
        """(end token index, score) of a name starting at token ``i``, or None."""
        start, _, word = tokens[i]
        bare = word.rstrip(".")
        words = [t[2].rstrip(".") for t in tokens]

        def part(k: int) -> bool:
            return self._part(tokens[k][2], lower_words)

        def extend(k: int, limit: int = 4) -> int:
            j = k
            while j < len(tokens) and j - k < limit and part(j):
                j += 1
            return j

        if bare in TITLES:
            j = i + 1
            while j < len(tokens) and j - i <= 3 and words[j] not in TITLES and words[j] not in STOP_CAPS:
                j += 1
            return (j, 0.8) if j > i + 1 else None
        if len(bare) == 1:  # an initial: "J. Postel", "S. R. Smith"
            j = i
            while j < len(tokens) and len(words[j]) == 1:
                j += 1
            if j < len(tokens) and j - i <= 3 and tokens[j - 1][2].endswith(".") and part(j):
                return j + 1, 0.55
            return None
        if not part(i):
            if bare not in self.first_all and bare not in self.last_all:
                return None
            if i + 1 < len(tokens) and words[i + 1] in self.last:
                return extend(i + 2), 0.7  # "Crystal Murdock", "Will Smith"
            if NAME_CUES.search(text, max(0, start - 24), start):
                j = i + 1  # "My name is Will", "My name is Margarethe Okonkwo"
                while j < len(tokens) and j - i < 3 and words[j] not in STOP_CAPS and words[j] not in TITLES:
                    j += 1
                return j, 0.6
            return None
        if i > 0 and not self._part(tokens[i - 1][2], lower_words) and words[i - 1] not in self.common:
            # Inside a capitalised phrase after a word that is no name ("Terminal Handler",
            # "Output Horizontal Tab Stops"): only a known first name followed by a known last name.
            if bare in self.first and i + 1 < len(tokens) and words[i + 1] in self.last:
                return i + 2, 0.6
            return None
        cue = NAME_CUES.search(text, max(0, start - 24), start)
        j = extend(i + 1)
        if not cue and WEAK_NAME_CUES.search(text, max(0, start - 12), start) and (
                j > i + 1 or bare in self.first or bare in self.last or SURNAME_ENDING.search(bare)):
            cue = True
        if j < len(tokens) and j == i + 1 and bare in self.first and words[j] in self.last_all:
            j += 1  # "Zoe Young", "Fletcher Hill"
        if j == i + 3 and len(words[i + 1]) == 1 and j - 1 < len(tokens):
            return j, 0.65  # "Mijail C Adomo"
        if cue:
            return min(j, i + 3), 0.6
        if bare in self.first:
            return j, (0.7 if j > i + 1 else 0.5)
        if PERSON_VERBS.match(text, tokens[min(j, i + 2) - 1][1]):
            return min(j, i + 2), 0.55
        if bare in self.last:
            parts = words[i:j]
            if len(parts) > 1 and all(p in self.last or p in self.first or len(p) == 1 for p in parts):
                return j, 0.6
            if len(tokens) == 1:  # a lone last name, not part of a capitalised phrase
                return i + 1, 0.45
            return None
        if len(bare) > 4 and SURNAME_ENDING.search(bare):
            return i + 1, 0.45
        if j > i + 1 and SURNAME_ENDING.search(words[j - 1]) and len(words[j - 1]) > 4:
            return j, 0.5  # "Wisława Szczepańska"
        return None

    def _joined(self, text: str, found: list[Span], loose: list[tuple[int, int]]) -> list[Span]:
        """Loose name-like words listed with found names ("Kónya, Becker and Vasquez")."""
        ends = {e for _, e, _ in found}
        starts = {s for s, _, _ in found}
        added: list[Span] = []
        for _ in range(2):  # twice: a list propagates one neighbour per pass
            for s, e in loose:
                if s in starts:
                    continue
                before = self._JOIN.search(text, max(0, s - 7), s)
                after = self._JOIN.match(text, e, e + 7)
                if (before and before.end() == s and before.start() in ends) or (after and after.end() in starts):
                    added.append((s, e, 0.45))
                    starts.add(s)
                    ends.add(e)
        return added

    def _lower_case_names(self, text: str) -> list[Span]:
        """Names in text written without capitals (chat logs, lower-cased corpora)."""
        out = []
        words = list(self._LOWER_NAME.finditer(text))
        i = 0
        while i < len(words):
            m = words[i]
            a = m.group()
            nxt = words[i + 1] if i + 1 < len(words) and words[i + 1].start() == m.end() + 1 else None
            b = nxt.group() if nxt else ""
            cue = self._LOWER_CUE.search(text, max(0, m.start() - 10), m.start())
            if a in self.lower_first and a not in self.lower_common:
                if b and (b in self.lower_last or b in self.lower_first) and b not in self.lower_common:
                    out.append((m.start(), nxt.end(), 0.5))
                    i += 1
                else:
                    out.append((m.start(), m.end(), 0.6 if cue else 0.45))
            elif cue and a not in self.lower_common:
                out.append((m.start(), m.end(), 0.6))
            i += 1
        return out


# --- registration -------------------------------------------------------------------------


RECOGNIZERS = {
    "EMAIL_ADDRESS": DememEmailRecognizer,
    "PHONE_NUMBER": DememPhoneRecognizer,
    "CREDIT_CARD": DememCreditCardRecognizer,
    "US_SSN": DememUsSsnRecognizer,
    "IBAN_CODE": DememIbanRecognizer,
    "IP_ADDRESS": DememIpRecognizer,
    "URL": DememUrlRecognizer,
    "STREET_ADDRESS": DememStreetAddressRecognizer,
    "DATE_OF_BIRTH": DememDateOfBirthRecognizer,
    "SECRET": DememSecretRecognizer,
    "PERSON": DememPersonNameRecognizer,
}


def build_recognizers(entities: Iterable[str]) -> list[DememRecognizer]:
    """One recognizer instance per requested entity type that demem recognizes by pattern."""
    return [RECOGNIZERS[e]() for e in entities if e in RECOGNIZERS]


def register(registry, entities: Iterable[str] = tuple(RECOGNIZERS)) -> None:
    """Add demem's recognizers to a Presidio ``RecognizerRegistry``, replacing Presidio's for the same types.

    Presidio's own pattern recognizers for these types (its phone matcher,
    its tldextract-based email check) are removed first, so an
    ``AnalyzerEngine`` built on the registry finds each type once.
    """
    entities = list(entities)
    for recognizer in list(registry.recognizers):
        if not getattr(recognizer, "supported_entities", None):
            continue
        if set(recognizer.supported_entities) <= set(entities) and recognizer.name not in ("SpacyRecognizer",):
            registry.recognizers.remove(recognizer)
    for recognizer in build_recognizers(entities):
        registry.add_recognizer(recognizer)
