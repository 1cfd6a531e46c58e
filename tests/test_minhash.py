"""The MinHash kernel against its pure-Python reference, datasketch, and exact Jaccard."""
from __future__ import annotations

import math
import pickle
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import _minhash
from dedup.minhash import (
    EMPTY_VALUE,
    MinHashConfig,
    MinHasher,
    char_text_reference,
    estimate_jaccard,
    is_empty,
    normalize_text,
    shingle_keys_reference,
    signature_reference,
    to_lean_minhash,
    words_reference,
)

ISAS = _minhash.supported_isas()

# Text that exercises every path of the kernel: ASCII words (the 64-byte
# block path), runs of whitespace and punctuation, non-ASCII letters, marks
# and spaces (the code point path, and latin-1 / UCS-2 / UCS-4 storage), long
# words that cross 64-byte blocks, and any code point at all, surrogates too.
_ascii_word = st.text(alphabet="abcdefXYZ0189", min_size=1, max_size=12)
_long_word = st.text(alphabet="aBé", min_size=60, max_size=200)
_gap = st.text(alphabet=" \t\n\r\x0b\x0c\x1c\x1f.,;-_'\"!()\u00a0\u2003\u3000", min_size=1, max_size=4)
_unicode = st.text(
    alphabet=st.characters(exclude_categories=()) | st.sampled_from("éÉßİΣσςЖж中😀\u0301\u00bd٣"),
    max_size=12,
)
_piece = st.one_of(_ascii_word, _ascii_word, _ascii_word, _gap, _gap, _unicode, _long_word)
texts = st.one_of(st.lists(_piece, max_size=60).map("".join), st.text(max_size=40))

configs = st.builds(
    MinHashConfig,
    num_perm=st.integers(1, 40),
    ngram=st.integers(1, 7),
    shingle=st.sampled_from(["word", "char"]),
    normalize=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)


@given(texts, configs)
def test_shingle_keys_equal_reference(text, config):
    assert MinHasher(config).shingle_keys(text).tolist() == shingle_keys_reference(text, config)


@settings(max_examples=100)
@given(st.lists(texts, max_size=6), configs)
def test_signatures_equal_reference_on_every_isa(batch, config):
    expected = [signature_reference(t, config) for t in batch]
    hasher = MinHasher(config)
    try:
        for isa in ISAS:
            _minhash.set_isa(isa)
            got = hasher.signatures(batch)
            assert got.shape == (len(batch), config.num_perm) and got.dtype == np.uint64
            assert got.tolist() == expected, isa
    finally:
        _minhash.set_isa(ISAS[-1])


@given(texts)
def test_normalize_text_equals_reference(text):
    assert normalize_text(text) == char_text_reference(text, True)
    assert normalize_text(text).split() == words_reference(text, True)


def test_fold_of_every_code_point():
    # One word per code point: the kernel's lowercase/alnum tables and
    # CPython's predicates agree everywhere, astral planes and surrogates too.
    text = " ".join(chr(c) for c in range(0x110000))
    assert normalize_text(text) == char_text_reference(text, True)
    bmp = " ".join(chr(c) for c in range(0x10000))
    raw = MinHashConfig(ngram=1, normalize=False)
    assert MinHasher(raw).shingle_keys(bmp).tolist() == shingle_keys_reference(bmp, raw)


@pytest.mark.parametrize("normalize", [True, False])
def test_every_ascii_byte_in_every_block_position(normalize):
    # The 64-byte classifier (SSE2 or SWAR) against the general rule.
    config = MinHashConfig(ngram=2, normalize=normalize)
    hasher = MinHasher(config)
    for b in range(128):
        for word in ("a", "Ab9", "xyzXYZ0123456789"):
            text = (word + chr(b)) * 50
            assert hasher.shingle_keys(text).tolist() == shingle_keys_reference(text, config), b


def test_words_are_documented_rule():
    text = "Hello, WORLD!  don't_stop  Ünïcödé 42nd\tİx ΣΑΣ"
    assert words_reference(text, True) == ["hello", "world", "don", "t", "stop", "ünïcödé", "42nd", "ix", "σασ"]
    assert words_reference(text, False) == text.split()
    assert MinHasher(normalize=False).shingles("a  b\tc") == ["a b c"]
    assert MinHasher(ngram=2).shingles("A, b; C!") == ["a b", "b c"]
    assert MinHasher(shingle="char", ngram=3).shingles("Ab,  C") == ["ab ", "b c"]


@pytest.mark.parametrize("shingle", ["word", "char"])
def test_empty_and_short_texts(shingle):
    hasher = MinHasher(shingle=shingle, num_perm=16)
    sigs = hasher.signatures(["", "   \n\t", "¡¿!?", "a b", "a b c d e f"])
    assert (sigs[:3] == EMPTY_VALUE).all() and is_empty(sigs).tolist() == [True] * 3 + [False] * 2
    # Fewer units than ngram: exactly one shingle of all of them.
    assert len(hasher.shingle_keys("a b")) == 1
    assert hasher.shingles("a b") == ["a b"]
    assert not is_empty(hasher.signature("x"))


def test_storage_kinds_and_arrow_give_the_same_signature():
    pa = pytest.importorskip("pyarrow")
    hasher = MinHasher(num_perm=32)
    base = ["Grüße aus Köln, the quick brown fox", "plain ascii words here and there " * 5, "", "Σ 中文 😀 mixed"]
    from_str = hasher.signatures(base)
    arrays = [
        pa.array(base, pa.string()),
        pa.array(base, pa.large_string()),
        pa.chunked_array([base[:1], base[1:]]),
        pa.array(["pad"] + base, pa.string()).slice(1),
    ]
    if hasattr(pa, "string_view"):
        arrays.append(pa.array(base, pa.string_view()))
    for arr in arrays:
        assert (hasher.signatures(arr) == from_str).all(), arr.type
    nulls = hasher.signatures(pa.array([None, "a b c", None]))
    assert is_empty(nulls).tolist() == [True, False, True]
    assert (hasher.signatures(pa.array([], pa.string()))).shape == (0, 32)
    # The same words stored as latin-1, UCS-2 and UCS-4 inside CPython (the
    # em space and the emoji only separate words).
    sigs = hasher.signatures(["Café, x!", "café x\u2003", "CAFÉ \U0001f600 x"])
    assert (sigs == sigs[0]).all()


@given(st.lists(texts, max_size=8))
def test_arrow_utf8_equals_str(batch):
    pa = pytest.importorskip("pyarrow")
    batch = [t.encode("utf-8", "replace").decode("utf-8") for t in batch]  # Arrow holds valid UTF-8
    hasher = MinHasher(num_perm=8, shingle="word")
    assert (hasher.signatures(pa.array(batch, pa.string())) == hasher.signatures(batch)).all()


def test_invalid_utf8_in_arrow_does_not_crash():
    pa = pytest.importorskip("pyarrow")
    bad = pa.array([b"ab\xff\xc3 c\xe2\x82", b"\xf0\x9f"], pa.binary()).view(pa.string())
    sig = MinHasher(num_perm=8).signatures(bad)
    assert sig.shape == (2, 8) and not is_empty(sig[0])


def test_isas_agree_on_lengths_not_multiple_of_the_vector():
    rng = random.Random(3)
    batch = [" ".join(rng.choice(["alpha", "Beta", "gamma", "δέλτα", "x"]) for _ in range(rng.randint(0, 400))) for _ in range(20)]
    for k in (1, 3, 7, 8, 9, 31, 32, 33, 100, 128, 200):
        hasher = MinHasher(num_perm=k, seed=k)
        results = []
        for isa in ISAS:
            _minhash.set_isa(isa)
            results.append(hasher.signatures(batch))
        _minhash.set_isa(ISAS[-1])
        for r in results[1:]:
            assert (r == results[0]).all(), k


def test_threads_share_nothing_and_hasher_pickles():
    rng = random.Random(5)
    batches = [[" ".join(f"w{rng.randint(0, 50)}" for _ in range(300)) for _ in range(20)] for _ in range(8)]
    hasher = pickle.loads(pickle.dumps(MinHasher(num_perm=64)))
    serial = [hasher.signatures(b) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(hasher.signatures, batches))
    assert all((s == p).all() for s, p in zip(serial, parallel))


def test_gil_is_released_while_hashing():
    # While one thread hashes, another keeps running Python: the longest
    # pause it sees is far shorter than the kernel call.
    batch = [" ".join(f"word{i % 997} Other, words!" for i in range(20000))] * 100
    hasher = MinHasher()
    start = time.perf_counter()
    hasher.signatures(batch)
    call = time.perf_counter() - start
    done = threading.Event()
    worker = threading.Thread(target=lambda: (hasher.signatures(batch), done.set()))
    last, longest = time.perf_counter(), 0.0
    worker.start()
    while not done.is_set():
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    worker.join()
    assert longest < 0.5 * call, (longest, call)


def test_input_checks():
    with pytest.raises(TypeError):
        MinHasher().signatures(["ok", 3])
    with pytest.raises(TypeError):
        MinHasher().signatures("one text")
    with pytest.raises(ValueError):
        MinHashConfig(num_perm=0)
    with pytest.raises(ValueError):
        MinHashConfig(shingle="line")
    with pytest.raises(ValueError):
        MinHashConfig(seed=-1)
    assert MinHasher().signatures([]).shape == (0, 128)
    assert MinHasher(num_perm=5).config == MinHashConfig(num_perm=5)


# ---------------------------------------------------------------------------
# datasketch interoperability

datasketch = pytest.importorskip("datasketch")

_compat_texts = [
    "The quick brown fox jumps over the lazy dog, again and again and again.",
    "",
    "one two",
    "Grüße aus Köln — ünïcödé ΣΑΣ 😀 and more words follow here",
    "x " * 300,
]


@pytest.mark.parametrize("scheme", ["affine32", "affine64", "legacy"])
@pytest.mark.parametrize("shingle", ["word", "char"])
def test_datasketch_mode_is_bit_for_bit(scheme, shingle):
    for num_perm, seed in [(128, 1), (37, 12345)]:
        hasher = MinHasher(num_perm=num_perm, seed=seed, shingle=shingle, datasketch_scheme=scheme)
        sigs = hasher.signatures(_compat_texts)
        for text, sig in zip(_compat_texts, sigs):
            m = datasketch.MinHash(num_perm=num_perm, seed=seed, scheme=scheme)
            m.update_batch([s.encode("utf-8") for s in hasher.shingles(text)])
            assert sig.dtype == m.hashvalues.dtype
            assert (sig == m.hashvalues).all()


def test_datasketch_default_minhash_is_affine32():
    hasher = MinHasher(datasketch_scheme="affine32")
    text = _compat_texts[0]
    m = datasketch.MinHash()  # num_perm=128, seed=1, the default scheme
    for s in hasher.shingles(text):
        m.update(s.encode("utf-8"))
    assert (hasher.signature(text) == m.hashvalues).all()


@given(texts)
@settings(max_examples=50)
def test_native_signature_is_datasketch_affine64_over_our_keys(text):
    hasher = MinHasher(num_perm=24, seed=7)
    m = datasketch.MinHash(num_perm=24, seed=7, scheme="affine64", hashfunc=lambda key: key)
    m.update_batch([int(k) for k in hasher.shingle_keys(text)])
    assert (hasher.signature(text) == m.hashvalues).all()


def test_lean_minhash_export():
    hasher = MinHasher()
    a, b = hasher.signatures(["a b c d e f g h i j k l", "a b c d e f g h i j x y"])
    la, lb = hasher.to_lean_minhash(a), to_lean_minhash(b, seed=1)
    assert isinstance(la, datasketch.LeanMinHash) and la.scheme == "affine64"
    assert (la.hashvalues == a).all()
    assert la.jaccard(lb) == pytest.approx(estimate_jaccard(a, b))
    buf = bytearray(la.bytesize())
    la.serialize(buf)
    assert (datasketch.LeanMinHash.deserialize(buf).hashvalues == a).all()
    lsh = datasketch.MinHashLSH(threshold=0.5, num_perm=128)
    lsh.insert("a", la)
    assert lsh.query(lb) == ["a"]


# ---------------------------------------------------------------------------
# Estimates track exact Jaccard


def _pair(rng: random.Random, n_words: int, changed: int) -> tuple[str, str]:
    """Two texts of distinct words; B replaces a stretch of A with new words."""
    words = [f"w{rng.getrandbits(48):x}" for _ in range(n_words + changed)]
    a = words[:n_words]
    start = rng.randint(0, n_words - changed)
    b = a[:start] + words[n_words:] + a[start + changed :]
    return " ".join(a), " ".join(b)


def _exact_jaccard(a: str, b: str, config: MinHashConfig) -> float:
    sa, sb = set(shingle_keys_reference(a, config)), set(shingle_keys_reference(b, config))
    return len(sa & sb) / len(sa | sb)


@pytest.mark.parametrize("shingle", ["word", "char"])
def test_estimates_track_exact_jaccard(shingle):
    rng = random.Random(2024)
    config = MinHashConfig(shingle=shingle, num_perm=128)
    hasher = MinHasher(config)
    errors, variances = [], []
    for _ in range(60):
        n_words = rng.randint(40, 400)
        a, b = _pair(rng, n_words, rng.randint(1, n_words // 2))
        truth = _exact_jaccard(a, b, config)
        est = estimate_jaccard(*hasher.signatures([a, b]))
        var = truth * (1 - truth) / config.num_perm
        # 4.5 standard errors: a false alarm has odds ~1e-5 a pair.
        assert abs(est - truth) <= 4.5 * math.sqrt(var) + 1e-9, (truth, est)
        errors.append(est - truth)
        variances.append(var)
    # No bias: the mean error is within 4 standard errors of the mean.
    assert abs(np.mean(errors)) <= 4 * math.sqrt(np.sum(variances)) / len(errors)


def test_identical_and_disjoint_texts():
    hasher = MinHasher()
    a = "alpha beta gamma delta epsilon zeta eta theta"
    assert estimate_jaccard(hasher.signature(a), hasher.signature(a.upper() + "!!")) == 1.0
    assert estimate_jaccard(hasher.signature(a), hasher.signature("one two three four five six")) == 0.0
