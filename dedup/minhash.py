"""MinHash signatures of raw text: the contract of the near-dedup kernel.

A signature summarises a document's set of shingles so that the fraction of
equal positions between two signatures estimates the Jaccard similarity of the
two shingle sets. ``MinHasher`` computes it from raw ``str`` (or an Arrow
string array) in one native pass, ``dedup/_minhash.pyx``; the ``*_reference``
functions below are its pure-Python twin, line for line the definitions here,
and the tests prove the two equal on random Unicode text.

Words and normalization
    With ``normalize=True`` (the default) a *word* is a maximal run of code
    points ``c`` with ``c.isalnum()`` (Unicode letters and numbers, any
    script); each is lowercased by the simple one-to-one mapping
    ``Py_UNICODE_TOLOWER`` (in Python ``c.lower()[0]``, which differs from
    ``str.lower()`` only for U+0130 and the final sigma rule). Everything else
    -- whitespace, punctuation, symbols, combining marks, controls -- only
    separates words, so "Hello,  World!" and "hello world" have the same words.
    Apostrophes and underscores split too ("don't" -> "don", "t"); there is no
    Unicode NFKC/accent folding. With ``normalize=False`` the words are exactly
    ``text.split()``: maximal runs of non-whitespace, case and punctuation kept.

Shingles
    ``shingle="word"``: every run of ``ngram`` consecutive words (default 5).
    ``shingle="char"``: every run of ``ngram`` consecutive code points of the
    normalized text, which is the words joined by single spaces (with
    ``normalize=False``: the raw text, unchanged). A text with fewer than
    ``ngram`` units but at least one has exactly one shingle, of all of them,
    so short documents still compare; a text with none (empty, whitespace or
    punctuation only) has no shingles and gets the all-``EMPTY_VALUE``
    signature.

Shingle keys (64-bit, no Python object per shingle)
    Every word is hashed once: ``h`` starts at ``WORD_INIT`` and folds
    ``h = (h ^ chunk) * MUL mod 2**64`` over the UTF-8 bytes of the folded word
    read as little-endian 8-byte chunks (the last zero-padded), then
    ``word_hash = fmix64(h ^ byte_length)``; an ASCII word of up to 8 letters is
    one multiply, and the kernel reads ASCII text 64 bytes at a time. A word
    shingle's key is the polynomial ``sum_t word_hash[t] * SHINGLE_MUL**(m-1-t)
    mod 2**64`` over its m words, which the kernel rolls from one shingle to
    the next in two multiplies (the word hashes are already nonlinear, fmix64
    outputs, so the linear combination collides only by chance). A char
    shingle's key folds its code points from ``CHAR_INIT`` by
    ``key = (key ^ c) * MUL`` (nonlinear: code points are small, structured
    numbers). Distinct shingles collide with odds ~2**-64 a pair. Keys depend
    on the folded text, not on how it is stored, so a str (latin-1, UCS-2 or
    UCS-4 inside) and its UTF-8 Arrow twin give the same signature.

Permutations and the estimate
    Permutation ``i`` maps a key to ``pi_i(key) = (a_i * fmix64(key) + b_i) mod
    2**64`` with ``a_i`` odd; ``fmix64`` (MurmurHash3's finalizer) and
    ``x -> a_i x + b_i`` are both bijections of the 64-bit integers, so
    ``pi_i`` is a true permutation: distinct keys never tie. The signature is
    ``sig_i(A) = min over shingles s of A of pi_i(key(s))`` for ``i < num_perm``,
    and ``J(A, B) ~ mean_i [sig_i(A) == sig_i(B)]``. Why unbiased: if ``pi_i``
    is a random permutation, the smallest element of ``A | B`` under it is
    equally likely to be any element, and the two minima agree exactly when it
    lies in ``A & B``: ``P[sig_i(A) = sig_i(B)] = |A & B| / |A | B|``. The mean of
    ``num_perm`` such indicators is then unbiased with standard error
    ``sqrt(J (1 - J) / num_perm)`` (0.035 at J = 0.8, k = 128). The affine family is
    2-universal rather than provably min-wise independent; what makes it behave
    like random permutations here is that its inputs are already well-mixed
    64-bit hashes (fmix64 of the keys), and the tests measure the bias on
    constructed pairs. ``a_i, b_i`` come from ``np.random.RandomState(seed)``
    exactly as datasketch (>= 2.0) draws its ``"affine64"`` scheme, so a native
    signature is bit-for-bit ``datasketch.MinHash(num_perm, seed,
    scheme="affine64", hashfunc=<our key>)`` over our shingle keys; that is what
    ``to_lean_minhash`` exports. The loop ``a_i * x + b_i`` is one 64-bit
    multiply-add and an unsigned min per lane: AVX-512 runs 8 permutations per
    instruction, AVX2 4 (chosen at import).

Signature dtype: uint64
    Permuted values span all 64 bits, so two different minima agree by chance
    with probability ~2**-64. With 32-bit values the minima of large sets crowd
    near zero and agree spuriously (about |A| / 2**32 per position), inflating
    estimates on long documents. The cost is 8 bytes x num_perm a document
    (1 KiB at 128).

Empty sentinel
    A text with no shingles gets ``EMPTY_VALUE`` (2**64 - 1) in every position,
    datasketch's empty ``"affine64"`` MinHash. Two empty texts therefore
    "estimate" 1.0: callers that cluster should set them aside first
    (``is_empty``); a non-empty text hits the sentinel with odds 2**(-64 k).

Datasketch bit-compatibility
    ``MinHashConfig(datasketch_scheme=...)`` reproduces
    ``datasketch.MinHash(num_perm, seed, scheme=...)`` fed with the UTF-8 bytes
    of our shingle strings (``MinHasher.shingles``: words joined by one space, or
    the character n-gram) -- hashvalues bit for bit, dtype included:
    ``"affine32"`` (datasketch's default since 2.0, uint32), ``"affine64"`` and
    ``"legacy"`` (every version before 2.0, uint64). It hashes each shingle with
    SHA-1 in Python as datasketch does, so it runs at datasketch's speed.

Cost
    One pass per text with the GIL released, no Python object per word or
    shingle. On the RFC corpus (mostly ASCII English, 8 bytes a word), word
    5-grams, k = 128, one core of an AMD EPYC (Zen 4): ~360-420 MB/s with the
    AVX-512 loop, ~210 MB/s with AVX2, ~125 MB/s portable
    (benchmarks/bench_minhash.py). The permutation loop is about half of it at
    k = 128 and grows linearly with k; reading, folding and keying alone run at
    ~850 MB/s. Char shingles cost one permutation pass per character, ~4x
    slower. Scratch memory per call: 4 bytes per code unit of the longest text
    in the batch, plus the (texts, num_perm) result.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Iterable, Literal, Optional, Sequence

import numpy as np

from dedup import _minhash

MASK64 = (1 << 64) - 1
EMPTY_VALUE = MASK64

# The shingle-key constants; _minhash.pyx holds the same numbers.
MUL = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, odd
SHINGLE_MUL = 0xD6E8FEB86659FD93
WORD_INIT = 0xCBF29CE484222325  # FNV-1a's offset basis
CHAR_INIT = 0x84222325CBF29CE4

DATASKETCH_SCHEMES = ("affine32", "affine64", "legacy")
_MERSENNE_61 = (1 << 61) - 1


@dataclass(frozen=True)
class MinHashConfig:
    """How a text becomes a signature.

    num_perm: signature length k; 128 gives a standard error of 0.035 at
        Jaccard 0.8, enough for LSH candidates that are verified afterwards.
    ngram: shingle width, in words (5, the common choice for web dedup:
        shorter n-grams recur by chance across unrelated documents) or chars.
    shingle: "word" or "char".
    normalize: fold case and punctuation before shingling (see module doc).
    seed: permutation seed, 0 <= seed < 2**32 (datasketch's default is 1).
    datasketch_scheme: None for the native kernel, or a datasketch scheme name
        to reproduce datasketch.MinHash bit for bit (slow path).
    """

    num_perm: int = 128
    ngram: int = 5
    shingle: Literal["word", "char"] = "word"
    normalize: bool = True
    seed: int = 1
    datasketch_scheme: Optional[Literal["affine32", "affine64", "legacy"]] = None

    def __post_init__(self) -> None:
        if self.num_perm < 1:
            raise ValueError("num_perm must be >= 1")
        if self.ngram < 1:
            raise ValueError("ngram must be >= 1")
        if self.shingle not in ("word", "char"):
            raise ValueError(f"shingle must be 'word' or 'char', got {self.shingle!r}")
        if not 0 <= self.seed < 2**32:
            raise ValueError("seed must be in [0, 2**32)")
        if self.datasketch_scheme not in (None, *DATASKETCH_SCHEMES):
            raise ValueError(f"datasketch_scheme must be None or one of {DATASKETCH_SCHEMES}")


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b), uint64[num_perm] each, a odd: datasketch's "affine64" draw."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 63, num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = gen.randint(0, 1 << 64, num_perm, dtype=np.uint64)
    return a, b


class MinHasher:
    """Signatures for a fixed config; build once per worker, reuse per batch.

    >>> hasher = MinHasher(num_perm=64)
    >>> sigs = hasher.signatures(["the quick brown fox jumps", "The quick brown fox jumps!"])
    >>> sigs.shape, sigs.dtype, estimate_jaccard(sigs[0], sigs[1])
    ((2, 64), dtype('uint64'), 1.0)
    """

    def __init__(self, config: Optional[MinHashConfig] = None, **fields) -> None:
        config = config or MinHashConfig()
        self.config = replace(config, **fields) if fields else config
        c = self.config
        if c.datasketch_scheme is None:
            self._a, self._b = permutations(c.num_perm, c.seed)
        else:
            self._a, self._b = _datasketch_permutations(c.num_perm, c.seed, c.datasketch_scheme)

    @property
    def dtype(self) -> np.dtype:
        """uint64, or uint32 for datasketch_scheme="affine32"."""
        return np.dtype(np.uint32 if self.config.datasketch_scheme == "affine32" else np.uint64)

    @property
    def empty_value(self) -> int:
        """The value every position of an empty text's signature holds."""
        return (1 << 32) - 1 if self.config.datasketch_scheme in ("affine32", "legacy") else MASK64

    def signatures(self, texts) -> np.ndarray:
        """dtype[len(texts), num_perm]: one signature per text.

        texts: a sequence of str, or a pyarrow string / large_string /
        string_view Array or ChunkedArray (nulls give the empty signature).
        The native path reads each text in place and hashes with the GIL
        released.
        """
        c = self.config
        if isinstance(texts, str):
            raise TypeError("signatures() takes a sequence of texts; use signature() for one")
        if c.datasketch_scheme is not None:
            return self._datasketch_signatures(_as_str_list(texts))
        args = (self._a, self._b, c.ngram, c.shingle == "char", c.normalize)
        if _is_arrow(texts):
            parts = [_minhash.signatures_utf8(*_arrow_utf8(chunk), *args) for chunk in _arrow_chunks(texts)]
            return np.concatenate(parts) if parts else np.empty((0, c.num_perm), np.uint64)
        return _minhash.signatures_str(texts, *args)

    def signature(self, text: str) -> np.ndarray:
        """dtype[num_perm]: the signature of one text."""
        return self.signatures([text])[0]

    def shingle_keys(self, text: str) -> np.ndarray:
        """uint64[]: the key of every shingle of text, in order, repeats kept."""
        c = self.config
        return _minhash.shingle_keys(text, c.ngram, c.shingle == "char", c.normalize)

    def shingles(self, text: str) -> list[str]:
        """The shingles of text as strings: what datasketch is fed (as UTF-8)."""
        c = self.config
        if c.shingle == "char":
            s = normalize_text(text) if c.normalize else text
            return _windows(s, c.ngram, "")
        units = normalize_text(text).split(" ") if c.normalize else text.split()
        return _windows([u for u in units if u], c.ngram, " ")

    def to_lean_minhash(self, signature: np.ndarray):
        """The signature as a datasketch.LeanMinHash of this config's scheme and seed."""
        return to_lean_minhash(signature, self.config.seed, self.config.datasketch_scheme or "affine64")

    def _datasketch_signatures(self, texts: list[str]) -> np.ndarray:
        out = np.full((len(texts), self.config.num_perm), self.empty_value, dtype=self.dtype)
        for row, text in zip(out, texts):
            shingles = [s.encode("utf-8", "surrogatepass") for s in self.shingles(text)]
            for start in range(0, len(shingles), 4096):  # bounds the (shingles x k) matrix
                np.minimum(row, self._datasketch_update(shingles[start : start + 4096]), out=row)
        return out

    def _datasketch_update(self, shingles: list[bytes]) -> np.ndarray:
        """min over shingles of datasketch's permuted values (its update_batch, CPU path)."""
        scheme = self.config.datasketch_scheme
        digests = b"".join(hashlib.sha1(s).digest()[:8] for s in shingles)
        hv = np.frombuffer(digests, dtype="<u8")
        a, b = self._a, self._b
        if scheme == "legacy":
            hv = (hv & np.uint64(0xFFFFFFFF)).reshape(-1, 1)  # sha1_hash32
            # datasketch's uint64 product wraps before the modulo; so does this.
            phv = ((hv * a + b) % np.uint64(_MERSENNE_61)) & np.uint64(0xFFFFFFFF)
        elif scheme == "affine32":
            hv = _fmix32((hv & np.uint64(0xFFFFFFFF)).astype(np.uint32)).reshape(-1, 1)
            phv = hv * a + b
        else:
            hv = _fmix64_np(hv).reshape(-1, 1)
            phv = hv * a + b
        return phv.min(axis=0)


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray | float:
    """Fraction of equal positions along the last axis (rows of 2-D arrays pairwise)."""
    est = np.mean(np.asarray(sig_a) == np.asarray(sig_b), axis=-1)
    return float(est) if np.ndim(est) == 0 else est


def is_empty(signatures: np.ndarray) -> np.ndarray | bool:
    """True for the signature of a text without shingles (every position EMPTY_VALUE)."""
    sig = np.asarray(signatures)
    result = np.all(sig == np.iinfo(sig.dtype).max, axis=-1)
    return bool(result) if np.ndim(result) == 0 else result


def normalize_text(text: str) -> str:
    """The normalized words of text joined by single spaces (native)."""
    return _minhash.normalize_text(text)


def to_lean_minhash(signature: np.ndarray, seed: int = 1, scheme: str = "affine64"):
    """Export one signature as ``datasketch.LeanMinHash``.

    Native signatures are datasketch "affine64" hash values (see module doc),
    so they compare with each other through datasketch (jaccard, MinHashLSH)
    exactly as through ``estimate_jaccard``; they agree with sketches that
    datasketch computes itself only when those use our shingle keys as hashfunc.
    """
    from datasketch import LeanMinHash

    return LeanMinHash(seed=seed, hashvalues=np.asarray(signature), scheme=scheme)


# ---------------------------------------------------------------------------
# The pure-Python reference: slow, literal, and what the kernel is tested against.


def fold_reference(c: str, normalize: bool) -> Optional[str]:
    """The folded code point, or None where c separates words."""
    if normalize:
        return c.lower()[0] if c.isalnum() else None
    return None if c.isspace() else c


def words_reference(text: str, normalize: bool) -> list[str]:
    words, current = [], []
    for c in text:
        f = fold_reference(c, normalize)
        if f is None:
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(f)
    if current:
        words.append("".join(current))
    return words


def char_text_reference(text: str, normalize: bool) -> str:
    return " ".join(words_reference(text, True)) if normalize else text


def shingle_keys_reference(text: str, config: MinHashConfig = MinHashConfig()) -> list[int]:
    n = config.ngram
    if config.shingle == "char":
        units = [ord(c) for c in char_text_reference(text, config.normalize)]
    else:
        units = [word_hash_reference(w) for w in words_reference(text, config.normalize)]
    if not units:
        return []
    width = min(n, len(units))
    windows = [units[j : j + width] for j in range(len(units) - width + 1)]
    if config.shingle == "char":
        return [_fold(CHAR_INIT, window, MUL) for window in windows]
    return [_polynomial(window, SHINGLE_MUL) for window in windows]


def word_hash_reference(word: str) -> int:
    data = word.encode("utf-8", "surrogatepass")
    chunks = [int.from_bytes(data[i : i + 8], "little") for i in range(0, len(data), 8)]
    return fmix64_reference(_fold(WORD_INIT, chunks, MUL) ^ len(data))


def fmix64_reference(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & MASK64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & MASK64
    return k ^ (k >> 33)


def signature_reference(text: str, config: MinHashConfig = MinHashConfig()) -> list[int]:
    """sig_i = min over shingle keys of (a_i * fmix64(key) + b_i) mod 2**64."""
    a, b = permutations(config.num_perm, config.seed)
    xs = [fmix64_reference(key) for key in shingle_keys_reference(text, config)]
    return [min(((int(ai) * x + int(bi)) & MASK64 for x in xs), default=EMPTY_VALUE) for ai, bi in zip(a, b)]


def _polynomial(units: Iterable[int], base: int) -> int:
    """sum of units[t] * base**(len - 1 - t) mod 2**64, by Horner's rule."""
    h = 0
    for u in units:
        h = (h * base + u) & MASK64
    return h


def _fold(h: int, units: Iterable[int], mul: int) -> int:
    for u in units:
        h = ((h ^ u) * mul) & MASK64
    return h


# ---------------------------------------------------------------------------
# Helpers


def _windows(units: Sequence, n: int, sep: str) -> list[str]:
    if not units:
        return []
    width = min(n, len(units))
    return [sep.join(units[j : j + width]) for j in range(len(units) - width + 1)]


def _datasketch_permutations(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """datasketch.MinHash._init_permutations, per scheme (datasketch 2.0)."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        # One (a, b) pair drawn after the other, per permutation.
        pairs = [
            (gen.randint(1, _MERSENNE_61, dtype=np.uint64), gen.randint(0, _MERSENNE_61, dtype=np.uint64))
            for _ in range(num_perm)
        ]
        ab = np.array(pairs, dtype=np.uint64).T
        return ab[0].copy(), ab[1].copy()
    if scheme == "affine64":
        return permutations(num_perm, seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _fmix64_np(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _is_arrow(texts) -> bool:
    return type(texts).__module__.split(".")[0] == "pyarrow"


def _arrow_chunks(texts):
    return texts.chunks if hasattr(texts, "chunks") else [texts]


def _arrow_utf8(arr) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, starts, ends) of a pyarrow string array; nulls become empty ranges."""
    import pyarrow as pa

    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        pass
    elif pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.large_string())
    else:
        raise TypeError(f"expected an Arrow string array, got {arr.type}")
    n = len(arr)
    _, offsets_buf, data_buf = arr.buffers()
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    if offsets_buf is None or n == 0:
        offsets = np.zeros(n + 1, dtype=np.int64)
    else:
        offsets = np.frombuffer(offsets_buf, dtype=width)[arr.offset : arr.offset + n + 1].astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    starts, ends = offsets[:-1].copy(), offsets[1:].copy()
    if arr.null_count:
        nulls = arr.is_null().to_numpy(zero_copy_only=False)
        ends[nulls] = starts[nulls]
    return data, starts, ends


def _as_str_list(texts) -> list[str]:
    if _is_arrow(texts):
        return ["" if t is None else t for t in texts.to_pylist()]
    return list(texts)
