# cython: language_level=3
"""MurmurHash3 x64 128-bit over UTF-8 bytes: the exact-dedup digest kernel.

Plain C over the UTF-8 buffer of each string; the batch entry point gathers
buffer pointers while holding the GIL and hashes them all with the GIL
released. The pure-Python twin is ``dedup.hashing.murmur3_128_reference``.
"""
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

import numpy as np

cdef uint64_t C1 = 0x87c37b91114253d5ULL
cdef uint64_t C2 = 0x4cf5ad432745937fULL


cdef inline uint64_t rotl64(uint64_t x, int r) noexcept nogil:
    return (x << r) | (x >> (64 - r))


cdef inline uint64_t fmix64(uint64_t k) noexcept nogil:
    k ^= k >> 33
    k *= 0xff51afd7ed558ccdULL
    k ^= k >> 33
    k *= 0xc4ceb9fe1a85ec53ULL
    k ^= k >> 33
    return k


cdef inline uint64_t load64(const uint8_t* p) noexcept nogil:
    # memcpy keeps unaligned loads legal; x86-64 and arm64 are little-endian,
    # which is the byte order MurmurHash3 is defined in.
    cdef uint64_t v
    memcpy(&v, p, 8)
    return v


cdef void murmur3_x64_128(const uint8_t* data, Py_ssize_t length, uint32_t seed,
                          uint64_t* out) noexcept nogil:
    cdef Py_ssize_t nblocks = length // 16
    cdef uint64_t h1 = seed
    cdef uint64_t h2 = seed
    cdef uint64_t k1, k2
    cdef Py_ssize_t i
    cdef const uint8_t* tail
    cdef int rest
    for i in range(nblocks):
        k1 = load64(data + 16 * i)
        k2 = load64(data + 16 * i + 8)
        k1 *= C1; k1 = rotl64(k1, 31); k1 *= C2; h1 ^= k1
        h1 = rotl64(h1, 27); h1 += h2; h1 = h1 * 5 + 0x52dce729
        k2 *= C2; k2 = rotl64(k2, 33); k2 *= C1; h2 ^= k2
        h2 = rotl64(h2, 31); h2 += h1; h2 = h2 * 5 + 0x38495ab5
    tail = data + nblocks * 16
    rest = length & 15
    k1 = 0
    k2 = 0
    if rest > 8:
        for i in range(rest - 1, 7, -1):
            k2 ^= (<uint64_t>tail[i]) << (8 * (i - 8))
        k2 *= C2; k2 = rotl64(k2, 33); k2 *= C1; h2 ^= k2
    if rest > 0:
        for i in range(min(rest, 8) - 1, -1, -1):
            k1 ^= (<uint64_t>tail[i]) << (8 * i)
        k1 *= C1; k1 = rotl64(k1, 31); k1 *= C2; h1 ^= k1
    h1 ^= <uint64_t>length
    h2 ^= <uint64_t>length
    h1 += h2
    h2 += h1
    h1 = fmix64(h1)
    h2 = fmix64(h2)
    h1 += h2
    h2 += h1
    out[0] = h1
    out[1] = h2


def hash_bytes(const uint8_t[::1] data, uint32_t seed=0):
    """(h1, h2) of one byte buffer, as unsigned 64-bit ints."""
    cdef uint64_t out[2]
    cdef Py_ssize_t n = data.shape[0]
    cdef const uint8_t* p = &data[0] if n > 0 else <const uint8_t*>""
    with nogil:
        murmur3_x64_128(p, n, seed, out)
    return out[0], out[1]


def hash_texts(list texts, uint32_t seed=0):
    """Hash the UTF-8 encoding of every str in ``texts``; returns uint64[n, 2]."""
    cdef Py_ssize_t n = len(texts)
    result = np.empty((n, 2), dtype=np.uint64)
    cdef uint64_t[:, ::1] res = result
    if n == 0:
        return result
    cdef const char** ptrs = <const char**>malloc(n * sizeof(char*))
    cdef Py_ssize_t* lens = <Py_ssize_t*>malloc(n * sizeof(Py_ssize_t))
    cdef Py_ssize_t i
    if ptrs == NULL or lens == NULL:
        free(ptrs); free(lens)
        raise MemoryError()
    try:
        for i in range(n):
            ptrs[i] = PyUnicode_AsUTF8AndSize(texts[i], &lens[i])
        with nogil:
            for i in range(n):
                murmur3_x64_128(<const uint8_t*>ptrs[i], lens[i], seed, &res[i, 0])
    finally:
        free(ptrs)
        free(lens)
    return result
