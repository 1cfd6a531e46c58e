"""128-bit content digests for exact deduplication.

MurmurHash3 x64 128 (Austin Appleby's public-domain algorithm) over the UTF-8
bytes of a text. It is non-cryptographic: collisions are possible for an
adversary who targets them, and at 2**-128 per pair they are not a concern for
accidental duplicates in any corpus (a billion documents give ~1.5e-21 odds of
one collision). The kernel lives in ``dedup/_exact_hash.pyx``; the functions
here are its public API and its pure-Python reference.
"""
from __future__ import annotations

import numpy as np

from dedup import _exact_hash

_MASK = (1 << 64) - 1
_C1 = 0x87C37B91114253D5
_C2 = 0x4CF5AD432745937F


def murmur3_128(data: bytes, seed: int = 0) -> tuple[int, int]:
    """(h1, h2) of ``data``: the kernel; equal to :func:`murmur3_128_reference`."""
    return _exact_hash.hash_bytes(data, seed)


def hash_texts(texts: list[str], seed: int = 0) -> np.ndarray:
    """uint64[len(texts), 2]: the digest of each text's UTF-8 bytes, one GIL-free pass."""
    return _exact_hash.hash_texts(texts, seed)


def text_digest(text: str, seed: int = 0) -> str:
    """The 32-hex-character digest of one text (h1 then h2, big-endian hex)."""
    h1, h2 = _exact_hash.hash_texts([text], seed)[0]
    return f"{int(h1):016x}{int(h2):016x}"


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _MASK


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _MASK
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _MASK
    return k ^ (k >> 33)


def murmur3_128_reference(data: bytes, seed: int = 0) -> tuple[int, int]:
    """Pure-Python MurmurHash3_x64_128, line by line after the C original."""
    h1 = h2 = seed & 0xFFFFFFFF
    nblocks = len(data) // 16
    for i in range(nblocks):
        k1 = int.from_bytes(data[16 * i : 16 * i + 8], "little")
        k2 = int.from_bytes(data[16 * i + 8 : 16 * i + 16], "little")
        k1 = (_rotl((k1 * _C1) & _MASK, 31) * _C2) & _MASK
        h1 ^= k1
        h1 = (_rotl(h1, 27) + h2) & _MASK
        h1 = (h1 * 5 + 0x52DCE729) & _MASK
        k2 = (_rotl((k2 * _C2) & _MASK, 33) * _C1) & _MASK
        h2 ^= k2
        h2 = (_rotl(h2, 31) + h1) & _MASK
        h2 = (h2 * 5 + 0x38495AB5) & _MASK
    tail = data[16 * nblocks :]
    if len(tail) > 8:
        k2 = int.from_bytes(tail[8:], "little")
        h2 ^= (_rotl((k2 * _C2) & _MASK, 33) * _C1) & _MASK
    if tail:
        k1 = int.from_bytes(tail[:8], "little")
        h1 ^= (_rotl((k1 * _C1) & _MASK, 31) * _C2) & _MASK
    h1 ^= len(data)
    h2 ^= len(data)
    h1 = (h1 + h2) & _MASK
    h2 = (h2 + h1) & _MASK
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & _MASK
    h2 = (h2 + h1) & _MASK
    return h1, h2
