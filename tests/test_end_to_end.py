"""The whole pipeline on FnApiRunner: contents, counts, quarantine, determinism, atomicity, CLI."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import cli
from pipelines import write as write_module
from pipelines.config import Config, config_from_mapping
from pipelines.pipeline import OutputDirError, run
from schemas import quarantine as q

TWO_WORKERS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def _doc(i, text=None, **extra):
    return {"id": f"d{i}", "text": text or f"Document {i} talks about topic {i % 7} at some length.", **extra}


@pytest.fixture
def corpus(tmp_path):
    """Four files, three formats, with duplicates across files and one bad record of several kinds."""
    src = tmp_path / "in"
    src.mkdir()
    a = [_doc(i, lang="en") for i in range(40)]
    a[5] = _doc(5, text=a[3]["text"])  # exact duplicate of d3 inside a file
    long_words = [f"term{k}" for k in range(80)]
    a[30] = _doc(30, text=" ".join(long_words))
    long_words[40] = "changed"  # 5 of 76 shingles differ: Jaccard 71/81 = 0.88, a borderline estimate
    lines = [json.dumps(r).encode() for r in a]
    lines.insert(10, b'{"id": "broken", "text": ')
    lines.insert(20, b'{"id": "d1", "text": "reused id"}')
    lines.insert(30, b'{"id": "e", "text": ""}')
    (src / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    b = [_doc(100 + i) for i in range(30)] + [{"id": "copy-of-d7", "text": a[7]["text"]},
                                               {"id": "near-of-d30", "text": " ".join(long_words)}]
    (src / "b.jsonl.gz").write_bytes(gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in b)))
    pq.write_table(pa.table({"id": [f"p{i}" for i in range(20)],
                             "text": [f"Parquet document {i}." for i in range(19)] + [a[9]["text"]]}),
                   src / "c.parquet")
    (src / "d.txt").write_text("A plain text file is one whole document.\n")
    expected_kept = {d["id"]: d["text"] for d in a if d["id"] != "d5"}
    expected_kept.update({d["id"]: d["text"] for d in b if d["id"] not in ("copy-of-d7", "near-of-d30")})
    expected_kept.update({f"p{i}": f"Parquet document {i}." for i in range(19)})
    expected_kept[f"{src / 'd.txt'}#0"] = "A plain text file is one whole document.\n"
    return src, expected_kept


def _inputs(src: Path) -> list[str]:
    return [str(src / "*.jsonl"), str(src / "*.gz"), str(src / "c.parquet"), str(src / "*.txt")]


def _shard_bytes(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "data").iterdir())}


def test_two_workers_multiprocessing_exact_contents_counts_and_reasons(corpus, tmp_path):
    src, expected = corpus
    out = tmp_path / "out"
    result = run(_inputs(src), str(out), Config(), TWO_WORKERS)
    report = json.loads((out / "report.json").read_text())
    assert report == result.report
    assert report["accounting_ok"] is True
    assert report["counts"] == {"input": 40 + 3 + 32 + 20 + 1, "output": len(expected),
                                "removed": {"exact_dedup": 3, "near_dedup": 1, "substring": 0},
                                "quarantined": 3, "canary_documents": 0}
    near = report["stages"]["near_dedup"]
    assert near["exact_checks"] >= 1 and near["edges_by_exact_check"] >= 1 and near["clusters"] == 1
    data = pq.read_table(out / "data").to_pylist()
    assert {row["id"]: row["text"] for row in data} == expected
    assert json.loads(next(r for r in data if r["id"] == "d0")["metadata"]) == {"lang": "en"}

    removed = pq.read_table(out / "removed").to_pylist()
    assert {(r["id"], r["kept_id"], r["stage"], r["reason"]) for r in removed} == {
        ("d5", "d3", "exact_dedup", "exact_duplicate"),
        ("copy-of-d7", "d7", "exact_dedup", "exact_duplicate"),
        ("p19", "d9", "exact_dedup", "exact_duplicate"),
        ("near-of-d30", "d30", "near_dedup", "near_duplicate"),
    }
    assert next(r for r in removed if r["stage"] == "near_dedup")["cluster_id"]
    assert "text" not in removed[0]

    quarantine = pq.read_table(out / "quarantine").to_pylist()
    assert sorted((r["error_code"], r["position"]) for r in quarantine) == [
        (q.DUPLICATE_ID, 21), (q.EMPTY_TEXT, 31), (q.MALFORMED_JSON, 11)]
    dup = next(r for r in quarantine if r["error_code"] == q.DUPLICATE_ID)
    assert dup["reason"].endswith(f"id already used by the record at {src / 'a.jsonl'}:2")
    assert report["quarantine_by_code"] == {q.DUPLICATE_ID: 1, q.EMPTY_TEXT: 1, q.MALFORMED_JSON: 1}
    assert not (out / ".staging").exists()


def test_same_input_gives_byte_identical_shards_whatever_the_workers(corpus, tmp_path):
    src, _ = corpus
    config = config_from_mapping({"output": {"shard_target_bytes": 1000, "row_group_bytes": 300}})
    first, second = tmp_path / "one", tmp_path / "two"
    run(_inputs(src), str(first), config)
    run(_inputs(src), str(second), config, TWO_WORKERS)
    shards = _shard_bytes(first)
    assert len(shards) > 1
    assert shards == _shard_bytes(second)
    for path in (first / "data").iterdir():
        parquet = pq.ParquetFile(path)
        assert parquet.metadata.num_row_groups >= 1
        meta = parquet.schema_arrow.metadata
        assert meta[b"demem.config_hash"] == config.digest().encode() and b"demem.version" in meta


def test_seed_changes_the_shuffle_not_the_content(corpus, tmp_path):
    src, expected = corpus
    run(_inputs(src), str(tmp_path / "s0"), Config())
    run(_inputs(src), str(tmp_path / "s1"), config_from_mapping({"seed": 1}))
    ids = [pq.read_table(tmp_path / s / "data").column("id").to_pylist() for s in ("s0", "s1")]
    assert sorted(ids[0]) == sorted(ids[1]) == sorted(expected)
    assert ids[0] != ids[1]


def test_corrupt_files_do_not_stop_the_run(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    good = [_doc(i, text=f"good document {i} " + "text " * 30) for i in range(300)]
    blob = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in good))
    (src / "truncated.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    garbage = os.urandom(3000).replace(b"\n", b" ")
    (src / "garbage.jsonl").write_bytes(json.dumps(_doc(900)).encode() + b"\n" + garbage + b"\n"
                                        + json.dumps(_doc(901)).encode() + b"\n")
    out = tmp_path / "out"
    report = run([str(src / "*")], str(out), Config()).report
    assert report["accounting_ok"]
    codes = report["quarantine_by_code"]
    assert codes[q.TRUNCATED_FILE] == 1
    assert sum(codes.get(c, 0) for c in (q.INVALID_UTF8, q.MALFORMED_JSON)) == 1
    ids = set(pq.read_table(out / "data").column("id").to_pylist())
    assert {"d900", "d901"} <= ids
    read_from_truncated = ids - {"d900", "d901"}
    assert 0 < len(read_from_truncated) < 300
    assert read_from_truncated == {f"d{i}" for i in range(len(read_from_truncated))}


def test_output_is_readable_by_pyarrow_polars_and_datasets(corpus, tmp_path, monkeypatch):
    import polars as pl

    src, expected = corpus
    out = tmp_path / "out"
    run(_inputs(src), str(out), Config())
    files = sorted(str(p) for p in (out / "data").glob("*.parquet"))
    assert pl.read_parquet(files).height == len(expected)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf"))
    assert loaded.num_rows == len(expected)
    assert set(loaded.column_names) == {"id", "text", "metadata", "substring_bytes_cut", "trace_counts", "pii_counts"}
    assert isinstance(loaded[0]["trace_counts"], list)


def test_duplicate_id_is_settled_before_exact_dedup_so_no_text_is_lost(tmp_path):
    # B loses its id to A; C has B's text. C must survive: it duplicates a quarantined record.
    path = tmp_path / "ids.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"id": "x", "text": "first text"}, {"id": "x", "text": "second text"}, {"id": "y", "text": "second text"}]))
    out = tmp_path / "out"
    report = run([str(path)], str(out), Config()).report
    assert report["counts"] == {"input": 3, "output": 2, "removed": {"exact_dedup": 0, "near_dedup": 0, "substring": 0},
                                "quarantined": 1, "canary_documents": 0}
    assert {r["id"]: r["text"] for r in pq.read_table(out / "data").to_pylist()} == {
        "x": "first text", "y": "second text"}


def test_every_named_shard_exists_even_when_empty(tmp_path):
    path = tmp_path / "few.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"i{n}", "text": "same text " + "w" * (n % 2)}) for n in range(6)))
    out = tmp_path / "out"
    config = config_from_mapping({"output": {"shard_target_bytes": 10}})
    report = run([str(path)], str(out), config).report
    assert report["counts"]["output"] == 2
    names = sorted(p.name for p in (out / "data").iterdir())
    assert names == [f"part-{i:05d}-of-00006.parquet" for i in range(6)]
    assert sum(pq.read_table(out / "data" / n).num_rows for n in names) == 2


def test_empty_output_still_writes_one_readable_shard(tmp_path):
    (tmp_path / "only-bad.jsonl").write_bytes(b'{"id": 1, "text": "  "}\n')
    out = tmp_path / "out"
    report = run([str(tmp_path / "only-bad.jsonl")], str(out), Config()).report
    assert report["counts"]["output"] == 0 and report["counts"]["quarantined"] == 1
    assert pq.read_table(out / "data" / "part-00000-of-00001.parquet").num_rows == 0


def test_crashed_write_leaves_no_shard_that_looks_complete(corpus, tmp_path, monkeypatch):
    src, _ = corpus
    config = config_from_mapping({"output": {"shard_target_bytes": 500}})
    real, calls = write_module._write_bytes, []

    def failing(path, payload):
        calls.append(path)
        if "/data/" in path and len([c for c in calls if "/data/" in c]) == 3:
            raise OSError("disk full (simulated)")
        real(path, payload)

    monkeypatch.setattr(write_module, "_write_bytes", failing)
    out = tmp_path / "out"
    with pytest.raises(Exception):
        run(_inputs(src), str(out), config)
    assert not list((out / "data").glob("*.parquet"))
    assert not (out / "report.json").exists()


def test_refuses_non_empty_output_dir_and_foreign_files(corpus, tmp_path):
    src, _ = corpus
    out = tmp_path / "out"
    run(_inputs(src), str(out), Config())
    with pytest.raises(OutputDirError, match="not empty; pass --overwrite"):
        run(_inputs(src), str(out), Config())
    run(_inputs(src), str(out), Config(), overwrite=True)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputDirError, match="did not write"):
        run(_inputs(src), str(out), Config(), overwrite=True)


def test_cli_exit_codes_and_one_line_errors(corpus, tmp_path, capsys):
    src, _ = corpus
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("output:\n  compression: lz4\n")
    out = str(tmp_path / "out")

    assert cli.main(["run", "--input", str(src / "*.jsonl"), "--output", out, "--config", str(bad_config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("demem: error: config key 'output.compression'") and "\n" not in err

    assert cli.main(["run", "--input", str(src / "nothing-*.jsonl"), "--output", out]) == 3
    assert "matched no files" in capsys.readouterr().err

    assert cli.main(["run", "--input", str(src / "*.jsonl"), "--output", out, "--quiet"]) == 0
    summary = capsys.readouterr().out
    assert "accounting   ok" in summary and "by exact_dedup" in summary
    assert cli.main(["run", "--input", str(src / "*.jsonl"), "--output", out, "--quiet"]) == 3


def test_cli_reports_accounting_violation_with_status_4(corpus, tmp_path, capsys, monkeypatch):
    from pipelines import report as rep

    src, _ = corpus
    real = rep.build_report

    def lossy(stats, *args):
        stats["read.docs"]["rows"] += 1  # pretend one document vanished
        return real(stats, *args)

    monkeypatch.setattr(rep, "build_report", lossy)
    code = cli.main(["run", "--input", str(src / "*.jsonl"), "--output", str(tmp_path / "o"), "--quiet"])
    assert code == 4
    assert "accounting violated" in capsys.readouterr().err
    assert json.loads((tmp_path / "o" / "report.json").read_text())["accounting_ok"] is False


def test_unknown_options_reach_beam_untouched(corpus, tmp_path, monkeypatch):
    import pipelines.pipeline as pipeline_module

    src, _ = corpus
    seen = {}

    def fake_run(inputs, output_dir, config, beam_args, overwrite=False, canary_manifest=None):
        seen["beam_args"] = list(beam_args)
        raise FileNotFoundError("stop here")

    monkeypatch.setattr(pipeline_module, "run", fake_run)
    beam_args = ["--runner", "DataflowRunner", "--project", "p", "--region", "europe-west1",
                 "--temp_location", "gs://b/tmp", "--setup_file", "./setup.py"]
    assert cli.main(["run", "--input", str(src / "a.jsonl"), "--output", str(tmp_path / "o"), *beam_args]) == 3
    assert seen["beam_args"] == beam_args
    assert pipeline_module._has_runner(beam_args) and pipeline_module._has_runner(["--runner=FlinkRunner"])
    assert not pipeline_module._has_runner(["--direct_num_workers=2"])


@pytest.mark.slow
def test_sample_corpus_output_has_no_catalogued_trace(tmp_path):
    from sanitize.traces import TraceFinder

    sample = Path(__file__).resolve().parent.parent / "examples" / "sample.jsonl"
    out = tmp_path / "out"
    report = run([str(sample)], str(out), Config()).report
    traces = report["stages"]["traces"]
    assert sum(traces["before"].values()) > 50 and traces["after"] == {}
    assert {"mimic_blank", "mimic_bracket", "presidio_tag", "bracket_label"} <= set(traces["before"])
    finder = TraceFinder()
    rows = pq.read_table(out / "data").to_pylist()
    assert all(finder.find(row["text"]) == [] for row in rows)
    counted = [row for row in rows if row["trace_counts"]]
    assert counted and all(c["count"] > 0 for row in counted for c in row["trace_counts"])
    assert "traces" not in report["counts"]["removed"] and report["accounting_ok"]


@pytest.mark.slow
def test_canaries_on_the_sample_corpus_are_counted_apart_and_located(tmp_path, capsys):
    import stat

    from pipelines.config import load_config
    from schemas.canary import read_manifest

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "out"
    code = cli.main(["run", "--input", str(root / "examples" / "sample.jsonl"), "--output", str(out),
                     "--config", str(root / "examples" / "canaries.yaml"), "--quiet"])
    assert code == 0
    assert "docs added (counted apart" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    added = report["counts"]["canary_documents"]
    assert added > 0 and report["accounting_ok"]
    manifest_path = out / "canaries" / "manifest.jsonl"
    assert stat.S_IMODE(manifest_path.stat().st_mode) == 0o600
    manifest = read_manifest(str(manifest_path))
    rows = pq.read_table(out / "data").to_pylist()
    ids = [r["id"] for r in rows]
    copies = [copy for record in manifest.canaries for copy in record["copies"]]
    assert len(copies) == sum(load_config(str(root / "examples" / "canaries.yaml")).canaries.replication_rates) * 3
    for copy in copies:
        shard = pq.read_table(out / copy["shard_file"]).column("id").to_pylist()
        assert shard[copy["row_index"]] == copy["document_id"] and copy["document_id"] in ids
    canary_texts = [record["text"] for record in manifest.canaries]
    report_text = (out / "report.json").read_text()
    assert not any(text[:40] in report_text for text in canary_texts)
    assert cli.main(["audit", "--manifest", str(manifest_path), "--model", str(tmp_path / "no-model")]) == 2


@pytest.mark.slow
def test_sample_corpus_pii_is_replaced_by_surrogates(tmp_path):
    import re
    import sys

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "scripts"))
    try:
        import make_sample_corpus as sample_gen
    finally:
        sys.path.pop(0)
    texts = [json.loads(line)["text"] for line in (root / "examples" / "sample.jsonl").read_bytes().splitlines()
             if line.startswith(b'{"id": "doc-') or line.startswith(b'{"id": "dup-')]
    planted = set()
    for text in texts:
        planted.update(re.findall(r"[\w.]+@example\.(?:com|org|net)", text))
        planted.update(re.findall(r"\(555\) 01\d\d-\d{4}", text))
        planted.update(re.findall(r"\b\d{3}-\d{2}-\d{4}\b", text))
        planted.update(re.findall(r"192\.0\.2\.\d+", text))
        planted.update(c for c in sample_gen.CARDS + sample_gen.IBANS if c in text)
        planted.update(f"{f} {l}" for f in sample_gen.FIRST for l in sample_gen.LAST if f"{f} {l}" in text)
    assert len(planted) > 40
    out = tmp_path / "out"
    report = run([str(root / "examples" / "sample.jsonl")], str(out), Config()).report
    output = "\n".join(pq.read_table(out / "data").column("text").to_pylist())
    leaked = sorted(value for value in planted if value in output)
    assert leaked == []
    assert report["stages"]["pii"]["by_operator"]["surrogate"] > 100
    report_text = (out / "report.json").read_text()
    assert not any(value in report_text for value in planted)
