"""The suffix-array kernels against their references: SA-IS, sparse-Phi LCP, the repeated-span finder."""
import random
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import _suffix_array
from dedup.suffix_array import (
    JoinedDocuments,
    find_repeated_spans,
    find_repeated_spans_reference,
    join_documents,
    lcp_array,
    lcp_array_reference,
    suffix_array,
    suffix_array_reference,
)


def fibonacci_word(n: int) -> bytes:
    a, b = b"a", b"ab"
    while len(b) < n:
        a, b = b, b + a
    return b[:n]


def thue_morse(n: int) -> bytes:
    return bytes(0xFF * (bin(i).count("1") & 1) for i in range(n))


ADVERSARIAL = [
    b"",
    b"\x00",
    b"\xff",
    b"ab",
    b"ba",
    b"aa",
    b"\x00" * 1000,
    b"\xff" * 777,
    b"ab" * 300,
    b"abc" * 200 + b"ab",
    b"aab" * 211,
    b"\x00\xff" * 250 + b"\x00",
    b"mississippi" * 40,
    fibonacci_word(2000),
    thue_morse(1024),
    bytes(range(256)) * 3,
    bytes(range(255, -1, -1)) * 3,
    b"a" * 500 + b"b" + b"a" * 500,
    b"ba" * 400 + b"c" + b"ab" * 400,
]

small_alphabets = st.sampled_from([b"\x00", b"\x00\xff", b"ab", b"abc", b"\x00\x01\xfe\xff", b"acgt", bytes(range(256))])


@st.composite
def texts(draw, max_size=400):
    alphabet = draw(small_alphabets)
    body = draw(st.lists(st.sampled_from(alphabet), max_size=max_size))
    data = bytes(body)
    if data and draw(st.booleans()):  # periodic: repeat a prefix
        period = draw(st.integers(1, len(data)))
        data = (data[:period] * (max_size // period + 1))[: draw(st.integers(len(data), max_size))]
    return data


def check_sa_lcp(data, force_64bit=False, sampling=16):
    sa = suffix_array(data, force_64bit=force_64bit)
    assert sa.dtype == (np.int64 if force_64bit else np.int32)
    expected = suffix_array_reference(data)
    np.testing.assert_array_equal(sa, expected)
    lcp = lcp_array(data, sa, sampling=sampling)
    assert lcp.dtype == sa.dtype
    np.testing.assert_array_equal(lcp, lcp_array_reference(data, expected))


# ---------------------------------------------------------------- SA and LCP

@pytest.mark.parametrize("data", ADVERSARIAL, ids=lambda d: f"{len(d)}:{d[:6]!r}")
@pytest.mark.parametrize("force_64bit", [False, True])
def test_adversarial_inputs(data, force_64bit):
    check_sa_lcp(data, force_64bit)


@given(st.binary(max_size=300))
def test_random_bytes(data):
    check_sa_lcp(data)


@given(texts(), st.booleans(), st.sampled_from([1, 2, 4, 16, 64]))
def test_small_alphabets_and_periodic(data, force_64bit, sampling):
    check_sa_lcp(data, force_64bit, sampling)


@given(st.lists(st.integers(0, 600), max_size=200), st.booleans())
def test_uint16_symbols(symbols, force_64bit):
    text = np.array(symbols, dtype=np.uint16)
    sa = suffix_array(text, force_64bit=force_64bit)
    np.testing.assert_array_equal(sa, sorted(range(len(symbols)), key=lambda i: symbols[i:]))
    np.testing.assert_array_equal(lcp_array(text, sa), lcp_array_reference(text, sa))


@given(texts(), st.integers(2, 5), st.booleans())
def test_threaded_lcp_is_identical(data, threads, force_64bit):
    sa = suffix_array(data, force_64bit=force_64bit)
    np.testing.assert_array_equal(lcp_array(data, sa, threads=threads, sampling=4), lcp_array(data, sa))


@given(st.lists(st.binary(max_size=30), max_size=6))
def test_lcp_clamped_at_separator(docs):
    joined = join_documents(docs)
    sa = suffix_array(joined.text)
    lcp = lcp_array(joined.text, sa, separator=joined.separator)
    np.testing.assert_array_equal(lcp, lcp_array_reference(joined.text, sa, joined.separator))


def test_input_types_agree():
    data = b"to be or not to be, that is the question; " * 20
    expected = suffix_array(data)
    for variant in (bytearray(data), memoryview(data), np.frombuffer(data, dtype=np.uint8), memoryview(bytearray(data))):
        np.testing.assert_array_equal(suffix_array(variant), expected)
        np.testing.assert_array_equal(lcp_array(variant, expected), lcp_array(data, expected))
    assert suffix_array(b"").shape == (0,) and lcp_array(b"", suffix_array(b"")).shape == (0,)


def test_64bit_kernel_equals_32bit_on_real_text():
    rng = random.Random(7)
    words = [bytes(rng.choice(b"etaoinshrdlu") for _ in range(rng.randint(1, 9))) for _ in range(300)]
    data = b" ".join(rng.choice(words) for _ in range(20000))
    sa32, sa64 = suffix_array(data), suffix_array(data, force_64bit=True)
    assert sa32.dtype == np.int32 and sa64.dtype == np.int64
    np.testing.assert_array_equal(sa32, sa64)
    np.testing.assert_array_equal(lcp_array(data, sa32), lcp_array(data, sa64))
    assert _sorted_suffixes(data, sa32)


def _sorted_suffixes(data: bytes, sa) -> bool:
    """Adjacent suffixes are in order and the SA is a permutation (linear-ish check for big inputs)."""
    if sorted(sa.tolist()) != list(range(len(data))):
        return False
    return all(data[sa[r - 1] :] < data[sa[r] :] for r in range(1, len(sa), max(1, len(sa) // 2000)))


def test_matches_pydivsufsort_on_larger_text():
    pydivsufsort = pytest.importorskip("pydivsufsort")
    rng = random.Random(3)
    paragraphs = [bytes(rng.choice(b"abcdefgh \n") for _ in range(rng.randint(50, 400))) for _ in range(50)]
    data = b"".join(rng.choice(paragraphs) + bytes([rng.randrange(256)]) for _ in range(3000))
    arr = np.frombuffer(bytearray(data), dtype=np.uint8)  # pydivsufsort wants a writable buffer
    sa = suffix_array(arr)
    np.testing.assert_array_equal(sa, pydivsufsort.divsufsort(arr))
    np.testing.assert_array_equal(lcp_array(arr, sa)[1:], pydivsufsort.kasai(arr, sa)[:-1])


def test_argument_checks():
    with pytest.raises(TypeError):
        suffix_array("text")
    with pytest.raises(TypeError):
        suffix_array(np.zeros(3, dtype=np.int32))
    sa = suffix_array(b"abc")
    with pytest.raises(TypeError):
        lcp_array(b"abc", sa.astype(np.float64))
    with pytest.raises(ValueError):
        lcp_array(b"abc", sa, sampling=3)
    with pytest.raises(ValueError):
        lcp_array(b"abcd", sa)


def test_gil_is_released_during_construction():
    # While one thread builds, another keeps running Python: the longest
    # pause it sees is far shorter than the construction (which would be one
    # pause per kernel call if the kernels held the GIL).
    rng = np.random.default_rng(0)
    data = rng.integers(0, 4, size=4_000_000, dtype=np.uint8)
    span = {}

    def build():
        span["start"] = time.perf_counter()
        lcp_array(data, suffix_array(data))
        span["end"] = time.perf_counter()

    worker = threading.Thread(target=build)
    last, longest = time.perf_counter(), 0.0
    worker.start()
    while worker.is_alive():
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    worker.join()
    assert longest < 0.3 * (span["end"] - span["start"]), (longest, span)


# ---------------------------------------------------------------- repeated spans

docs_strategy = st.lists(texts(max_size=24), max_size=5)


def check_finder(docs, min_length, force_64bit=False, exclude_period=0):
    found = find_repeated_spans(docs, min_length, max_repeats=10**6, exclude_period=exclude_period,
                                force_64bit=force_64bit, threads=1 + force_64bit)
    remove_all, keep_first, maximal = find_repeated_spans_reference(docs, min_length, exclude_period)
    assert found.remove_all.by_document(len(docs)) == remove_all
    assert found.keep_first.by_document(len(docs)) == keep_first
    got = set(zip(found.repeats.length.tolist(), found.repeats.count.tolist(),
                  found.repeats.first_doc.tolist(), found.repeats.first_offset.tolist()))
    assert got == maximal
    # each range names the first occurrence, in corpus order, of its leading min_length bytes
    for ranges, later in ((found.remove_all, False), (found.keep_first, True)):
        for d, s, fd, fo in zip(ranges.doc, ranges.start, ranges.first_doc, ranges.first_offset):
            lead = docs[d][s : s + min_length]
            first = min((e, i) for e, doc in enumerate(docs) for i in range(len(doc)) if doc[i : i + min_length] == lead)
            assert (fd, fo) == first
            assert not later or (fd, fo) < (d, s)
    return found


@given(docs_strategy, st.integers(1, 8), st.booleans(), st.sampled_from([0, 1, 3, 8]))
def test_finder_equals_brute_force(docs, min_length, force_64bit, exclude_period):
    check_finder(docs, min_length, force_64bit, exclude_period)


def test_periodic_runs_stay_out_of_the_repeat_table():
    padding = b"\x00" * 3000
    notice = b"This document is subject to the rights, licenses and restrictions contained in BCP 78."
    docs = [b"one " + padding + b" " + notice, b"two " + padding[:1500] + b". " + notice, b"three " + notice]
    kept = find_repeated_spans(docs, 50)
    every = find_repeated_spans(docs, 50, exclude_period=0, max_repeats=10**6)
    assert len(every.repeats) > 1000  # one maximal repeat per run length
    # left: " " + notice (in all three) and " " + 1500 NULs (in the first two)
    assert list(zip(kept.repeats.count, kept.repeats.length)) == [(3, len(notice) + 1), (2, 1501)]
    assert kept.remove_all.by_document(3) == every.remove_all.by_document(3)


@settings(max_examples=50)
@given(st.lists(st.binary(min_size=0, max_size=40), max_size=4), st.integers(1, 6))
def test_finder_on_arbitrary_bytes(docs, min_length):
    check_finder(docs, min_length)


def test_no_match_crosses_a_document_boundary():
    # "abcd" occurs in the third document and across the end of the first
    # into the second; only one occurrence is inside documents.
    docs = [b"xxab", b"cdyy", b"abcd"]
    found = check_finder(docs, 4)
    assert len(found.remove_all) == 0 and len(found.keep_first) == 0
    # the same with the separator byte itself inside documents
    docs = [b"ab\xff", b"\xffcd", b"ab\xff\xffcd"]
    found = check_finder(docs, 4)
    assert found.remove_all.by_document(3) == [[], [], []]
    assert join_documents(docs).separator != 0xFF


def test_documents_with_every_byte_value_widen_the_alphabet():
    everything = bytes(range(256))
    docs = [everything, b"prefix" + everything[:100], everything[::-1], everything[100:] + b"suffix"]
    joined = join_documents(docs)
    assert joined.text.dtype == np.uint16 and joined.separator == 256
    found = check_finder(docs, 50)
    assert found.keep_first.by_document(4) == [[], [(6, 106)], [], [(0, 156)]]
    assert found.remove_all.by_document(4)[0] == [(0, 256)]


def test_keep_first_keeps_exactly_one_copy_of_boilerplate():
    boilerplate = (b"Copyright (C) The Internet Society (1998).  All Rights Reserved.\n\n"
                   b"This document and translations of it may be copied and furnished to others.")
    docs = [f"document {i}: ".encode() + boilerplate + f" and then text {i * 7919}".encode() for i in range(20)]
    found = find_repeated_spans(docs, 100)
    cut = found.keep_first.by_document(len(docs))
    assert cut[0] == []
    for i, ranges in enumerate(cut[1:], start=1):
        ((start, end),) = ranges
        assert boilerplate in docs[i][start:end]
    assert (found.keep_first.first_doc < found.keep_first.doc).all()
    assert [len(r) for r in found.remove_all.by_document(len(docs))] == [1] * 20
    assert found.repeats.count[0] == 20 and found.repeats.first_doc[0] == 0
    assert found.repeats.length[0] >= len(boilerplate)


def test_periodic_run_keeps_its_first_period():
    docs = [b"intro " + b"-" * 300 + b" outro", b"ab" * 100]
    found = check_finder(docs, 10)
    assert found.keep_first.by_document(2) == [[(7, 306)], [(2, 200)]]


def test_repeats_table_is_bounded_and_ordered():
    docs = [b"alpha beta gamma delta " * 3, b"alpha beta gamma delta epsilon", b"zeta eta theta " * 4]
    full = find_repeated_spans(docs, 8, max_repeats=10**6)
    top = find_repeated_spans(docs, 8, max_repeats=3)
    assert len(top.repeats) == 3 and len(full.repeats) > 3
    keys = list(zip(-full.repeats.count, -full.repeats.length, full.repeats.first_doc, full.repeats.first_offset))
    assert keys == sorted(keys)
    np.testing.assert_array_equal(top.repeats.count, full.repeats.count[:3])
    np.testing.assert_array_equal(top.repeats.length, full.repeats.length[:3])
    assert len(find_repeated_spans(docs, 8, max_repeats=0).repeats) == 0


def test_str_documents_and_prejoined_corpus():
    docs = ["Grüße aus Köln, " * 10, "Grüße aus Köln, und mehr"]
    by_str = find_repeated_spans(docs, 20)
    joined = join_documents([d.encode() for d in docs])
    assert isinstance(joined, JoinedDocuments) and joined.num_documents == 2
    by_joined = find_repeated_spans([], 20, joined=joined)
    assert by_str.remove_all.by_document(2) == by_joined.remove_all.by_document(2)
    assert by_str.keep_first.by_document(2) == by_joined.keep_first.by_document(2)
    with pytest.raises(ValueError):
        find_repeated_spans(docs, 0)
    with pytest.raises(ValueError):
        by_str.cut_ranges("keep_last")
    assert by_str.cut_ranges("remove_all") is by_str.remove_all


def test_scan_kernel_checks_shapes():
    text = np.frombuffer(b"abcabc", dtype=np.uint8)
    sa = suffix_array(text)
    with pytest.raises(ValueError):
        _suffix_array.scan_repeats(text, sa, lcp_array(text, sa)[:-1], 2, 255, 10)
    with pytest.raises(ValueError):
        _suffix_array.scan_repeats(text, sa, lcp_array(text, sa), 0, 255, 10)
