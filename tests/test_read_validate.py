"""Reading and validation: every bad-input case is quarantined with its code, nothing is lost.

The reader DoFn is driven directly (no runner): its contract is one result per
input unit, documents on the main output and quarantine rows tagged.
"""
import gzip
import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from pipelines.read import InputConfig, ReadFile, detect_format
from pipelines.validate import RecordValidator, ValidationConfig, split_duplicate_ids
from schemas import quarantine as q


def read(path, input_config=InputConfig(), validation=ValidationConfig(max_text_bytes=1000)):
    reader = ReadFile(input_config, validation)
    reader.setup()
    docs, rows = [], []
    for out in reader.process(str(path)):
        if isinstance(out, beam.pvalue.TaggedOutput):
            rows.append(out.value)
        else:
            docs.append(out)
    return docs, rows


GOOD = [{"id": f"g{i}", "text": f"document number {i}", "lang": "en"} for i in range(5)]


def test_every_jsonl_problem_is_quarantined_with_its_code(jsonl):
    path = jsonl("bad.jsonl", [
        GOOD[0],
        b'{"id": "x", "text": "unterminated}',
        b'[1, 2, 3]',
        b'{"id": "no-text"}',
        b'{"id": "null-text", "text": null}',
        b'{"id": "num", "text": 3.5}',
        b'{"id": "blank", "text": " \\t\\n"}',
        b'{"id": "latin1", "text": "caf\xe9"}',
        b'{"id": "surrogate", "text": "a \\udc00 b"}',
        b'{"id": ["list"], "text": "list id"}',
        json.dumps({"id": "big", "text": "x" * 1001}).encode(),
        b"",
        GOOD[1],
    ])
    docs, rows = read(path, validation=ValidationConfig(max_text_bytes=1000, quarantine_raw_bytes=100))
    assert [d["id"] for d in docs] == ["g0", "g1"]
    codes = [(r["position"], r["error_code"]) for r in rows]
    assert codes == [
        (2, q.MALFORMED_JSON), (3, q.NOT_AN_OBJECT), (4, q.MISSING_TEXT), (5, q.MISSING_TEXT),
        (6, q.TEXT_NOT_STRING), (7, q.EMPTY_TEXT), (8, q.INVALID_UTF8), (9, q.INVALID_UTF8),
        (10, q.INVALID_ID), (11, q.TEXT_TOO_LARGE),
    ]
    big = rows[-1]
    assert "1001 bytes, over the limit of 1000" in big["reason"]
    assert big["raw_bytes"] > 1000 and len(big["raw"]) == 100
    for row in rows:  # reasons name the place, never the content
        assert f":{row['position']}" in row["reason"] or f"line {row['position']}" in row["reason"]
        assert "unterminated" not in row["reason"] and "caf" not in row["reason"]


def test_documents_carry_metadata_and_derived_ids(jsonl):
    path = jsonl("meta.jsonl", [{"text": "no id here", "b": 2, "a": [1]}, {"id": 17, "text": "int id"}])
    docs, rows = read(path)
    assert rows == []
    assert docs[0]["id"] == f"{path}#1" and docs[0]["metadata"] == '{"a": [1], "b": 2}'
    assert docs[1]["id"] == "17" and docs[1]["metadata"] is None and docs[1]["position"] == 2


def test_text_is_nfc_normalized_unless_disabled():
    decomposed = "Cafe\u0301"
    nfc = RecordValidator("id", "text", ValidationConfig())
    raw = RecordValidator("id", "text", ValidationConfig(normalization="none"))
    assert nfc.validate_fields({"text": decomposed}, "s", 1)["text"] == "Caf\u00e9"
    assert raw.validate_fields({"text": decomposed}, "s", 1)["text"] == decomposed


def test_compressed_jsonl_reads_like_plain(tmp_path):
    payload = b"".join(json.dumps(r).encode() + b"\n" for r in GOOD)
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(payload))
    (tmp_path / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(payload))
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(payload[:40]) + gzip.compress(payload[40:]))  # two members
    for name in ("a.jsonl.gz", "b.jsonl.zst", "c.jsonl.gz"):
        docs, rows = read(tmp_path / name)
        assert [d["text"] for d in docs] == [r["text"] for r in GOOD] and rows == [], name


@pytest.mark.parametrize("name, compress", [("t.jsonl.gz", gzip.compress),
                                            ("t.jsonl.zst", zstandard.ZstdCompressor().compress)])
def test_truncated_stream_keeps_readable_lines_and_quarantines_the_rest(tmp_path, name, compress):
    import random

    rng = random.Random(5)  # varied text so the stream spans many compressed blocks
    records = [{"id": f"r{i}", "text": " ".join(str(rng.random()) for _ in range(30))} for i in range(2000)]
    blob = compress(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    (tmp_path / name).write_bytes(blob[: len(blob) // 2])
    docs, rows = read(tmp_path / name)
    assert 0 < len(docs) < 2000 and [d["id"] for d in docs] == [f"r{i}" for i in range(len(docs))]
    assert len(rows) == 1 and rows[0]["error_code"] == q.TRUNCATED_FILE
    assert rows[0]["position"] >= len(docs) + 1


def test_binary_garbage_in_jsonl_is_quarantined_line_by_line(tmp_path):
    import random

    rng = random.Random(3)
    garbage = bytes(rng.randrange(256) for _ in range(5000))
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(json.dumps(GOOD[0]).encode() + b"\n" + garbage + b"\n" + json.dumps(GOOD[1]).encode() + b"\n")
    docs, rows = read(path)
    assert [d["id"] for d in docs] == ["g0", "g1"]
    garbage_lines = [line for line in garbage.split(b"\n") if line.strip()]
    assert len(rows) == len(garbage_lines)
    assert all(r["error_code"] in (q.INVALID_UTF8, q.MALFORMED_JSON) for r in rows)


def _parquet_with_two_row_groups(path, rows_per_group=50):
    table = pa.table({
        "id": [f"p{i}" for i in range(2 * rows_per_group)],
        "text": [f"parquet row {i} " + "word " * 50 for i in range(2 * rows_per_group)],
        "score": list(range(2 * rows_per_group)),
    })
    pq.write_table(table, path, row_group_size=rows_per_group, compression="zstd", use_dictionary=False)
    return table


def test_parquet_rows_become_documents_with_typed_metadata(tmp_path):
    _parquet_with_two_row_groups(tmp_path / "ok.parquet")
    docs, rows = read(tmp_path / "ok.parquet", validation=ValidationConfig())
    assert rows == [] and len(docs) == 100
    assert docs[7]["position"] == 7 and docs[7]["metadata"] == '{"score": 7}'


def test_unreadable_parquet_row_group_is_quarantined_and_others_are_read(tmp_path):
    path = tmp_path / "corrupt.parquet"
    _parquet_with_two_row_groups(path)
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(0).column(1)  # the text column chunk of row group 0
    blob = bytearray(path.read_bytes())
    blob[column.data_page_offset : column.data_page_offset + 8] = b"\xff" * 8  # an undecodable page header
    path.write_bytes(bytes(blob))
    docs, rows = read(path, validation=ValidationConfig())
    assert [d["position"] for d in docs] == list(range(50, 100))
    assert len(rows) == 1 and rows[0]["error_code"] == q.UNREADABLE_ROW_GROUP
    assert "row group 0 (rows 0..49)" in rows[0]["reason"]


def test_not_a_parquet_file_is_one_unreadable_unit(tmp_path):
    (tmp_path / "fake.parquet").write_bytes(b"PAR1 this is not parquet at all")
    docs, rows = read(tmp_path / "fake.parquet")
    assert docs == [] and [r["error_code"] for r in rows] == [q.UNREADABLE_FILE]


def test_text_files_are_one_document_each(tmp_path):
    (tmp_path / "note.txt").write_text("A whole file\nis one document.\n")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe not utf-8")
    docs, _ = read(tmp_path / "note.txt")
    assert docs[0]["text"] == "A whole file\nis one document.\n" and docs[0]["id"].endswith("note.txt#0")
    _, rows = read(tmp_path / "bad.txt")
    assert rows[0]["error_code"] == q.INVALID_UTF8


def test_unknown_suffix_is_quarantined_not_guessed(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n")
    docs, rows = read(tmp_path / "data.csv")
    assert docs == [] and rows[0]["error_code"] == q.UNSUPPORTED_FORMAT
    assert detect_format("x.csv", "jsonl") == "jsonl"
    assert detect_format("x.JSONL.GZ", "auto") == "jsonl" and detect_format("x.parquet", "auto") == "parquet"


def test_duplicate_ids_keep_first_in_corpus_order():
    records = [
        {"id": "a", "source": "s2", "position": 1},
        {"id": "a", "source": "s1", "position": 9},
        {"id": "a", "source": "s1", "position": 10},
    ]
    first, rejected = split_duplicate_ids(records, raw_limit=10)
    assert (first["source"], first["position"]) == ("s1", 9)
    assert [(r["source"], r["position"], r["error_code"], r["id"]) for r in rejected] == [
        ("s1", 10, q.DUPLICATE_ID, "a"), ("s2", 1, q.DUPLICATE_ID, "a")]
    assert "id already used by the record at s1:9" in rejected[0]["reason"]


def test_reread_returns_only_the_wanted_records(jsonl, tmp_path):
    from pipelines.read import RereadFile

    path = jsonl("re.jsonl", [GOOD[0], b"{broken", GOOD[1], GOOD[2]])
    reader = RereadFile(InputConfig(), ValidationConfig())
    reader.setup()
    got = list(reader.process(path, only={(path, 3), (path, 2), ("elsewhere", 1)}))
    assert [(d["id"], d["position"]) for d in got] == [("g1", 3)]
    _parquet_with_two_row_groups(tmp_path / "p.parquet")
    got = list(reader.process(str(tmp_path / "p.parquet"), only={(str(tmp_path / "p.parquet"), 60)}))
    assert [d["id"] for d in got] == ["p60"]
    assert list(reader.process(str(tmp_path / "p.parquet"), only={(path, 1)})) == []
