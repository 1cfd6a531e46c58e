"""The exact-dedup digest kernel against its pure-Python reference and mmh3."""
import mmh3
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dedup.hashing import hash_texts, murmur3_128, murmur3_128_reference, text_digest


@given(st.binary(max_size=300), st.integers(min_value=0, max_value=2**32 - 1))
def test_kernel_equals_reference(data, seed):
    assert murmur3_128(data, seed) == murmur3_128_reference(data, seed)


@given(st.binary(max_size=300), st.integers(min_value=0, max_value=2**32 - 1))
def test_kernel_equals_mmh3(data, seed):
    assert murmur3_128(data, seed) == tuple(mmh3.hash64(data, seed, signed=False))


@given(st.lists(st.text(max_size=80), max_size=20), st.integers(min_value=0, max_value=2**32 - 1))
def test_batch_hashes_utf8_of_each_text(texts, seed):
    batch = hash_texts(texts, seed)
    assert batch.shape == (len(texts), 2) and batch.dtype == np.uint64
    for row, text in zip(batch, texts):
        assert (int(row[0]), int(row[1])) == murmur3_128_reference(text.encode("utf-8"), seed)


def test_digest_is_32_hex_and_distinguishes_texts():
    a, b = text_digest("Grüße"), text_digest("Grüsse")
    assert len(a) == 32 and int(a, 16) >= 0
    assert a != b
    h1, h2 = murmur3_128("Grüße".encode())
    assert a == f"{h1:016x}{h2:016x}"
