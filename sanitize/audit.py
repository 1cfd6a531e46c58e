"""Canary audit: how much a trained model memorized the canaries a demem run planted.

Reads the secret manifest (``schemas.canary``), scores every canary and its
held-out references with a language model, and reports per canary and per
(family, replication rate) group:

* ``log_perplexity``: ``-log2 P(text)`` in bits, the sum over the model's
  tokens (Carlini et al.'s ``Px``). A canary and its references share
  prefix and suffix for profiles and secrets, so their difference is the
  slot's (and what follows it) conditional likelihood.
* ``rank``: 1 + the number of references with a lower log-perplexity.
  Ties (within ``1e-9`` relative) are *pessimistic* by default: every tied
  reference counts as ranked before the canary, exactly as TF-Privacy's
  ``compute_exposure_interpolation`` does, so a model that cannot tell the
  canary from its references gets no credit for it; ``average`` counts half
  of them (the expected rank under random tie-breaking).
* ``exposure`` (interpolation): ``log2 |R| - log2 rank`` with ``|R|`` the
  number of references (TF-Privacy's convention), in
  ``[log2(|R|/(|R|+1)), log2 |R|]``: ``log2 |R|`` means the canary beat
  every reference. About 1.4 bits is what an unrelated canary gets on
  average.
* ``exposure_extrapolated``: ``-log2 F(Px(canary))`` where ``F`` is the CDF
  of a skew-normal fitted to the references' log-perplexities
  (``scipy.stats.skewnorm.fit``), as TF-Privacy's
  ``compute_exposure_extrapolation``; it goes beyond ``log2 |R|`` towards
  the randomness space's ``size_log2``. The deep tail is evaluated in log
  space (:func:`skewnorm_logcdf`), so it does not overflow to infinity. None
  when the references' perplexities do not vary.
* ``reproduced``: whether greedy decoding from the prefix (trailing
  whitespace moved into the expected continuation) emits the secret; None
  when the model offers no ``complete``.

A model plugs in through :class:`Scorer`: ``score(texts) -> [[log P(token |
previous tokens)] per text]`` in natural log, and optionally
``complete(prefixes, max_chars) -> [continuation]`` (greedy, argmax).
:class:`TransformersScorer` adapts a Hugging Face causal LM from a local
directory (never a hub download; needs the optional ``transformers`` and
``torch``). Nothing here logs or prints canary text: outputs name canaries
by id.
"""
from __future__ import annotations

import json
import logging
import math
import os
import statistics
import sys
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Literal, Optional, Protocol, Sequence, Union, runtime_checkable

from schemas.canary import Manifest, read_manifest

LOG = logging.getLogger(__name__)
LN2 = math.log(2)
TIE_TOLERANCE = 1e-9

TieRule = Literal["pessimistic", "average"]


class AuditError(ValueError):
    """A problem with the audit's inputs, phrased for the user (never naming canary text)."""


# --- exposure math ----------------------------------------------------------------------------


def log_perplexity(token_logprobs: Sequence[float]) -> float:
    """``-log2 P(text)`` in bits from natural-log token probabilities."""
    return -math.fsum(token_logprobs) / LN2


def _tied(a: float, b: float) -> bool:
    return abs(a - b) <= TIE_TOLERANCE * max(1.0, abs(a), abs(b))


def rank_among(canary: float, references: Sequence[float], ties: TieRule = "pessimistic") -> float:
    """Rank of ``canary`` among ``references`` by log-perplexity, 1 = lowest (most likely)."""
    lower = sum(1 for r in references if r < canary and not _tied(r, canary))
    equal = sum(1 for r in references if _tied(r, canary))
    if ties == "pessimistic":
        return 1.0 + lower + equal
    if ties == "average":
        return 1.0 + lower + equal / 2
    raise ValueError(f"ties must be 'pessimistic' or 'average', not {ties!r}")


def exposure_interpolation(canary: float, references: Sequence[float], ties: TieRule = "pessimistic") -> float:
    """``log2 |R| - log2 rank`` (Carlini et al.; TF-Privacy's ``compute_exposure_interpolation``)."""
    if not references:
        raise ValueError("exposure needs at least one reference")
    return math.log2(len(references)) - math.log2(rank_among(canary, references, ties))


def skewnorm_logcdf(x: float, a: float, loc: float, scale: float, tail_threshold: float = 1e-280) -> float:
    """``log F(x)`` of a skew-normal, finite deep in the left tail where ``cdf`` underflows to 0.

    There ``F(z) = ∫_0^∞ f(z - s) ds`` is integrated relative to ``f(z)``;
    the density is log-concave, so the integrand falls at least as fast as
    ``exp(-g s)`` with ``g`` the slope of ``log f`` at ``z``.
    """
    from scipy import integrate, stats
    from scipy.special import log_ndtr

    z = (x - loc) / scale
    p = float(stats.skewnorm.cdf(z, a))
    if p > tail_threshold:
        return math.log(p)

    def logpdf(t: float) -> float:
        return math.log(2) + float(stats.norm.logpdf(t)) + float(log_ndtr(a * t))

    base = logpdf(z)
    step = 1e-6 * max(1.0, abs(z))
    slope = max((logpdf(z) - logpdf(z - step)) / step, 1e-3)
    integral, _ = integrate.quad(lambda s: math.exp(logpdf(z - s) - base), 0.0, 60.0 / slope, limit=200)
    return base + math.log(integral)


def fit_skewnorm(references: Sequence[float]) -> Optional[tuple[float, float, float]]:
    """(shape, loc, scale) of a skew-normal fitted to the references, or None when they do not vary."""
    from scipy import stats

    if len(references) < 3 or statistics.pstdev(references) == 0:
        return None
    a, loc, scale = stats.skewnorm.fit(list(references))
    return float(a), float(loc), float(scale)


def exposure_extrapolation(canary: float, references: Sequence[float],
                           fit: Optional[tuple[float, float, float]] = None) -> Optional[float]:
    """``-log2 F(canary)``, F the skew-normal fitted to the references (TF-Privacy's extrapolation)."""
    fit = fit if fit is not None else fit_skewnorm(references)
    if fit is None:
        return None
    return -skewnorm_logcdf(canary, *fit) / LN2


# --- the model interface ------------------------------------------------------------------------


@runtime_checkable
class Scorer(Protocol):
    """What the audit needs from a model. ``complete`` is optional (see :func:`audit`)."""

    def score(self, texts: list[str]) -> list[list[float]]:
        """Per text, the natural-log probability of each of its tokens given the tokens before it."""


class _CallableScorer:
    def __init__(self, score: Callable[[list[str]], list[list[float]]],
                 complete: Optional[Callable[[list[str], int], list[str]]] = None):
        self.score = score
        if complete is not None:
            self.complete = complete


def as_scorer(model, complete: Optional[Callable[[list[str], int], list[str]]] = None) -> Scorer:
    """An object with ``score`` (and maybe ``complete``), or a bare ``score`` callable."""
    if hasattr(model, "score"):
        return model
    if callable(model):
        return _CallableScorer(model, complete)
    raise TypeError("a scorer is an object with score(texts) or a callable score(texts)")


# --- the audit --------------------------------------------------------------------------------


@dataclass
class CanaryResult:
    canary_id: str
    family: str
    content_type: str
    format: str
    replication_rate: int
    references: int
    log_perplexity: float
    reference_mean: float
    reference_std: float
    rank: float
    exposure: float
    max_exposure: float
    exposure_extrapolated: Optional[float]
    space_log2: float
    reproduced: Optional[bool]
    copies_per_million_tokens: Optional[float]


@dataclass
class GroupResult:
    family: str  # "all" for every family
    replication_rate: int
    canaries: int
    mean_exposure: float
    median_exposure: float
    max_exposure: float
    mean_exposure_extrapolated: Optional[float]
    mean_rank: float
    reproduced: Optional[float]  # fraction of canaries reproduced by greedy decoding
    copies_per_million_tokens: Optional[float]


@dataclass
class AuditReport:
    canaries: list[CanaryResult]
    groups: list[GroupResult]
    ties: str
    model: str
    corpus: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"model": self.model, "ties": self.ties, "corpus": self.corpus,
                "groups": [asdict(g) for g in self.groups], "canaries": [asdict(c) for c in self.canaries]}


def _mean(values: Iterable[Optional[float]]) -> Optional[float]:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def group_results(results: list[CanaryResult]) -> list[GroupResult]:
    """Aggregates by (family, rate) and, as family ``all``, by rate."""
    keyed: dict[tuple[str, int], list[CanaryResult]] = {}
    for r in results:
        keyed.setdefault((r.family, r.replication_rate), []).append(r)
        keyed.setdefault(("all", r.replication_rate), []).append(r)
    groups = []
    for (family, rate), members in sorted(keyed.items(), key=lambda kv: (kv[0][0] == "all", kv[0][0], kv[0][1])):
        exposures = [m.exposure for m in members]
        reproduced = [m.reproduced for m in members if m.reproduced is not None]
        groups.append(GroupResult(
            family=family, replication_rate=rate, canaries=len(members), mean_exposure=sum(exposures) / len(members),
            median_exposure=statistics.median(exposures), max_exposure=max(exposures),
            mean_exposure_extrapolated=_mean(m.exposure_extrapolated for m in members),
            mean_rank=sum(m.rank for m in members) / len(members),
            reproduced=(sum(reproduced) / len(reproduced)) if reproduced else None,
            copies_per_million_tokens=_mean(m.copies_per_million_tokens for m in members),
        ))
    return groups


def _score_all(scorer: Scorer, texts: list[str], chunk: int) -> list[float]:
    out = []
    for start in range(0, len(texts), chunk):
        batch = texts[start:start + chunk]
        logprobs = scorer.score(batch)
        if len(logprobs) != len(batch):
            raise AuditError(f"the scorer returned {len(logprobs)} results for {len(batch)} texts")
        out.extend(log_perplexity(lp) for lp in logprobs)
    return out


def greedy_reproduces(scorer: Scorer, prefix: str, secret: str) -> Optional[bool]:
    """Does greedy decoding from ``prefix`` emit ``secret`` next? None when the scorer cannot decode."""
    complete = getattr(scorer, "complete", None)
    if complete is None:
        return None
    prompt = prefix.rstrip()
    expected = prefix[len(prompt):] + secret  # a tokenizer wants the space in the continuation
    (continuation,) = complete([prompt], len(expected))
    if continuation.startswith(expected):
        return True
    return bool(expected[:1].isspace() and continuation.lstrip().startswith(expected.lstrip()))


def audit(manifest: Union[Manifest, str], scorer, *, ties: TieRule = "pessimistic", greedy: bool = True,
          max_references: Optional[int] = None, chunk: int = 256, model_name: str = "") -> AuditReport:
    """Score every canary of ``manifest`` (a :class:`Manifest` or its path) and its references."""
    manifest = read_manifest(manifest) if isinstance(manifest, str) else manifest
    scorer = as_scorer(scorer)
    if ties not in ("pessimistic", "average"):
        raise AuditError(f"ties must be 'pessimistic' or 'average', not {ties!r}")
    tokens = manifest.corpus.get("whitespace_tokens") or 0
    results = []
    for number, record in enumerate(manifest.canaries, 1):
        references = [r["text"] for r in record["references"]][:max_references]
        if not references:
            raise AuditError(f"canary {record['canary_id']} has no references")
        scores = _score_all(scorer, [record["text"], *references], chunk)
        canary, refs = scores[0], scores[1:]
        fit = fit_skewnorm(refs)
        prefix = record["text"][: record["secret_start"]]
        results.append(CanaryResult(
            canary_id=record["canary_id"], family=record["family"], content_type=record["content_type"],
            format=record["format"], replication_rate=record["replication_rate"], references=len(refs),
            log_perplexity=canary, reference_mean=statistics.fmean(refs), reference_std=statistics.pstdev(refs),
            rank=rank_among(canary, refs, ties), exposure=exposure_interpolation(canary, refs, ties),
            max_exposure=math.log2(len(refs)), exposure_extrapolated=exposure_extrapolation(canary, refs, fit),
            space_log2=record["randomness_space"]["size_log2"],
            reproduced=greedy_reproduces(scorer, prefix, record["secret"]) if greedy else None,
            copies_per_million_tokens=(record["replication_rate"] * 1e6 / tokens) if tokens else None,
        ))
        LOG.info("audit: scored canary %d of %d (%d references)", number, len(manifest.canaries), len(refs))
    return AuditReport(results, group_results(results), ties, model_name, dict(manifest.corpus))


# --- output -----------------------------------------------------------------------------------


def _fmt(value, spec: str = ".2f") -> str:
    if value is None:
        return "-"
    return format(value, spec)


def format_table(report: AuditReport) -> str:
    """A plain-text table: one row per (family, rate), then all families per rate."""
    header = ("family", "rate", "canaries", "exposure", "median", "max", "extrapolated", "mean rank",
              "reproduced", "copies/Mtok")
    rows = [header]
    for g in report.groups:
        rows.append((g.family, f"{g.replication_rate}x", str(g.canaries), _fmt(g.mean_exposure),
                     _fmt(g.median_exposure), _fmt(g.max_exposure), _fmt(g.mean_exposure_extrapolated),
                     _fmt(g.mean_rank, ".1f"), _fmt(g.reproduced, ".0%"), _fmt(g.copies_per_million_tokens, ".3g")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    references = sorted({c.references for c in report.canaries})
    note = (f"exposure in bits: log2|R| - log2 rank with |R| = {', '.join(map(str, references))} references "
            f"(max {math.log2(max(references)):.2f}), ties {report.ties}; extrapolated: skew-normal fit")
    return "\n".join(lines + ["", note])


def plot_exposure(report: AuditReport, path: str) -> str:
    """PNG of mean exposure against replication rate, one line per family (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise AuditError("the exposure plot needs matplotlib: pip install 'demem[audit]'") from None
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    families = sorted({g.family for g in report.groups if g.family != "all"})
    for family in families + ["all"]:
        groups = sorted((g for g in report.groups if g.family == family), key=lambda g: g.replication_rate)
        rates = [g.replication_rate for g in groups]
        style = {"color": "black", "linewidth": 2.2} if family == "all" else {"linewidth": 1.4}
        line, = ax.plot(rates, [g.mean_exposure for g in groups], marker="o", label=f"{family}", **style)
        extrapolated = [g.mean_exposure_extrapolated for g in groups]
        if any(v is not None for v in extrapolated):
            ax.plot(rates, [math.nan if v is None else v for v in extrapolated], linestyle=":",
                    color=line.get_color(), linewidth=1)
    if report.canaries:
        ceiling = math.log2(max(c.references for c in report.canaries))
        ax.axhline(ceiling, color="grey", linestyle="--", linewidth=0.8)
        ax.text(ax.get_xlim()[0], ceiling, " log2 |R|", va="bottom", fontsize=8, color="grey")
    ax.set_xscale("log")
    ax.set_xlabel("replication rate (copies in the training corpus)")
    ax.set_ylabel("mean exposure (bits)")
    ax.set_title(f"Canary exposure{' - ' + os.path.basename(report.model.rstrip('/')) if report.model else ''}"
                 "\nsolid: interpolation; dotted: skew-normal extrapolation", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


# --- Hugging Face transformers ----------------------------------------------------------------


class TransformersScorer:
    """A causal LM and its tokenizer from a local directory, as a :class:`Scorer`.

    ``local_files_only=True`` and a directory check: a hub id is refused, so
    nothing is ever downloaded. A BOS token (GPT-2: ``<|endoftext|>``) is put
    before each text so its first token is scored too; a tokenizer without
    one leaves the first token unscored (the same for canary and references).
    Texts longer than the model's context are an error.
    """

    def __init__(self, model_dir: str, device: Optional[str] = None, batch_size: int = 16):
        if not os.path.isdir(model_dir):
            raise AuditError(f"--model must be a local directory holding a saved model; {model_dir} is not "
                             "(demem never downloads models)")
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise AuditError("auditing a transformers model needs torch and transformers: "
                             "pip install 'demem[audit]'") from None
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.bos = self.tokenizer.bos_token_id
        if self.bos is None:
            self.bos = self.tokenizer.eos_token_id
        self.pad = self.tokenizer.pad_token_id
        if self.pad is None:
            self.pad = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else 0
        config = self.model.config
        self.context = (getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
                        or 1 << 30)

    def _ids(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ([self.bos] if self.bos is not None else []) + list(ids)

    def score(self, texts: list[str]) -> list[list[float]]:
        torch = self.torch
        encoded = [self._ids(t) for t in texts]
        for ids in encoded:
            if len(ids) > self.context:
                raise AuditError(f"a text of {len(ids)} tokens exceeds the model's context of {self.context}")
        out: list[Optional[list[float]]] = [None] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            width = max(len(encoded[i]) for i in batch)
            ids = torch.full((len(batch), width), self.pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                mask[row, : len(encoded[i])] = 1
            ids, mask = ids.to(self.device), mask.to(self.device)
            with torch.inference_mode():
                logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
            logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            logprobs = logprobs.cpu()
            for row, i in enumerate(batch):
                out[i] = logprobs[row, : len(encoded[i]) - 1].tolist()
        return out

    def complete(self, prefixes: list[str], max_chars: int) -> list[str]:
        """Greedy continuations, stopped once they decode to ``max_chars`` characters (or EOS)."""
        from transformers import StoppingCriteria, StoppingCriteriaList

        torch, tokenizer = self.torch, self.tokenizer

        class EnoughCharacters(StoppingCriteria):
            def __init__(self, start: int):
                self.start = start

            def __call__(self, input_ids, scores, **kwargs):
                done = len(tokenizer.decode(input_ids[0, self.start:], skip_special_tokens=True)) >= max_chars
                return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

        continuations = []
        for prefix in prefixes:
            ids = torch.tensor([self._ids(prefix)], device=self.device)
            with torch.inference_mode():
                generated = self.model.generate(
                    input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                    max_new_tokens=max(1, max_chars), pad_token_id=self.pad,
                    stopping_criteria=StoppingCriteriaList([EnoughCharacters(ids.shape[1])]))
            continuations.append(tokenizer.decode(generated[0, ids.shape[1]:], skip_special_tokens=True))
        return continuations


# --- the command ------------------------------------------------------------------------------


def audit_command(manifest_path: str, model_dir: str, *, as_json: bool = False, plot: Optional[str] = None,
                  device: Optional[str] = None, batch_size: int = 16, ties: TieRule = "pessimistic",
                  max_references: Optional[int] = None, out=None) -> AuditReport:
    """``demem audit``: load the manifest and the model, audit, print a table (or JSON), maybe plot."""
    out = out or sys.stdout
    try:
        manifest = read_manifest(manifest_path)
    except OSError as err:
        raise AuditError(f"cannot read the manifest {manifest_path}: {err.strerror}") from None
    except ValueError as err:
        raise AuditError(str(err)) from None
    scorer = TransformersScorer(model_dir, device=device, batch_size=batch_size)
    report = audit(manifest, scorer, ties=ties, max_references=max_references, model_name=model_dir)
    if as_json:
        out.write(json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n")
    else:
        out.write(format_table(report) + "\n")
    if plot:
        plot_exposure(report, plot)
    return report
