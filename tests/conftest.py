"""Shared fixtures: small corpora written to tmp_path, and pipeline helpers."""
from __future__ import annotations

import json

import pytest
from hypothesis import settings

settings.register_profile("ci", deadline=None, max_examples=200)
settings.load_profile("ci")


def write_jsonl(path, records) -> str:
    """Write records (dicts, or raw bytes for a literal line) as JSONL; returns the path."""
    lines = [r if isinstance(r, bytes) else json.dumps(r).encode() for r in records]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)


@pytest.fixture
def jsonl(tmp_path):
    def make(name, records):
        return write_jsonl(tmp_path / name, records)

    return make
