"""De-identification trace scrubbing: find, count and replace the markers earlier de-identification left.

Why: a constant placeholder repeated across a corpus (MIMIC's ``___``,
Presidio's ``<PERSON>``) is exactly what a model memorizes verbatim ("The
Devil is in the Prompts": in MIMIC-CXR the markers themselves contribute
most to memorization). This stage treats them as a risk: it counts them per
family and, by default, replaces each with a realistic surrogate of the type
it stands for, so no constant string is left behind.

Contract:

* :data:`CATALOGUE` lists the trace families, each a named, documented regex
  with the entity type it stands for (or None when the marker does not say).
  Families are precise: ordinary text (a fill-in blank in a form or exercise,
  a markdown rule ``***``, bold ``**x**``, a C pointer ``**p``, HTML tags,
  markdown links, template code like ``{{ item.price }}``) is not caught.
  Users add families in config (``extra_families``: name, regex, type).
* For a marker without a type, the type is inferred from the words around
  it (:func:`infer_type`: ``Dr. ___`` is a person, ``on ___`` after a date
  word is a date, ``___ year old`` an age, ``___:53`` an hour …); a marker
  whose type cannot be inferred is dropped cleanly, without leaving double
  spaces or a space before punctuation.
* Operators: ``surrogate`` (default: a value of the type from
  ``sanitize.surrogates``, consistent within a document: the same marker
  text of the same type gets the same value), ``remove``, ``keep`` (count
  only).
* Each document gets ``trace_counts`` (family -> markers found) and, for
  frequency dilution, its surrogates as sensitive items
  (``sanitize.sensitive``, origin ``trace``); the stage's
  stats give corpus totals per family before and after (after = markers
  still present in the output, found by scanning it again).
* The PII stage's own ``tag`` output (``<PERSON>``) is in the catalogue, so a
  corpus scrubbed with tags reports its own traces.

Speed: a family's regex runs only on texts containing one of its literal
triggers (``___``, ``[**``, ``<`` …), and each regex starts with a literal
the regex engine scans for quickly; the output is scanned again to count
what is left. >= 20 MB/s per core on English text
(``benchmarks/bench_traces.py``). No marker text beyond catalogue shapes
reaches logs or stats: the ``demem traces`` table shows marker *forms* with
digits masked and element contents elided.
"""
from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Literal, Optional

import apache_beam as beam

from sanitize.sensitive import KEY as SENSITIVE
from sanitize.surrogates import canonical_entity_type

STAGE = "traces"

# --- the catalogue -------------------------------------------------------------------------

# Presidio's entity names, plus the ones demem's own tag operator writes.
PRESIDIO_TYPES = (
    "PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "LOCATION", "DATE_TIME", "NRP", "CREDIT_CARD", "CRYPTO",
    "IBAN_CODE", "IP_ADDRESS", "MEDICAL_LICENSE", "URL", "US_SSN", "US_BANK_NUMBER", "US_DRIVER_LICENSE",
    "US_ITIN", "US_PASSPORT", "UK_NHS", "ORGANIZATION", "STREET_ADDRESS", "DATE_OF_BIRTH", "SECRET",
)
BIGCODE_TYPES = {"NAME": "PERSON", "EMAIL": "EMAIL_ADDRESS", "KEY": "SECRET", "PASSWORD": "SECRET",
                 "IP_ADDRESS": "IP_ADDRESS", "USERNAME": "PERSON"}
BRACKET_LABELS = {"name": "PERSON", "redacted": None, "pii": None, "removed": None, "email": "EMAIL_ADDRESS",
                  "phone": "PHONE_NUMBER", "address": "STREET_ADDRESS", "date": "DATE", "ssn": "US_SSN",
                  "patient": "PERSON", "doctor": "PERSON", "location": "LOCATION", "hospital": "HOSPITAL",
                  "redacted name": "PERSON", "personal information": None, "censored": None}
CURLY_LABELS = {"name": "PERSON", "first_name": "FIRST_NAME", "last_name": "LAST_NAME", "full_name": "PERSON",
                "email": "EMAIL_ADDRESS", "email_address": "EMAIL_ADDRESS", "phone": "PHONE_NUMBER",
                "phone_number": "PHONE_NUMBER", "address": "STREET_ADDRESS", "street_address": "STREET_ADDRESS",
                "ssn": "US_SSN", "credit_card": "CREDIT_CARD", "ip_address": "IP_ADDRESS", "date_of_birth": "DATE_OF_BIRTH",
                "dob": "DATE_OF_BIRTH", "password": "SECRET", "api_key": "SECRET", "username": "PERSON"}
I2B2_TYPES = {"PATIENT": "PERSON", "DOCTOR": "PERSON", "NAME": "PERSON", "HOSPITAL": "HOSPITAL",
              "LOCATION": "LOCATION", "DATE": "DATE", "ID": "ID_NUMBER", "PHONE": "PHONE_NUMBER", "AGE": "AGE",
              "CONTACT": "PHONE_NUMBER", "PROFESSION": None, "ORGANIZATION": "ORGANIZATION"}

# MIMIC-III [**...**] inner hints, first match wins (lower-case substring -> type).
MIMIC_HINTS = (
    ("first name", "FIRST_NAME"), ("known firstname", "FIRST_NAME"), ("last name", "LAST_NAME"),
    ("known lastname", "LAST_NAME"), ("name", "PERSON"), ("initials", "PERSON"),
    ("telephone", "PHONE_NUMBER"), ("fax", "PHONE_NUMBER"), ("pager", "PHONE_NUMBER"),
    ("e-mail", "EMAIL_ADDRESS"), ("email", "EMAIL_ADDRESS"), ("social security", "US_SSN"),
    ("street address", "STREET_ADDRESS"), ("apartment address", "STREET_ADDRESS"), ("po box", "STREET_ADDRESS"),
    ("hospital", "HOSPITAL"), ("wardname", "HOSPITAL"), ("ward", "HOSPITAL"),
    ("location", "LOCATION"), ("state", "LOCATION"), ("country", "LOCATION"), ("university", "ORGANIZATION"),
    ("company", "ORGANIZATION"), ("age over 90", "AGE"),
    ("md number", "ID_NUMBER"), ("medical record number", "ID_NUMBER"), ("numeric identifier", "ID_NUMBER"),
    ("serial number", "ID_NUMBER"), ("clip number", "ID_NUMBER"), ("job number", "ID_NUMBER"),
    ("provider number", "ID_NUMBER"), ("unit number", "ID_NUMBER"), ("number", "ID_NUMBER"),
    ("date", "DATE"), ("month", "DATE"), ("year", "DATE"), ("holiday", "DATE"),
)
_MIMIC_DATE = re.compile(r"^\s*(?:\d{4}-\d{1,2}(?:-\d{1,2})?|\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}(?:/\d{2,4})?)\s*$")


@dataclass(frozen=True)
class TraceFamily:
    """A kind of de-identification marker: its regex and what it stands for.

    ``entity_type`` is the type the marker stands for, or None when it must
    be read from the match (``typer``) or inferred from context.
    """

    name: str
    pattern: str
    entity_type: Optional[str]
    description: str
    typer: Optional[Callable[[re.Match], Optional[str]]] = None
    flags: int = 0
    # Literal strings one of which every match contains: a family whose
    # triggers are absent from a text is not run on it (a C-speed substring
    # test), which is most of the stage's speed. Empty: always run.
    triggers: tuple[str, ...] = ()
    # A context test a match must pass (text, start, end): how a family tells
    # its markers from look-alikes that a regex alone cannot.
    accept: Optional[Callable[[str, int, int], bool]] = None


def _mimic_type(match: re.Match) -> Optional[str]:
    inner = match.group("mimic").strip().lower()
    if _MIMIC_DATE.match(inner):
        return "DATE"
    return next((t for hint, t in MIMIC_HINTS if hint in inner), None)


def _label_type(table: dict, group: str) -> Callable[[re.Match], Optional[str]]:
    return lambda match: table.get(match.group(group).strip().lower(), None)


def _alternatives(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


CATALOGUE: tuple[TraceFamily, ...] = (
    TraceFamily(
        "mimic_blank", r"___(?<![_\w]___)(?!_)", None,
        "MIMIC-CXR/MIMIC-IV: exactly three underscores, also glued to words or digits (Swan-___, ___:53)",
        triggers=("___",),
    ),
    TraceFamily(
        "mimic_bracket", r"\[\*\*(?P<mimic>[^\[\]\n]{0,80}?)\*\*\]", None,
        "MIMIC-III: [**Last Name (NamePattern1) 1234**], [**2151-8-5**]; the type comes from the inner hint",
        typer=_mimic_type, triggers=("[**",),
    ),
    TraceFamily(
        "i2b2_xml", r"<PHI\s+TYPE=\"(?P<i2b2>[A-Z]+)\"\s*>[^<]{0,200}</PHI>", None,
        "i2b2 de-id corpora: <PHI TYPE=\"DOCTOR\">...</PHI> elements (the element is replaced whole)",
        typer=lambda m: I2B2_TYPES.get(m.group("i2b2")), triggers=("<PHI",),
    ),
    TraceFamily(
        "presidio_tag", rf"<(?P<presidio>{_alternatives(PRESIDIO_TYPES)})>", None,
        "Presidio replace/tag output and demem's own tag operator: <PERSON>, <EMAIL_ADDRESS> ...",
        typer=lambda m: {"DATE_TIME": "DATE", "NRP": None}.get(m.group("presidio"), m.group("presidio")),
        triggers=("<",),
    ),
    TraceFamily(
        "dolma_pipes", r"\|\|\|(?P<dolma>[A-Z_]{2,30})\|\|\|", None,
        "Dolma: |||EMAIL_ADDRESS|||, |||PHONE_NUMBER|||, |||IP_ADDRESS|||",
        typer=lambda m: m.group("dolma") if m.group("dolma") in PRESIDIO_TYPES else None, triggers=("|||",),
    ),
    TraceFamily(
        "bigcode_tag", rf"<(?P<bigcode>{_alternatives(BIGCODE_TYPES)})>", None,
        "BigCode/StarCoder PII redaction: <NAME>, <EMAIL>, <KEY>, <PASSWORD>",
        typer=lambda m: BIGCODE_TYPES[m.group("bigcode")], triggers=tuple(f"<{t}>" for t in BIGCODE_TYPES),
    ),
    TraceFamily(
        "curly_placeholder", rf"\{{\{{\s*(?P<curly>{_alternatives(CURLY_LABELS)})\s*\}}\}}", None,
        "NeMo-Curator-style {{name}}, {{email}} placeholders (template code like {{ item.price }} is not caught)",
        typer=_label_type(CURLY_LABELS, "curly"), flags=re.IGNORECASE, triggers=("{{",),
    ),
    TraceFamily(
        "bracket_label", rf"\[(?P<bracket>{_alternatives(BRACKET_LABELS)})\](?!\()", None,
        "[NAME], [REDACTED], [PII], [removed] (markdown links [text](url) are not caught)",
        typer=_label_type(BRACKET_LABELS, "bracket"), flags=re.IGNORECASE, triggers=("[",),
    ),
    TraceFamily(
        "ssn_mask", r"\b[Xx]{3}-[Xx]{2}-[Xx]{4}\b|\*{3}-\*{2}-\*{4}", "US_SSN",
        "masked SSNs: XXX-XX-XXXX, ***-**-****", triggers=("XX-XXXX", "xx-xxxx", "**-****"),
    ),
    TraceFamily(
        "phone_mask", r"\(XXX\)\s?XXX-XXXX|\bXXX-XXX-XXXX\b", "PHONE_NUMBER",
        "masked phone numbers: (XXX) XXX-XXXX, XXX-XXX-XXXX", triggers=("XXX-XXXX",),
    ),
    TraceFamily(
        "card_mask", r"\b(?:X{4}[- ]?){3}\d{4}\b", "CREDIT_CARD",
        "masked card numbers that keep the last four digits: XXXX-XXXX-XXXX-1234", triggers=("XXXX",),
    ),
    TraceFamily(
        "x_mask", r"\b(?:X{4}[- ]?){1,3}X{4}\b|\bX{4,}\b", None,
        "masked numbers after a cue word: account XXXX, ending in XXXX, MRN XXXXXX (RFC XXXX is not caught)",
        triggers=("XXXX",), accept=lambda text, start, end: bool(_NUMBER_CUE.search(text[max(0, start - 30) : start])),
    ),
    TraceFamily(
        "asterisk_mask", r"(?<=[A-Za-z.,] )\*{3,}(?= [A-Za-z]|[,.;:](?:\s|$))", None,
        "Philter-style ***** masks standing for a word in prose (Patient ***** was seen); rules, footnote "
        "marks (***) and ASCII art are not caught",
        triggers=("***",),
    ),
)

_NUMBER_CUE = re.compile(
    r"(?:account|acct|card|ssn|social security|phone|tel|fax|number|no\.|#|\bid|ending in|ends in|last four|mrn|"
    r"license|licence|passport|policy|member)\s*:?\s*$", re.IGNORECASE)
_FORM_CUES = re.compile(r"fill(?:\s|-)?in|\bblanks?\b|\banswers?\s*:|_{4,}", re.IGNORECASE)


# --- context inference ---------------------------------------------------------------------

_BEFORE = (
    (re.compile(r"\b(?:dr|mr|mrs|ms|miss|prof|doctor|patient|pt|name|signed|attending|resident|nurse|by)\.?\s*:?\s*$",
                re.IGNORECASE), "PERSON"),
    (re.compile(r"\b(?:tel|telephone|phone|ph|call|pager|fax|cell|mobile|beeper)\.?\s*(?:no\.?|number|#)?\s*:?\s*$",
                re.IGNORECASE), "PHONE_NUMBER"),
    (re.compile(r"\b(?:mrn|mr#|unit no|record|account|acct|id|ssn)\s*[:#]?\s*$", re.IGNORECASE), "ID_NUMBER"),
    (re.compile(r"\b(?:dob|birth|born)\s*:?\s*$", re.IGNORECASE), "DATE_OF_BIRTH"),
    (re.compile(r"\b(?:date|dated|on|since|until|admitted|discharged|admission|discharge|from|to|"
                r"january|february|march|april|may|june|july|august|september|october|november|december)"
                r"\s*:?\s*$", re.IGNORECASE), "DATE"),
    (re.compile(r"\b(?:email|e-mail)\s*:?\s*$", re.IGNORECASE), "EMAIL_ADDRESS"),
    (re.compile(r"\b(?:at|in|to|from)\s+the\s*$|\bhospital\s*:?\s*$", re.IGNORECASE), "HOSPITAL"),
)
_AFTER = (
    (re.compile(r"^\s*(?:-|\s)?(?:year|yr|y/o|yo\b|y\.o\.|month|week|day)s?[- ]old", re.IGNORECASE), "AGE"),
    (re.compile(r"^\s*(?:-|\s)?(?:yo|y/o|y\.o\.)\b", re.IGNORECASE), "AGE"),
    (re.compile(r"^:\d{2}\b"), "HOUR"),
    (re.compile(r"^\s*(?:hospital|medical center|clinic|infirmary)\b", re.IGNORECASE), "HOSPITAL"),
    (re.compile(r"^\s*,\s*(?:md|m\.d\.|rn|np|pa|do|phd)\b", re.IGNORECASE), "PERSON"),
    (re.compile(r"^\s*(?:at|@)\s*\d{1,2}(?::\d{2})?\s*(?:am|pm)?\b", re.IGNORECASE), "DATE"),
)
_GLUED_WORD = re.compile(r"[A-Za-z]+-$")
_CONTEXT = 40  # characters of context looked at on each side


def infer_type(text: str, start: int, end: int) -> Optional[str]:
    """The entity type a typeless marker at ``text[start:end]`` stands for, from its context, or None."""
    before = text[max(0, start - _CONTEXT) : start]
    after = text[end : end + _CONTEXT]
    if _GLUED_WORD.search(before):  # Swan-___ (Swan-Ganz): de-id took a surname out of a word
        return "LAST_NAME"
    for pattern, entity_type in _AFTER:
        if pattern.search(after):
            return entity_type
    for pattern, entity_type in _BEFORE:
        if pattern.search(before):
            return entity_type
    return None


# --- finding and replacing -----------------------------------------------------------------


@dataclass(frozen=True)
class ExtraFamily:
    """A user-defined trace family (config ``traces.extra_families``)."""

    name: str = field(default="", metadata={"nonempty": True})
    regex: str = field(default="", metadata={"nonempty": True})
    entity_type: str = field(default="", metadata={"help": "the type it stands for; empty: infer from context"})


@dataclass(frozen=True)
class TracesConfig:
    enabled: bool = field(default=True, metadata={"help": "find and replace de-identification markers"})
    operator: Literal["surrogate", "remove", "keep"] = field(default="surrogate")
    families: tuple[str, ...] = field(
        default=tuple(f.name for f in CATALOGUE), metadata={"help": "catalogue families to look for"})
    extra_families: tuple[ExtraFamily, ...] = field(default=())

    def __post_init__(self):
        known = {f.name for f in CATALOGUE}
        unknown = [name for name in self.families if name not in known]
        if unknown:
            raise ValueError(f"unknown trace families {unknown}; allowed: {', '.join(sorted(known))}")
        for extra in self.extra_families:
            try:
                re.compile(extra.regex)
            except re.error as err:
                raise ValueError(f"extra family {extra.name!r} has an invalid regex: {err}") from None


@dataclass(frozen=True)
class Marker:
    family: str
    start: int
    end: int
    entity_type: Optional[str]


class TraceFinder:
    """Finds catalogued markers. Build once, reuse.

    Each family runs only on texts that contain one of its triggers, with
    its own regex (each starts with a literal, which the regex engine scans
    for quickly); overlapping matches of different families resolve to the
    leftmost, then the longest.
    """

    def __init__(self, config: TracesConfig = TracesConfig()):
        chosen = [f for f in CATALOGUE if f.name in config.families]
        chosen += [TraceFamily(e.name, e.regex, e.entity_type or None, "user-defined") for e in config.extra_families]
        self.families = [(family, re.compile(family.pattern, family.flags)) for family in chosen]

    def find(self, text: str) -> list[Marker]:
        """Every marker in ``text``, in order, with its type (from the family, the match or context)."""
        matches = []
        for family, regex in self.families:
            if family.triggers and not any(trigger in text for trigger in family.triggers):
                continue
            matches.extend((m.start(), -m.end(), family, m) for m in regex.finditer(text))
        matches.sort(key=lambda item: (item[0], item[1]))
        form_like = None
        markers, cursor = [], 0
        for start, neg_end, family, match in matches:
            end = -neg_end
            if start < cursor:
                continue
            if family.name == "mimic_blank":
                if form_like is None:
                    form_like = bool(_FORM_CUES.search(text))
                if form_like:
                    continue
            if family.accept is not None and not family.accept(text, start, end):
                continue
            entity_type = family.entity_type or (family.typer(match) if family.typer else None)
            if entity_type is None:
                entity_type = infer_type(text, start, end)
            markers.append(Marker(family.name, start, end, entity_type))
            cursor = end
        return markers


_CLOSERS = ",.;:!?)]"


def _without_dangling_space(before: str, next_char: str) -> str:
    """The text before a dropped marker, minus the space that would now double or precede punctuation."""
    if before.endswith((" ", "\t")) and (next_char == "" or next_char in " \t\n" or next_char in _CLOSERS):
        return before.rstrip(" \t")
    return before


def _hour(doc_id: str, marker: str, key_digest: Callable[[str, str], str]) -> str:
    return f"{int(key_digest('HOUR', doc_id + marker)[:4], 16) % 12 + 1:02d}"


def replace_markers(text: str, markers: list[Marker], operator: str, doc_id: str,
                    generator) -> tuple[str, list[list]]:
    """``text`` with every marker replaced by ``operator``, and the surrogates written as sensitive items.

    ``generator`` is a SurrogateGenerator. Items are ``[start, end,
    entity_type, "trace"]`` in the new text (``sanitize.sensitive``), the
    type under its canonical name (``US_PASSPORT`` counts as ``ID_NUMBER``). A
    marker is dropped (``remove``, or ``surrogate`` with no inferable type)
    together with a space that would otherwise be doubled or stand before
    punctuation, and with brackets it leaves empty: ``seen on ___.`` becomes
    ``seen on.``, ``ward (___) today`` becomes ``ward today``.
    """
    if operator == "keep" or not markers:
        return text, []
    out: list[str] = []
    items: list[list] = []
    cursor, length = 0, 0
    for marker in markers:
        before = text[cursor : marker.start]
        end = marker.end
        replacement = ""
        if operator == "surrogate" and marker.entity_type is not None:
            original = text[marker.start : marker.end]
            if marker.entity_type == "HOUR":
                replacement = _hour(doc_id, original, generator.hmac_hex)
            else:
                replacement = generator.surrogate(marker.entity_type, original, doc_id)
        if not replacement:
            if before.endswith(("(", "[")) and text[end : end + 1] in (")", "]"):
                before, end = before[:-1], end + 1
            before = _without_dangling_space(before, text[end : end + 1])
        length += len(before)
        if replacement:
            entity_type = marker.entity_type if marker.entity_type == "HOUR" else canonical_entity_type(marker.entity_type)
            items.append([length, length + len(replacement), entity_type, "trace"])
        length += len(replacement)
        out.append(before)
        out.append(replacement)
        cursor = end
    out.append(text[cursor:])
    return "".join(out), items


def marker_form(text: str, marker: Marker) -> str:
    """A marker's shape for reports: digits masked, element contents elided."""
    raw = text[marker.start : marker.end]
    if marker.family == "i2b2_xml":
        raw = re.sub(r">[^<]*<", ">…<", raw)
    return re.sub(r"\d", "9", raw)


def scrub_traces(text: str, doc_id: str, config: TracesConfig, finder: TraceFinder,
                 generator) -> tuple[str, dict, dict, list[list]]:
    """(new text, markers found per family, markers left per family, sensitive items) for one document."""
    markers = finder.find(text)
    found = Counter(m.family for m in markers)
    new_text, items = replace_markers(text, markers, config.operator, doc_id, generator)
    left = found if config.operator == "keep" else Counter(m.family for m in finder.find(new_text))
    return new_text, dict(found), dict(left), items


# --- Beam ----------------------------------------------------------------------------------


class _Scrub(beam.DoFn):
    def __init__(self, config: TracesConfig, key_factory):
        self.config = config
        self.key_factory = key_factory

    def setup(self):
        from sanitize.surrogates import SurrogateGenerator

        self.finder = TraceFinder(self.config)
        self.generator = SurrogateGenerator(self.key_factory())
        self.busy_us = beam.metrics.Metrics.counter(STAGE, "busy_us")

    def process(self, doc):
        start = time.perf_counter()
        text, found, left, items = scrub_traces(doc["text"], doc["id"], self.config, self.finder, self.generator)
        self.busy_us.inc(int((time.perf_counter() - start) * 1e6))
        yield {**doc, "text": text, "trace_counts": found, "_traces_left": left, SENSITIVE: items}


class _TraceTotals(beam.CombineFn):
    def create_accumulator(self):
        return Counter(), Counter(), 0

    def add_input(self, acc, doc):
        before, after, docs = acc
        before.update(doc["trace_counts"])
        after.update(doc["_traces_left"])
        return before, after, docs + (1 if doc["trace_counts"] else 0)

    def merge_accumulators(self, accs):
        before, after, docs = Counter(), Counter(), 0
        for b, a, d in accs:
            before.update(b)
            after.update(a)
            docs += d
        return before, after, docs

    def extract_output(self, acc):
        before, after, docs = acc
        return {"before": dict(sorted(before.items())), "after": dict(sorted(after.items())),
                "documents_with_traces": docs}


class ScrubTraces(beam.PTransform):
    """Documents in; ``{"docs": with trace_counts, "removed": none, "stats"}`` out.

    ``key_factory`` builds the surrogate key on each worker (a callable, so
    that a key read from the environment or a file never travels in the
    pipeline graph).
    """

    def __init__(self, config: TracesConfig, key_factory):
        super().__init__()
        self.config = config
        self.key_factory = key_factory

    def expand(self, docs):
        scrubbed = docs | "Scrub" >> beam.ParDo(_Scrub(self.config, self.key_factory))
        stats = scrubbed | "Totals" >> beam.CombineGlobally(_TraceTotals())
        out = scrubbed | "DropLeft" >> beam.Map(lambda d: {k: v for k, v in d.items() if k != "_traces_left"})
        removed = docs.pipeline | "NoRemovals" >> beam.Create([])
        return {"docs": out, "removed": removed, "stats": stats}
