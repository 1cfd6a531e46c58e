"""`demem traces`: survey a corpus for de-identification traces, writing nothing.

For each trace family: how many markers, the share of documents that carry
one, the share of whitespace tokens the markers occupy, and the most
frequent marker *forms* (digits masked, element contents elided, so the
table shows shapes, never values). This is the analysis of "The Devil is in
the Prompts", for any corpus.

Runs in this process over the files the patterns match (through Beam's
FileSystems, so any Beam URI works); use a glob over a sample of shards for
corpora too large to scan on one core (~20 MB/s).
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict

from apache_beam.pvalue import TaggedOutput

from pipelines.read import InputConfig, ReadFile, expand_patterns
from pipelines.validate import ValidationConfig
from sanitize.traces import TraceFinder, TracesConfig, marker_form


def survey(patterns: list[str], config: TracesConfig = TracesConfig(), input_config: InputConfig = InputConfig(),
           top: int = 5) -> dict:
    """Counts per family over every readable document matched by ``patterns``."""
    finder = TraceFinder(config)
    reader = ReadFile(input_config, ValidationConfig())
    reader.setup()
    documents = tokens = 0
    markers, docs_with, tokens_in = Counter(), Counter(), Counter()
    forms: dict[str, Counter] = defaultdict(Counter)
    for path in expand_patterns(patterns):
        for record in reader.process(path):
            if isinstance(record, TaggedOutput):  # a quarantined record: nothing to survey
                continue
            text = record["text"]
            documents += 1
            tokens += len(text.split())
            found = finder.find(text)
            for family in {m.family for m in found}:
                docs_with[family] += 1
            for marker in found:
                markers[marker.family] += 1
                tokens_in[marker.family] += max(1, len(text[marker.start : marker.end].split()))
                forms[marker.family][marker_form(text, marker)] += 1
    return {
        "documents": documents,
        "tokens": tokens,
        "families": {
            family: {
                "markers": count,
                "document_share": docs_with[family] / documents if documents else 0.0,
                "token_share": tokens_in[family] / tokens if tokens else 0.0,
                "top_forms": forms[family].most_common(top),
            }
            for family, count in markers.most_common()
        },
    }


def format_survey(result: dict) -> str:
    lines = [f"{result['documents']:,d} documents, {result['tokens']:,d} whitespace tokens", ""]
    if not result["families"]:
        return "\n".join(lines + ["no de-identification traces found"])
    lines.append(f"{'family':<18} {'markers':>10} {'% docs':>8} {'% tokens':>9}  most frequent forms")
    for family, row in result["families"].items():
        forms = ", ".join(f"{form!r}×{n}" for form, n in row["top_forms"])
        lines.append(f"{family:<18} {row['markers']:>10,d} {100 * row['document_share']:>7.2f}% "
                     f"{100 * row['token_share']:>8.3f}%  {forms}")
    return "\n".join(lines)


def survey_json(result: dict) -> str:
    return json.dumps(result, indent=2, sort_keys=True)
