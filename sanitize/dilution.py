"""Frequency dilution: corpus-wide caps on how often one sensitive value may occur.

Why: memorization grows with how often a value is seen relative to the size
of the corpus (Hubble; Carlini et al.; "Scaling Laws ... Repeated Data").
Dedup bounds repeated documents and spans, not a phone number or a kept
public name that recurs across thousands of different documents; this stage
does.

Contract:

* The items are the sensitive values the trace and PII stages wrote or left
  (``sanitize.sensitive``: surrogates, ``hash`` digests, allow-listed
  values), restricted to ``types``. Each occurrence is counted under a keyed
  hash of its type and normal form (:func:`normal_form`: a phone number's
  digits, a card's or IBAN's letters and digits, other values case-folded
  with spaces collapsed; HMAC-SHA256 with the surrogate key in its own
  domain, 128 bits): no value crosses a shuffle, a log line or the report.
* The cap is ``max_occurrences`` and/or ``per_million_tokens`` × the
  stage's input size in millions of whitespace tokens (at least 1; the
  stage changes few tokens, and canaries, added later, are left out); with
  both set, the smaller holds; with neither, the stage only counts.
* ``max_copies`` (read by exact and near dedup) and ``order`` (read by
  ``pipelines.order``) apply whether or not ``enabled`` is on.
* An item over the cap keeps its first ``cap`` occurrences in corpus order
  (source, position, then place in the document); every later occurrence is
  replaced by a fresh surrogate of its type (``sanitize.surrogates`` with
  salt ``dilution/<run>/<attempt>``). A draw that hits a *crowded* item,
  one with at least half the cap (and at least 2) occurrences, is redrawn;
  inside one document each run of half the cap (:func:`run_length`)
  replaced occurrences of a value shares one replacement, so coreference
  survives and a replacement plus what was there stays under the cap. A
  ``hash`` digest is replaced by a fresh digest of the same length.
  Replacements from different documents may still land on one value (a
  name type's pool holds some thousands of names), so the count and the
  replacement run again, ``rounds`` times in all (salt ``<round>.<run>``);
  what a last round leaves over the cap, the "after" table shows. No round
  can help where the cap is below occurrences / pool size. The
  result is the same on any number of workers and in every run.
* Stats (report.json ``stages.dilution``): the cap, the rounds, the corpus
  size in tokens, and per type, before and after: distinct items,
  occurrences, max and p99 occurrences per item, items over the cap, and
  replacements made (over all rounds). "After" is counted again on the
  output, not assumed: a replacement that happens to equal another value is
  seen. The stage removes no document.

Scale: every occurrence (a 32-character hash plus its corpus position)
crosses one GroupByKey per round; memory per item is O(cap) on runners that stream
grouped values (Dataflow, Flink, Spark). Every worker holds, as a side
input, the crowded items (about 100 bytes each: at most 2 × occurrences /
cap of them).
"""
from __future__ import annotations

import heapq
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import apache_beam as beam

from sanitize.sensitive import KEY as SENSITIVE
from sanitize.sensitive import apply_edits

STAGE = "dilution"
HASH_HEX = 32
REDRAWS = 8

# Types whose values identify someone. Left out by default: dates, ages,
# locations, organizations and hospitals, which are public or have so few
# values that a cap could not hold (a corpus of ages repeats every age).
IDENTIFYING_TYPES = ("PERSON", "FIRST_NAME", "LAST_NAME", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN",
                     "IBAN_CODE", "IP_ADDRESS", "URL", "STREET_ADDRESS", "DATE_OF_BIRTH", "SECRET", "ID_NUMBER")


@dataclass(frozen=True)
class DilutionConfig:
    """Caps on repeated sensitive values, near-duplicate copies kept, and training order."""

    enabled: bool = field(default=True, metadata={"help": "count sensitive values corpus-wide and cap them"})
    max_occurrences: int = field(default=100, metadata={
        "min": 0, "help": "occurrences any one value may keep in the corpus (0: no absolute cap)"})
    per_million_tokens: float = field(default=0.0, metadata={
        "min": 0.0, "help": "occurrences per million whitespace tokens of the corpus (0: off)"})
    types: tuple[str, ...] = field(default=IDENTIFYING_TYPES, metadata={"help": "entity types that are counted"})
    rounds: int = field(default=2, metadata={
        "min": 1, "max": 8, "help": "count-and-replace passes (a second one catches replacements that collided)"})
    max_copies: int = field(default=1, metadata={
        "min": 1, "help": "members kept per exact-duplicate group and near-duplicate cluster (first in corpus order)"})
    order: Literal["shuffle", "sensitive_first"] = field(default="shuffle", metadata={
        "help": "training order of the data shards: seeded shuffle, or documents with sensitive values first"})

    def __post_init__(self):
        from sanitize.surrogates import ENTITY_TYPES

        unknown = sorted(set(self.types) - set(ENTITY_TYPES))
        if unknown:
            raise ValueError(f"unknown types {', '.join(unknown)}; known: {', '.join(ENTITY_TYPES)}")

    def cap(self, tokens: int) -> int | None:
        """Occurrences one value may keep in a corpus of ``tokens`` whitespace tokens; None: no cap."""
        caps = []
        if self.max_occurrences:
            caps.append(self.max_occurrences)
        if self.per_million_tokens:  # exact: 2.3 per million of 100M tokens is 230, not 229.99...
            caps.append(max(1, math.floor(Fraction(repr(self.per_million_tokens)) * tokens / 10**6)))
        return min(caps) if caps else None


# --- one document -----------------------------------------------------------------------------


_DIGITS = re.compile(r"\D+")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_SPACES = re.compile(r"\s+")


def normal_form(entity_type: str, value: str) -> str:
    """What makes two spellings of one value the same item: ``(202) 555-0143`` is ``202.555.0143``."""
    if entity_type == "PHONE_NUMBER":
        return _DIGITS.sub("", value)
    if entity_type in ("CREDIT_CARD", "US_SSN", "IBAN_CODE", "ID_NUMBER"):
        return _NOT_ALNUM.sub("", value).upper()
    if entity_type == "SECRET":
        return value
    return _SPACES.sub(" ", value.strip()).casefold()


def item_hash(generator, entity_type: str, value: str) -> str:
    """The keyed hash one value is counted under (same in every document, never reversible without the key)."""
    return generator.hmac_hex(f"dilution/{entity_type}", normal_form(entity_type, value), length=HASH_HEX)


def occurrences(doc: dict, types: frozenset, generator):
    """``(item hash, (type, source, position, index))`` for each counted item of ``doc``, in text order."""
    text = doc["text"]
    for index, (s, e, entity_type, _origin) in enumerate(doc.get(SENSITIVE, ())):
        if entity_type in types:
            yield item_hash(generator, entity_type, text[s:e]), (entity_type, doc["source"], doc["position"], index)


def fresh_value(generator, entity_type: str, origin: str, value: str, doc_id: str, run: str, avoid) -> str:
    """A replacement for ``value``: a surrogate of its type (a digest for a digest) whose hash is not in ``avoid``.

    ``run`` names the round and the run (:func:`run_length`) of replaced
    occurrences of one value in one document: a run shares its replacement
    (coreference survives), the next run gets another.
    """
    for attempt in range(REDRAWS):
        salt = f"dilution/{run}/{attempt}"
        if origin == "hash":
            new = generator.hmac_hex(entity_type, f"{doc_id}\0{value}\0{salt}", length=len(value))
        else:
            new = generator.surrogate(entity_type, value, doc_id, salt=salt)
        if item_hash(generator, entity_type, new) not in avoid:
            return new
    return new


def dilute(doc: dict, types: frozenset, cutoffs: dict, cap: int | None, generator,
           round_: int = 0) -> tuple[dict, Counter]:
    """``doc`` with each occurrence past its item's cutoff replaced; and replacements per type.

    ``cutoffs`` maps each crowded item's hash to the corpus position
    ``(source, position, index)`` of the last occurrence it keeps, or to
    None when it is under the cap (never replaced, never drawn).
    """
    if not cutoffs or not doc.get(SENSITIVE):
        return doc, Counter()
    text, edits, replaced, runs = doc["text"], [], Counter(), Counter()
    here = (doc["source"], doc["position"])
    for index, (s, e, entity_type, origin) in enumerate(doc[SENSITIVE]):
        if entity_type not in types:
            continue
        item = item_hash(generator, entity_type, text[s:e])
        cutoff = cutoffs.get(item)
        if cutoff is not None and (*here, index) > tuple(cutoff):  # None: crowded but under the cap
            run = f"{round_}.{runs[item] // run_length(cap)}"
            runs[item] += 1
            new = fresh_value(generator, entity_type, origin, text[s:e], doc["id"], run, cutoffs)
            edits.append((s, e, new, (entity_type, "dilution")))
            replaced[entity_type] += 1
    if not edits:
        return doc, replaced
    new_text, items = apply_edits(text, edits, doc[SENSITIVE])
    return {**doc, "text": new_text, SENSITIVE: items}, replaced


def run_length(cap: int) -> int:
    """Replaced occurrences of one value in one document that share a replacement: half the cap."""
    return max(1, cap // 2)


def crowded(count: int, cap: int | None) -> bool:
    """Whether an item with ``count`` occurrences is one replacements must avoid: at least half the cap, and 2."""
    return cap is not None and count >= max(2, -(-cap // 2))


def tally(positions, cap: int | None) -> tuple[str, int, tuple | None]:
    """(type, occurrences, cutoff) of one item from its ``(type, source, position, index)`` occurrences.

    The cutoff is the position of the ``cap``-th occurrence in corpus order
    when there are more than ``cap``, else None. One pass; memory O(cap).
    """
    entity_type, count = None, 0

    def counted():
        nonlocal entity_type, count
        for entity_type, *position in positions:
            count += 1
            yield tuple(position)

    if cap is None:
        for _ in counted():
            pass
        return entity_type, count, None
    first = heapq.nsmallest(cap, counted())  # consumes every occurrence, keeps cap of them
    return entity_type, count, (first[-1] if count > cap else None)


# --- frequency statistics ------------------------------------------------------------------------


def summary(histogram: Counter, cap: int | None) -> dict:
    """Items, occurrences, max, p99 and items over the cap from ``{occurrences per item: items}``."""
    items = sum(histogram.values())
    if not items:
        return {"items": 0, "occurrences": 0, "max": 0, "p99": 0, "over_cap": 0}
    rank, p99 = math.ceil(0.99 * items), 0
    seen = 0
    for count in sorted(histogram):
        seen += histogram[count]
        if seen >= rank:
            p99 = count
            break
    return {
        "items": items,
        "occurrences": sum(c * n for c, n in histogram.items()),
        "max": max(histogram),
        "p99": p99,
        "over_cap": sum(n for c, n in histogram.items() if cap is not None and c > cap),
    }


class _Histograms(beam.CombineFn):
    """(type, occurrences of one item) -> {type: {occurrences: items}}."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, pair):
        entity_type, count = pair
        acc.setdefault(entity_type, Counter())[count] += 1
        return acc

    def merge_accumulators(self, accs):
        out = {}
        for acc in accs:
            for entity_type, histogram in acc.items():
                out.setdefault(entity_type, Counter()).update(histogram)
        return out

    def extract_output(self, acc):
        return acc


def stage_stats(tokens: int, cap: int | None, rounds: int, before: dict, after: dict, replaced: dict) -> dict:
    """The report's dilution section: counts only, no value and no hash (replacements summed over rounds)."""
    types = sorted(set(before) | set(after))
    return {
        "cap": cap,
        "rounds": rounds,
        "whitespace_tokens": tokens,
        "occurrences_replaced": sum(replaced.values()),
        "by_type": {
            t: {"before": summary(before.get(t, Counter()), cap), "after": summary(after.get(t, Counter()), cap),
                "replaced": replaced.get(t, 0)}
            for t in types
        },
    }


# --- Beam ----------------------------------------------------------------------------------------


class _WithGenerator(beam.DoFn):
    """A DoFn that builds a SurrogateGenerator from ``key_factory`` once per worker."""

    def __init__(self, types: tuple, key_factory):
        self.types, self.key_factory = frozenset(types), key_factory

    def setup(self):
        from sanitize.surrogates import SurrogateGenerator

        self.generator = SurrogateGenerator(self.key_factory())


class _Occurrences(_WithGenerator):
    def process(self, doc):
        yield from occurrences(doc, self.types, self.generator)


class _Tally(beam.DoFn):
    CROWDED = "crowded"

    def process(self, grouped, cap):
        item, positions = grouped
        entity_type, count, cutoff = tally(positions, cap)
        yield entity_type, count
        if crowded(count, cap):
            yield beam.pvalue.TaggedOutput(self.CROWDED, (item, cutoff))


class _Dilute(_WithGenerator):
    REPLACED = "replaced"

    def __init__(self, types: tuple, key_factory, round_: int):
        super().__init__(types, key_factory)
        self.round = round_

    def setup(self):
        super().setup()
        self.busy_us = beam.metrics.Metrics.counter(STAGE, "busy_us")

    def process(self, doc, cutoffs, cap):
        start = time.perf_counter()
        doc, replaced = dilute(doc, self.types, cutoffs, cap, self.generator, self.round)
        self.busy_us.inc(int((time.perf_counter() - start) * 1e6))
        for entity_type, n in replaced.items():
            yield beam.pvalue.TaggedOutput(self.REPLACED, (entity_type, n))
        yield doc


class DiluteFrequencies(beam.PTransform):
    """Documents with sensitive items in; ``{"docs", "removed": none, "stats": one dict}`` out.

    ``key_factory`` builds the surrogate key on each worker (the key never
    travels in the pipeline graph).
    """

    def __init__(self, config: DilutionConfig, key_factory):
        super().__init__()
        self.config, self.key_factory = config, key_factory

    def expand(self, docs):
        config, key, types = self.config, self.key_factory, self.config.types
        tokens = (docs | "Tokens" >> beam.Map(lambda doc: len(doc["text"].split()))
                  | "SumTokens" >> beam.CombineGlobally(sum))
        cap = tokens | "Cap" >> beam.Map(config.cap)
        current, before, replaced = docs, None, []
        for round_ in range(config.rounds):
            tallied = (
                current
                | f"Occurrences[{round_}]" >> beam.ParDo(_Occurrences(types, key))
                | f"ByItem[{round_}]" >> beam.GroupByKey()
                | f"Tally[{round_}]" >> beam.ParDo(_Tally(), cap=beam.pvalue.AsSingleton(cap))
                .with_outputs(_Tally.CROWDED, main="counts")
            )
            before = tallied["counts"] if before is None else before
            diluted = current | f"Dilute[{round_}]" >> beam.ParDo(
                _Dilute(types, key, round_), cutoffs=beam.pvalue.AsDict(tallied[_Tally.CROWDED]),
                cap=beam.pvalue.AsSingleton(cap),
            ).with_outputs(_Dilute.REPLACED, main="docs")
            current = diluted["docs"]
            replaced.append(diluted[_Dilute.REPLACED])
        after = (
            current
            | "Recount" >> beam.ParDo(_Occurrences(types, key))
            | "ItemAndType" >> beam.Map(lambda pair: ((pair[0], pair[1][0]), None))
            | "CountAfter" >> beam.combiners.Count.PerKey()
            | "TypeCount" >> beam.Map(lambda pair: (pair[0][1], pair[1]))
        )
        stats = (
            tokens
            | "Stats" >> beam.Map(
                stage_stats,
                cap=beam.pvalue.AsSingleton(cap),
                rounds=config.rounds,
                before=beam.pvalue.AsSingleton(before | "Before" >> beam.CombineGlobally(_Histograms())),
                after=beam.pvalue.AsSingleton(after | "After" >> beam.CombineGlobally(_Histograms())),
                replaced=beam.pvalue.AsDict(
                    replaced | "AllReplaced" >> beam.Flatten() | "Replaced" >> beam.CombinePerKey(sum)),
            )
        )
        return {"docs": current, "removed": docs.pipeline | "NoRemovals" >> beam.Create([]), "stats": stats}
