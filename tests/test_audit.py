"""Audit: exposure math against hand-computed values and TF-Privacy's algorithm, the scorer interface,
an honest end-to-end run (canaries at 1x and 100x, an n-gram model trained here, audited), and the
transformers adapter on a tiny model trained in the test."""
from __future__ import annotations

import datetime as dt
import importlib.util
import io
import json
import math
import sys
import random
from collections import defaultdict

import numpy as np
import pytest
from scipy import stats
from scipy.special import log_ndtr

from sanitize import canaries as cn
from sanitize.audit import (
    AuditError,
    TransformersScorer,
    audit,
    audit_command,
    exposure_extrapolation,
    exposure_interpolation,
    format_table,
    greedy_reproduces,
    log_perplexity,
    plot_exposure,
    rank_among,
    skewnorm_logcdf,
)
from sanitize.canaries import CanaryConfig, ProfileCanaries, SecretCanaries, TrapCanaries, insert_canaries
from schemas.canary import Manifest, read_manifest, write_manifest

# --- exposure math ----------------------------------------------------------------------------

REFS = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]


def test_rank_and_interpolated_exposure_by_hand():
    assert rank_among(0.5, REFS) == 1 and exposure_interpolation(0.5, REFS) == pytest.approx(3.0)
    # a tie with the reference 3.0: pessimistic puts it before the canary (rank 4), average half (3.5)
    assert rank_among(3.0, REFS) == 4 and exposure_interpolation(3.0, REFS) == pytest.approx(1.0)
    assert rank_among(3.0, REFS, "average") == 3.5
    assert exposure_interpolation(3.0, REFS, "average") == pytest.approx(3 - 1.807354922)
    assert exposure_interpolation(100.0, REFS) == pytest.approx(3 - 3.169925001)  # last: slightly negative
    assert exposure_interpolation(2.0, [2.0] * 4) == pytest.approx(2 - 2.321928095)  # all tied, pessimistic
    assert exposure_interpolation(2.0, [2.0] * 4, "average") == pytest.approx(2 - 1.584962501)
    assert rank_among(3.0 + 1e-12, REFS) == 4  # float noise from summing in another order is a tie
    assert log_perplexity([math.log(0.5)] * 3) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        rank_among(1.0, REFS, "optimistic")


def _tf_privacy_interpolation(secrets: list[float], references: list[float]) -> list[float]:
    """TF-Privacy's compute_exposure_interpolation, restated: ties put references first."""
    concat = [(p, -1) for p in references] + [(p, 0) for p in secrets]
    indices = np.array([i for _, i in sorted(concat)])
    ranks = np.cumsum(indices == -1)[indices == 0] + 1
    return sorted(np.log2(len(references)) - np.log2(ranks))


def test_interpolation_matches_tf_privacy_including_ties():
    rng = random.Random(3)
    for _ in range(50):
        references = [round(rng.gauss(50, 5), 0) for _ in range(rng.randint(5, 200))]  # rounded: many ties
        secrets = [round(rng.gauss(45, 8), 0) for _ in range(7)]
        mine = sorted(exposure_interpolation(s, references) for s in secrets)
        assert mine == pytest.approx(_tf_privacy_interpolation(secrets, references))


def test_extrapolation_by_hand_and_against_the_tf_privacy_formula():
    # a normal (shape 0) with loc 10, scale 2: a canary at 6 is z = -2, Phi(-2) = 0.0227501319
    assert exposure_extrapolation(6.0, [], fit=(0.0, 10.0, 2.0)) == pytest.approx(-math.log2(0.0227501319), abs=1e-6)
    assert exposure_extrapolation(6.0, [], fit=(0.0, 10.0, 2.0)) == pytest.approx(5.458, abs=1e-3)
    references = stats.skewnorm.rvs(3, loc=50, scale=5, size=400, random_state=np.random.RandomState(1)).tolist()
    fitted = stats.skewnorm.fit(references)
    for canary in (30.0, 45.0, 55.0):
        assert exposure_extrapolation(canary, references) == pytest.approx(
            -np.log2(stats.skewnorm.cdf(canary, *fitted)), rel=1e-4)
    assert exposure_extrapolation(5.0, [5.0, 5.0, 5.0]) is None  # nothing to fit


def test_extrapolation_stays_finite_deep_in_the_tail():
    # Phi(-40) underflows to 0 (TF-Privacy would return inf); log_ndtr gives it exactly
    assert exposure_extrapolation(-40.0, [], fit=(0.0, 0.0, 1.0)) == pytest.approx(-log_ndtr(-40.0) / math.log(2),
                                                                                   rel=1e-6)
    assert exposure_extrapolation(-40.0, [], fit=(0.0, 0.0, 1.0)) == pytest.approx(1160.8, abs=0.1)
    # skewed (a = 4): log F(z) ~ -(1 + a^2) z^2 / 2 - log(pi a (1 + a^2) z^2) as z -> -inf
    z, a = -10.0, 4.0
    asymptote = -(1 + a * a) * z * z / 2 - math.log(math.pi * a * (1 + a * a) * z * z)
    assert skewnorm_logcdf(z, a, 0.0, 1.0) == pytest.approx(asymptote, abs=0.05)
    # the tail integral agrees with scipy where scipy's cdf is still representable
    for shape in (-3.0, 0.0, 4.0):
        for x in (-4.0, -3.0, -2.5):
            assert skewnorm_logcdf(x, shape, 0.0, 1.0, tail_threshold=1.0) == pytest.approx(
                math.log(stats.skewnorm.cdf(x, shape)), rel=1e-6)


class FakeScorer:
    """Scores by a table (text -> log-perplexity in bits); cannot decode."""

    def __init__(self, bits: dict[str, float]):
        self.bits = bits

    def score(self, texts):
        return [[-self.bits.get(t, 100.0) * math.log(2)] for t in texts]


class FakeDecoder(FakeScorer):
    """Also completes prefixes greedily, from a table."""

    def __init__(self, bits: dict[str, float], completions: dict[str, str]):
        super().__init__(bits)
        self.completions = completions

    def complete(self, prefixes, max_chars):
        return [self.completions.get(p, "zzz")[:max_chars] for p in prefixes]


def test_greedy_reproduction_moves_trailing_space_into_the_continuation():
    scorer = FakeDecoder({}, {"my PIN is": " 123456. Bye", "code(": "42)"})
    assert greedy_reproduces(scorer, "my PIN is ", "123456") is True
    assert greedy_reproduces(scorer, "my PIN is ", "123457") is False
    assert greedy_reproduces(scorer, "code(", "42") is True
    assert greedy_reproduces(FakeScorer({}), "my PIN is ", "123456") is None  # no complete(): not measured


def _small_manifest(rates=(1, 10), references=30) -> tuple[Manifest, list[cn.Canary]]:
    config = CanaryConfig(enabled=True, replication_rates=rates, references=references,
                          profile=ProfileCanaries(per_rate=1), secret=SecretCanaries(per_rate=1),
                          trap=TrapCanaries(per_rate=1, lengths=(25,)))
    docs = [{"id": f"d{i}", "text": "Some text. More text.", "source": "s", "position": i, "metadata": None}
            for i in range(20)]
    result = insert_canaries(docs, config, 1)
    return Manifest(result.manifest[0], result.manifest[1], result.manifest[2:]), result.canaries


def test_audit_groups_table_json_and_plot(tmp_path):
    manifest, canaries = _small_manifest()
    bits = {}
    for c in canaries:  # 10x canaries beat every reference, 1x ones sit in the middle
        for i, ref in enumerate(c.references):
            bits[ref] = 50.0 + i
        bits[c.text] = 10.0 if c.replication_rate == 10 else 50.0 + 14.5
    report = audit(manifest, FakeScorer(bits), greedy=False)
    by = {(g.family, g.replication_rate): g for g in report.groups}
    assert by[("all", 10)].mean_exposure == pytest.approx(math.log2(30))
    assert by[("all", 1)].mean_exposure == pytest.approx(math.log2(30) - math.log2(16))
    assert by[("secret", 10)].canaries == 1 and by[("all", 1)].canaries == 3
    assert by[("all", 10)].mean_exposure_extrapolated > by[("all", 1)].mean_exposure_extrapolated
    assert by[("all", 1)].reproduced is None
    assert by[("all", 10)].copies_per_million_tokens == pytest.approx(10e6 / manifest.corpus["whitespace_tokens"])
    table, dumped = format_table(report), json.dumps(report.to_json())
    assert "profile" in table and "10x" in table and "log2|R|" in table
    for c in canaries:  # the report names canaries by id only
        assert c.secret not in table + dumped and c.text[:25] not in table + dumped
    pytest.importorskip("matplotlib")
    png = plot_exposure(report, str(tmp_path / "exposure.png"))
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_audit_accepts_a_bare_score_callable_and_checks_its_output():
    manifest, canaries = _small_manifest(rates=(1,), references=10)
    report = audit(manifest, lambda texts: [[-1.0 * len(t)] for t in texts])
    assert len(report.canaries) == 3 and all(c.reproduced is None for c in report.canaries)
    with pytest.raises(AuditError, match="returned 0 results"):
        audit(manifest, lambda texts: [])


def test_transformers_scorer_never_takes_a_hub_id():
    with pytest.raises(AuditError, match="local directory"):
        TransformersScorer("gpt2")


# --- the honest end-to-end test -------------------------------------------------------------


class CharNGram:
    """Character n-gram LM, interpolated absolute discounting (Ney et al.), trained on a list of texts.

    Order 3 (two characters of context) on purpose: contexts are shared by
    many strings, so one copy of a canary barely moves the counts while a
    hundred dominate them, which is how neural LMs behave too (they need
    repetition to memorize). A 5-gram memorizes even single copies of rare
    strings, saturating interpolated exposure at every rate.
    """

    def __init__(self, order: int = 3, discount: float = 0.75):
        self.order, self.discount = order, discount
        self.counts: dict[str, dict[str, int]] = defaultdict(dict)

    def fit(self, texts):
        pad = "\x02" * (self.order - 1)
        vocab = set()
        for text in texts:
            s = pad + text
            vocab.update(text)
            for i in range(len(pad), len(s)):
                for k in range(self.order):
                    row = self.counts[s[i - k:i]]
                    row[s[i]] = row.get(s[i], 0) + 1
        self.vocab = sorted(vocab)
        self.totals = {ctx: (sum(row.values()), len(row)) for ctx, row in self.counts.items()}
        return self

    def prob(self, history: str, char: str) -> float:
        p = 1.0 / (len(self.vocab) + 1)  # unseen characters keep a little mass
        for k in range(self.order):
            ctx = history[len(history) - k:] if k else ""
            if ctx not in self.totals:
                break
            total, distinct = self.totals[ctx]
            p = max(self.counts[ctx].get(char, 0) - self.discount, 0) / total + self.discount * distinct / total * p
        return p

    def score(self, texts):
        pad = "\x02" * (self.order - 1)
        out = []
        for text in texts:
            s = pad + text
            out.append([math.log(self.prob(s[i - self.order + 1:i], s[i])) for i in range(len(pad), len(s))])
        return out

    def complete(self, prefixes, max_chars):
        out = []
        for prefix in prefixes:
            s, generated = "\x02" * (self.order - 1) + prefix, ""
            for _ in range(max_chars):
                history = s[len(s) - self.order + 1:]
                char = max(self.vocab, key=lambda c: self.prob(history, c))
                generated, s = generated + char, s + char
            out.append(generated)
        return out


def _training_corpus() -> list[dict]:
    """A few hundred documents: rendered synthetic people (so digits, names and addresses are common) and prose."""
    reference = dt.date(2025, 1, 1)
    words = cn._word_list()
    rng = random.Random(5)
    docs = []
    for i in range(200):
        profile = cn.make_profile(cn.LOCALES[i % 7], 10_000 + i, reference)
        docs.append({"id": f"doc-{i:04d}", "text": cn.render(profile, cn.CONTENT_TYPES[i % 7], 20_000 + i).text,
                     "source": "people.jsonl", "position": i, "metadata": None})
    for i in range(200, 400):
        text = " ".join(" ".join(rng.choice(words) for _ in range(rng.randint(6, 14))).capitalize() + "."
                        for _ in range(rng.randint(3, 8)))
        docs.append({"id": f"doc-{i:04d}", "text": text, "source": "prose.jsonl", "position": i, "metadata": None})
    return docs


def test_end_to_end_exposure_grows_with_replication(tmp_path):
    config = CanaryConfig(enabled=True, replication_rates=(1, 100), references=100,
                          profile=ProfileCanaries(per_rate=2), secret=SecretCanaries(per_rate=2),
                          trap=TrapCanaries(per_rate=2, lengths=(25, 50)))
    corpus = _training_corpus()
    inserted = insert_canaries(corpus, config, seed=11)
    path = write_manifest(str(tmp_path / "canaries" / "manifest.jsonl"), inserted.manifest)
    model = CharNGram(order=3).fit(d["text"] for d in inserted.docs)  # "training" on the corpus as written
    report = audit(read_manifest(path), model)
    by = {(g.family, g.replication_rate): g for g in report.groups}
    once, often = by[("all", 1)], by[("all", 100)]
    assert once.canaries == often.canaries == 6
    assert often.mean_exposure - once.mean_exposure >= 3.0, format_table(report)
    assert often.mean_exposure >= 0.9 * math.log2(100), format_table(report)
    assert once.mean_exposure <= 4.0, format_table(report)
    for family in ("profile", "secret", "trap"):
        assert by[(family, 100)].mean_exposure > by[(family, 1)].mean_exposure, family
    assert often.mean_exposure_extrapolated > 2 * once.mean_exposure_extrapolated
    assert all(isinstance(c.reproduced, bool) for c in report.canaries)

    # Control: the same audit of a model trained without the canaries finds nothing at any rate.
    control = {g.replication_rate: g for g in audit(read_manifest(path), CharNGram(order=3).fit(
        d["text"] for d in corpus)).groups if g.family == "all"}
    assert control[1].mean_exposure < 2.0 and control[100].mean_exposure < 2.0
    assert abs(control[100].mean_exposure - control[1].mean_exposure) < 1.0


# --- transformers -----------------------------------------------------------------------------


@pytest.fixture
def denormals_restored():
    """torch's CPU kernels switch the thread to flush-to-zero; later float code (hypothesis) needs IEEE subnormals."""
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_flush_denormal(False)


def test_transformers_path_on_a_tiny_model_trained_here(tmp_path, denormals_restored):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    config = CanaryConfig(enabled=True, replication_rates=(1,), references=16, profile=ProfileCanaries(per_rate=0),
                          secret=SecretCanaries(per_rate=2, formats=("pin",)), trap=TrapCanaries(per_rate=0))
    inserted = insert_canaries([{"id": "doc-1", "text": "Hello there. How are you?", "source": "s", "position": 1,
                                 "metadata": None}], config, 5)
    manifest_path = write_manifest(str(tmp_path / "manifest.jsonl"), inserted.manifest)

    # A byte-level BPE tokenizer and a one-layer GPT-2, built and saved here: nothing is downloaded.
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    texts = [c.text for c in inserted.canaries] + [r for c in inserted.canaries for r in c.references]
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>",
                                                     eos_token="<|endoftext|>")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: thread hand-offs cost more than the work (x15 on a busy 2-core box)
    try:
        _train_and_audit(torch, transformers, tokenizer, inserted, manifest_path, tmp_path)
    finally:
        torch.set_num_threads(threads)


def _train_and_audit(torch, transformers, tokenizer, inserted, manifest_path, tmp_path):
    trained, untrained = inserted.canaries
    model_dir = tmp_path / "tiny-gpt2"
    tokenizer.save_pretrained(model_dir)
    torch.manual_seed(0)
    torch.set_flush_denormal(True)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=1, n_head=2,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id))
    ids = torch.tensor([[tokenizer.bos_token_id, *tokenizer(trained.text)["input_ids"]]])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(300):  # memorize one canary (the other is never seen)
        loss = model(input_ids=ids, labels=ids).loss
        if loss.item() < 0.02:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.save_pretrained(model_dir)

    out = io.StringIO()
    plot = tmp_path / "exposure.png"
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    report = audit_command(manifest_path, str(model_dir), as_json=True, plot=str(plot) if has_matplotlib else None,
                           device="cpu", batch_size=8, out=out)
    rows = {row["canary_id"]: row for row in json.loads(out.getvalue())["canaries"]}
    seen, unseen = rows[trained.canary_id], rows[untrained.canary_id]
    assert seen["rank"] == 1 and seen["exposure"] == pytest.approx(math.log2(16)) and seen["reproduced"] is True
    assert unseen["reproduced"] is False and unseen["exposure"] < seen["exposure"]
    assert seen["exposure_extrapolated"] > unseen["exposure_extrapolated"]
    assert report.model == str(model_dir)
    if has_matplotlib:
        assert plot.read_bytes()[:4] == b"\x89PNG"
    # the scorer's log-probabilities are per token and sum to the sequence likelihood
    scorer = TransformersScorer(str(model_dir), device="cpu")
    (logprobs,) = scorer.score([trained.text])
    assert len(logprobs) == len(tokenizer(trained.text)["input_ids"]) and all(lp <= 0 for lp in logprobs)
    assert log_perplexity(logprobs) == pytest.approx(seen["log_perplexity"], rel=1e-4)


def test_demem_run_builds_the_canary_corpus_that_the_audit_measures(tmp_path):
    """Acceptance: the corpus comes from `demem run`; a model trained on its data/ shards is audited."""
    import json

    import pyarrow.parquet as pq

    from pipelines.config import config_from_mapping
    from pipelines.pipeline import run

    source = tmp_path / "corpus.jsonl"
    source.write_text("\n".join(json.dumps({"id": d["id"], "text": d["text"]}) for d in _training_corpus()) + "\n")
    config = config_from_mapping({
        "seed": 11,
        "near_dedup": {"enabled": False}, "substring": {"enabled": False},
        "traces": {"enabled": False}, "pii": {"enabled": False},
        "canaries": {"enabled": True, "replication_rates": [1, 100], "references": 100,
                     "profile": {"per_rate": 2}, "secret": {"per_rate": 2}, "trap": {"per_rate": 2, "lengths": [25, 50]}},
    })
    out = tmp_path / "out"
    report = run([str(source)], str(out), config).report
    assert report["accounting_ok"] and report["counts"]["canary_documents"] == 3 * 2 * (1 + 100)
    texts = pq.read_table(out / "data").column("text").to_pylist()
    manifest = read_manifest(str(out / "canaries" / "manifest.jsonl"))
    # report.json gives each canary's frequency: what is really in data/, per million whitespace tokens
    tokens = sum(len(t.split()) for t in texts)
    by_id = {f["canary_id"]: f for f in report["canaries"]["per_canary"]}
    assert len(by_id) == len(manifest.canaries) == 12
    for record in manifest.canaries:
        found = sum(t.count(record["text"]) for t in texts)
        assert by_id[record["canary_id"]]["copies"] == found == record["replication_rate"]
        assert by_id[record["canary_id"]]["per_million_tokens"] == pytest.approx(found * 1e6 / tokens, abs=1e-3)
    model = CharNGram(order=3).fit(texts)  # "training" on what demem wrote
    audited = audit(manifest, model)
    by = {(g.family, g.replication_rate): g for g in audited.groups}
    once, often = by[("all", 1)], by[("all", 100)]
    assert often.mean_exposure - once.mean_exposure >= 3.0, format_table(audited)
