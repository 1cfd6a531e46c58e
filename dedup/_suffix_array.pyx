# cython: language_level=3
"""Suffix array (SA-IS), LCP array (sparse Phi) and repeated-span scan kernels.

Plain C over a symbol buffer (uint8 bytes, or uint16 when a corpus uses all
256 byte values and needs a separator outside them). Every entry point takes
typed memoryviews while holding the GIL and runs with the GIL released. The
public API, the contract and the pure-Python references are in
``dedup/suffix_array.py``.

Memory, for n input symbols and 4-byte indices (8-byte: double the index
arrays):

* ``suffix_array``: the SA itself (4n) plus two bucket arrays of the
  alphabet size; the reduced problem of each recursion level lives inside
  the SA buffer (Nong-Zhang-Chan layout, as in Yuta Mori's sais-lite).
  L/S types are never stored: they are recomputed from neighbouring symbols
  and carried in the sign bit of SA entries during induced sorting.
  Recursion levels allocate buckets for their alphabet (two arrays of at
  most n/2 entries, 4n bytes, on adversarial input; 3 MB for 50 MB of RFC
  text) and free them before recursing further, so the peak stays <= 9n
  with the text.
* ``lcp_array``: the LCP output (4n) plus the sampled Phi array, 4n/q bytes
  for sampling q (n/4 at the default q = 16).
* ``scan_repeats``: two bitmaps of n bits, the output runs, the bounded
  heap of maximal repeats and the stack of open lcp-intervals (32 bytes a
  nesting level: one level per byte of the longest periodic run, e.g. 5 MB
  for a 160 KB run of NULs).

Random memory access is the cost that matters at these sizes (text and SA
far larger than the caches): the induced-sorting scans, the naming loop
and the LCP pass prefetch what they will read a fixed distance ahead.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memmove, memset

import numpy as np

cdef extern from *:
    """
    #define DM_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
    #define DM_PREFETCHW(p) __builtin_prefetch((const void *)(p), 1, 3)
    #define DM_CTZ64(x) __builtin_ctzll(x)
    """
    void DM_PREFETCH(const void* p) noexcept nogil
    void DM_PREFETCHW(const void* p) noexcept nogil
    int DM_CTZ64(uint64_t x) noexcept nogil

ctypedef fused idx_t:
    int32_t
    int64_t

ctypedef fused sym_t:
    uint8_t
    uint16_t
    int32_t
    int64_t

# The symbol types the Python entry points accept (sym_t adds the index types
# for the reduced strings of the SA-IS recursion).
ctypedef fused text_t:
    uint8_t
    uint16_t

# How far ahead (in SA slots) the scans prefetch the text they will read:
# a slot costs a few ns, so 32 slots cover one DRAM miss; 8 to 64 measured
# the same on 50 MB of text.
cdef enum:
    PREFETCH_DISTANCE = 32


# ---------------------------------------------------------------- buckets

cdef void _count(const sym_t* T, idx_t* C, idx_t n, idx_t k) noexcept nogil:
    cdef idx_t i
    memset(C, 0, k * sizeof(idx_t))
    for i in range(n):
        C[T[i]] += 1


cdef void _bucket_starts(const idx_t* C, idx_t* B, idx_t k) noexcept nogil:
    cdef idx_t i, s = 0
    for i in range(k):
        B[i] = s
        s += C[i]


cdef void _bucket_ends(const idx_t* C, idx_t* B, idx_t k) noexcept nogil:
    cdef idx_t i, s = 0
    for i in range(k):
        s += C[i]
        B[i] = s


# ---------------------------------------------------------------- SA-IS

cdef void _sort_lms_substrings(const sym_t* T, idx_t* SA, idx_t* C, idx_t* B,
                               idx_t n, idx_t k) noexcept nogil:
    """Induce the order of the LMS substrings seeded at their bucket ends.

    Afterwards the LMS positions sit in SA as negative entries (~p) in sorted
    LMS-substring order; every other slot is 0.
    """
    cdef idx_t i, j, v
    cdef sym_t c
    # L-type pass, left to right; the virtual sentinel induces suffix n-1.
    _bucket_starts(C, B, k)
    j = n - 1
    c = T[j]
    SA[B[c]] = ~j if (j > 0 and T[j - 1] < c) else j
    B[c] += 1
    for i in range(n):
        if i + PREFETCH_DISTANCE < n:
            v = SA[i + PREFETCH_DISTANCE]
            if v > 0:
                DM_PREFETCH(T + v - 1)
        j = SA[i]
        if j > 0:
            # positive: the predecessor is L-type and is induced now; this
            # entry is not needed by the S pass (its predecessor is L).
            SA[i] = 0
            j -= 1
            c = T[j]
            SA[B[c]] = ~j if (j > 0 and T[j - 1] < c) else j
            B[c] += 1
        elif j < 0:
            SA[i] = ~j  # predecessor is S-type: the S pass induces it
    # S-type pass, right to left.
    _bucket_ends(C, B, k)
    i = n - 1
    while i >= 0:
        if i >= PREFETCH_DISTANCE:
            v = SA[i - PREFETCH_DISTANCE]
            if v > 0:
                DM_PREFETCH(T + v - 1)
        j = SA[i]
        if j > 0:
            SA[i] = 0
            j -= 1
            c = T[j]
            B[c] -= 1
            if j > 0 and T[j - 1] > c:
                SA[B[c]] = ~j  # j is LMS: keep it, induce no further
            else:
                SA[B[c]] = j  # j == 0 is not LMS and may be dropped
        i -= 1


cdef void _induce(const sym_t* T, idx_t* SA, idx_t* C, idx_t* B,
                  idx_t n, idx_t k) noexcept nogil:
    """Induce the full SA from the sorted LMS suffixes placed at bucket ends.

    Sign convention: an entry is stored negative when its predecessor must
    not be induced by the current pass; the L pass flips every entry it
    scans, so entries whose predecessor is S-type arrive positive at the S
    pass, which flips the rest back.
    """
    cdef idx_t i, j, v
    cdef sym_t c
    _bucket_starts(C, B, k)
    j = n - 1
    c = T[j]
    SA[B[c]] = ~j if (j > 0 and T[j - 1] < c) else j
    B[c] += 1
    for i in range(n):
        if i + PREFETCH_DISTANCE < n:
            v = SA[i + PREFETCH_DISTANCE]
            if v > 0:
                DM_PREFETCH(T + v - 1)
        j = SA[i]
        SA[i] = ~j
        if j > 0:
            j -= 1
            c = T[j]
            SA[B[c]] = ~j if (j > 0 and T[j - 1] < c) else j
            B[c] += 1
    _bucket_ends(C, B, k)
    i = n - 1
    while i >= 0:
        if i >= PREFETCH_DISTANCE:
            v = SA[i - PREFETCH_DISTANCE]
            if v > 0:
                DM_PREFETCH(T + v - 1)
        j = SA[i]
        if j > 0:
            j -= 1
            c = T[j]
            B[c] -= 1
            SA[B[c]] = ~j if (j == 0 or T[j - 1] > c) else j
        else:
            SA[i] = ~j
        i -= 1


cdef idx_t _name_lms_substrings(const sym_t* T, idx_t* SA, idx_t n, idx_t m) noexcept nogil:
    """Give equal LMS substrings equal names; returns the number of names.

    SA[0..m) holds the LMS positions in sorted substring order. The length of
    the LMS substring starting at p (up to and including the next LMS symbol,
    or the virtual sentinel) is stored at SA[m + p/2] (LMS positions are at
    least 2 apart, so the slots are distinct and below n), then overwritten
    by the 1-based name.
    """
    cdef idx_t i, j, p, q, plen, qlen, name, nxt
    cdef sym_t c0, c1
    cdef bint diff
    memset(SA + m, 0, (n - m) * sizeof(idx_t))
    # right-to-left type scan; nxt is the next LMS position to the right
    i = n - 1
    nxt = n
    c0 = T[n - 1]
    while True:
        c1 = c0
        i -= 1
        if i < 0:
            break
        c0 = T[i]
        if c0 < c1:
            break
    while i >= 0:
        while True:  # skip the S run
            c1 = c0
            i -= 1
            if i < 0:
                break
            c0 = T[i]
            if c0 > c1:
                break
        if i >= 0:
            SA[m + ((i + 1) >> 1)] = nxt - i  # == nxt - (i+1) + 1
            nxt = i + 1
            while True:  # skip the L run
                c1 = c0
                i -= 1
                if i < 0:
                    break
                c0 = T[i]
                if c0 < c1:
                    break
    name = 0
    q = 0
    qlen = 0
    for i in range(m):
        if i + PREFETCH_DISTANCE < m:
            p = SA[i + PREFETCH_DISTANCE]
            DM_PREFETCHW(SA + m + (p >> 1))
            DM_PREFETCH(T + p)
        p = SA[i]
        plen = SA[m + (p >> 1)]
        diff = True
        # a substring that reaches the sentinel (p + plen > n) is unique
        if plen == qlen and p + plen <= n and q + qlen <= n:
            j = 0
            while j < plen and T[p + j] == T[q + j]:
                j += 1
            if j == plen:
                diff = False
        if diff:
            name += 1
            q = p
            qlen = plen
        SA[m + (p >> 1)] = name
    return name


cdef void _lms_positions(const sym_t* T, idx_t n, idx_t* out, idx_t m, idx_t* counts) noexcept nogil:
    """out[0..m) = the LMS positions in increasing order (branch-free type scan).

    With ``counts`` (zeroed, alphabet-sized) also count the LMS suffixes per
    first symbol, so that placing them needs no random text reads.
    """
    cdef idx_t i, j = m - 1, scratch = 0
    cdef idx_t lms, s, t = 0
    cdef idx_t* dst
    cdef sym_t c0, c1 = T[n - 1]
    i = n - 2
    while i >= 0:
        c0 = T[i]
        s = (c0 < c1) | ((c0 == c1) & t)
        lms = t & (s ^ 1)
        dst = out + j if lms else &scratch
        dst[0] = i + 1
        if counts != NULL:
            counts[c1] += lms
        j -= lms
        t = s
        c1 = c0
        i -= 1


cdef idx_t _seed_lms(const sym_t* T, idx_t* SA, idx_t* B, idx_t n) noexcept nogil:
    """Put every LMS position at the end of its bucket (B: bucket ends); returns their count.

    Branch-free right-to-left type scan: i is S-type iff T[i] < T[i+1], or
    they are equal and i+1 is S-type; i+1 is LMS iff it is S and i is L.
    """
    cdef idx_t i, m = 0, scratch = 0
    cdef idx_t lms, s, t = 0  # t: type of i+1 (1 = S); n-1 is L-type
    cdef idx_t* dst
    cdef sym_t c0, c1 = T[n - 1]
    i = n - 2
    while i >= 0:
        c0 = T[i]
        s = (c0 < c1) | ((c0 == c1) & t)
        lms = t & (s ^ 1)
        B[c1] -= lms
        dst = SA + B[c1] if lms else &scratch
        dst[0] = i + 1
        m += lms
        t = s
        c1 = c0
        i -= 1
    return m


cdef void _place_counted(idx_t* SA, const idx_t* C, const idx_t* counts,
                         idx_t n, idx_t m, idx_t k) noexcept nogil:
    """Move the sorted LMS suffixes SA[0..m) to the ends of their buckets.

    counts[c] LMS suffixes start with symbol c; every other slot becomes 0.
    Works from the last bucket down, so sources (below i) are never
    overwritten before they move.
    """
    cdef idx_t c, cnt, i = m, j = n, end = n
    c = k - 1
    while c >= 0:
        if j > end:
            memset(SA + end, 0, (j - end) * sizeof(idx_t))
        cnt = counts[c]
        if cnt > 0:
            memmove(SA + end - cnt, SA + i - cnt, cnt * sizeof(idx_t))
        i -= cnt
        j = end - cnt
        end -= C[c]
        c -= 1
    memset(SA, 0, j * sizeof(idx_t))


cdef int _sais(const sym_t* T, idx_t* SA, idx_t fs, idx_t n, idx_t k) noexcept nogil:
    """Suffix array of T[0..n) over the alphabet [0, k) into SA[0..n).

    SA[n..n+fs) is free scratch space owned by this call (the reduced string
    of the recursion is kept at its top). Returns 0, or -1 when malloc fails.
    """
    cdef idx_t i, j, m, p, q, name
    cdef idx_t* C
    cdef idx_t* B
    cdef idx_t* RA
    cdef sym_t c0, c1
    cdef int rc
    cdef bint keep = False
    if n <= 1:
        if n == 1:
            SA[0] = 0
        return 0
    C = <idx_t*>malloc(k * sizeof(idx_t))
    B = <idx_t*>malloc(k * sizeof(idx_t))
    if C == NULL or B == NULL:
        free(C)
        free(B)
        return -1
    _count(T, C, n, k)
    # stage 1: seed the LMS suffixes at their bucket ends, sort LMS substrings
    _bucket_ends(C, B, k)
    memset(SA, 0, n * sizeof(idx_t))
    m = _seed_lms(T, SA, B, n)
    if m > 1:
        _sort_lms_substrings(T, SA, C, B, n, k)
        j = 0
        for i in range(n):
            p = SA[i]
            if p < 0:
                SA[j] = ~p
                j += 1
        name = _name_lms_substrings(T, SA, n, m)
    else:
        if m == 1:
            # the only LMS suffix sits somewhere in SA: bring it to SA[0]
            for i in range(n):
                if SA[i] > 0:
                    SA[0] = SA[i]
                    break
        name = m
    # stage 2: if names repeat, sort the reduced string recursively
    if name < m:
        RA = SA + n + fs - m
        j = m - 1
        i = m + ((n - 1) >> 1)
        while i >= m:
            if SA[i] != 0:
                RA[j] = SA[i] - 1
                j -= 1
            i -= 1
        keep = k <= 65536  # byte alphabets: keep the counts; large ones: free during recursion
        if not keep:
            free(C)
            free(B)
            C = NULL
            B = NULL
        rc = _sais(<const idx_t*>RA, SA, fs + n - 2 * m, m, name)
        if rc != 0:
            free(C)
            free(B)
            return rc
        if keep:
            memset(B, 0, k * sizeof(idx_t))
        _lms_positions(T, n, RA, m, B if keep else <idx_t*>NULL)
        for i in range(m):
            if i + PREFETCH_DISTANCE < m:
                DM_PREFETCH(RA + SA[i + PREFETCH_DISTANCE])
            SA[i] = RA[SA[i]]
        if not keep:
            C = <idx_t*>malloc(k * sizeof(idx_t))
            B = <idx_t*>malloc(k * sizeof(idx_t))
            if C == NULL or B == NULL:
                free(C)
                free(B)
                return -1
            _count(T, C, n, k)
    # stage 3: place the sorted LMS suffixes at their bucket ends, induce all
    if name < m and keep:
        _place_counted(SA, C, B, n, m, k)
    elif m > 0:
        _bucket_ends(C, B, k)
        i = m - 1
        j = n
        p = SA[m - 1]
        c1 = T[p]
        while True:
            c0 = c1
            q = B[c0]
            while q < j:
                j -= 1
                SA[j] = 0
            while True:
                j -= 1
                SA[j] = p
                i -= 1
                if i < 0:
                    break
                p = SA[i]
                c1 = T[p]
                if c1 != c0:
                    break
            if i < 0:
                break
        while j > 0:
            j -= 1
            SA[j] = 0
    else:
        memset(SA, 0, n * sizeof(idx_t))
    _induce(T, SA, C, B, n, k)
    free(C)
    free(B)
    return 0


# ---------------------------------------------------------------- LCP (Phi)

cdef inline uint64_t _load64(const uint8_t* p) noexcept nogil:
    cdef uint64_t v
    memcpy(&v, p, 8)
    return v


cdef inline idx_t _extend(const sym_t* T, idx_t a, idx_t b, idx_t h, idx_t lim,
                          int64_t sep) noexcept nogil:
    """Extend a common prefix of suffixes a and b known to be >= h.

    Stops at the first mismatch, at lim, or (sep >= 0) at the first
    separator symbol, so the result never reaches past a's document end.
    """
    cdef uint64_t wa, x, y, sm
    cdef uint64_t ONES = 0x0101010101010101ULL
    cdef uint64_t HIGHS = 0x8080808080808080ULL
    if sym_t is uint8_t:
        if sep < 0:
            while h <= lim - 8:  # not h + 8: no int32 overflow near 2**31
                x = _load64(T + a + h) ^ _load64(T + b + h)
                if x != 0:
                    return h + (DM_CTZ64(x) >> 3)
                h += 8
        else:
            sm = ONES * <uint64_t>sep
            while h <= lim - 8:  # not h + 8: no int32 overflow near 2**31
                wa = _load64(T + a + h)
                x = wa ^ _load64(T + b + h)
                y = wa ^ sm
                # bit 7 of the lowest byte of wa equal to sep (exact for the lowest one)
                x |= (y - ONES) & ~y & HIGHS
                if x != 0:
                    return h + (DM_CTZ64(x) >> 3)
                h += 8
    if sep < 0:
        while h < lim and T[a + h] == T[b + h]:
            h += 1
    else:
        while h < lim and T[a + h] == T[b + h] and T[a + h] != sep:
            h += 1
    return h


cdef int _qshift(int64_t q) noexcept nogil:
    cdef int s = 0
    while (<int64_t>1 << s) < q:
        s += 1
    return s


cdef void _lcp_phase(int phase, const sym_t* T, idx_t n, const idx_t* SA, idx_t* LCP, idx_t* PS,
                     idx_t q, int64_t sep, idx_t start, idx_t stop) noexcept nogil:
    """LCP[r] = lcp(SA[r-1], SA[r]) (LCP[0] = 0), optionally clamped at `sep`.

    Sparse Phi (Kärkkäinen, Manzini, Puglisi, "Permuted longest-common-prefix
    array", CPM 2009): PLCP[p] = LCP[rank(p)] satisfies
    PLCP[p + d] >= PLCP[p] - d, so sampling it at every q-th text position
    (PS: n/q entries and a sentinel) bounds every position from below, and
    the next sample bounds it from above; one sequential pass in SA order
    then finishes each value by direct comparison from the lower bound.
    Steps: (1) one SA scan stores Phi(p) = SA[rank(p)-1] for sampled p;
    (2) the sampled PLCP in text order, the running h dropping by q per
    sample; (3) the SA-order pass. Comparisons: at most 2n for (2) and
    O(q n) worst case for (3); on RFC text with q = 16, 29% of positions
    have meeting bounds (no text read) and the rest average 1.7 word
    comparisons. All random reads of (3) are prefetched.

    With a separator, every comparison stops at the first separator symbol,
    which yields min(lcp, distance to the document end) as long as the
    separator never occurs inside a document. The sampled lower bound stays
    valid for the clamped values.

    Each phase works on a range (of SA ranks, or of samples) and the ranges
    of one phase are independent, so threads can share a phase: phase 2
    restarts h at 0 at its range start, which costs at most one extra
    comparison run per range.
    """
    cdef idx_t r, p, j, h, k, lb, v, w, lim
    cdef idx_t D = PREFETCH_DISTANCE
    cdef idx_t qmask = q - 1
    cdef int qshift = _qshift(q)
    cdef idx_t ns = ((n - 1) >> qshift) + 1
    if phase == 1:  # sparse Phi over SA ranks [start, stop)
        for r in range(start, stop):
            p = SA[r]
            if (p & qmask) == 0:
                PS[p >> qshift] = SA[r - 1] if r > 0 else -1
    elif phase == 2:  # sampled PLCP over samples [start, stop), text order
        h = 0
        for k in range(start, stop):
            if k + D < stop:
                v = PS[k + D]
                if v >= 0:
                    w = h - D * q
                    DM_PREFETCH(T + v + (w if w > 0 else 0))
            j = PS[k]
            if j < 0:
                PS[k] = 0
                h = 0
                continue
            p = k << qshift
            lim = n - (p if p > j else j)
            h = _extend(T, p, j, h, lim, sep)
            PS[k] = h
            h = h - q if h > q else 0
    else:  # LCP over SA ranks [start, stop), start >= 1; PS[ns] == n
        # PLCP[p] >= PS[k] - d and, from the next sample, PLCP[p] <=
        # PS[k+1] + q - d (p = kq + d; the sentinel PS[ns] = n bounds
        # nothing); inside long repeats the two bounds meet and the text
        # is not read.
        for r in range(start, stop):
            if r + 2 * D < n:
                DM_PREFETCH(PS + (SA[r + 2 * D] >> qshift))
            if r + D < n:
                p = SA[r + D]
                lb = PS[p >> qshift] - (p & qmask)
                if lb < 0:
                    lb = 0
                DM_PREFETCH(T + p + lb)
                DM_PREFETCH(T + SA[r + D - 1] + lb)
            p = SA[r]
            k = p >> qshift
            lb = PS[k] - (p & qmask)
            if lb < 0:
                lb = 0
            if lb >= <int64_t>PS[k + 1] + q - (p & qmask):  # int64: the sentinel is n
                LCP[r] = lb
                continue
            j = SA[r - 1]
            lim = n - (p if p > j else j)
            LCP[r] = _extend(T, p, j, lb, lim, sep)


def _lcp_run(int phase, const text_t[::1] T, const idx_t[::1] SA, idx_t[::1] LCP, idx_t[::1] PS,
             int64_t q, int64_t sep, int64_t start, int64_t stop):
    """Run one phase of `_lcp_phase` over [start, stop) without the GIL, so threads can share it.

    Cython picks the specialization from the buffers' dtypes (SA, LCP and PS
    share one); the caller has checked them and that the text is not empty.
    """
    with nogil:
        _lcp_phase(phase, &T[0], <idx_t>T.shape[0], &SA[0], &LCP[0], &PS[0], <idx_t>q, sep,
                   <idx_t>start, <idx_t>stop)


def _check_vectors(*arrays):
    """Raise what converting to a 1-D C-contiguous memoryview would.

    The fused helpers convert only after dispatch, which reports a 2-D array
    as an ambiguous call; the entry points check here, where they converted.
    """
    for a in arrays:
        if a.ndim != 1:
            raise ValueError(f"Buffer has wrong number of dimensions (expected 1, got {a.ndim})")
        if not a.flags.c_contiguous:
            raise ValueError("ndarray is not C-contiguous")


def _split(start, stop, parts):
    if stop <= start:
        return []
    step = -(-(stop - start) // parts)
    return [(a, min(a + step, stop)) for a in range(start, stop, step)]


# ---------------------------------------------------------------- entry points

def _alphabet_size(text) -> int:
    if text.dtype == np.uint8:
        return 256
    if text.shape[0] == 0:
        return 1
    return int(text.max()) + 1


def _build(const text_t[::1] T, idx_t[::1] SA, int64_t k):
    """SA-IS of a non-empty text into SA (its dtype picks the index width); 0 or -1 (malloc)."""
    cdef int rc
    with nogil:
        rc = _sais(&T[0], &SA[0], <idx_t>0, <idx_t>T.shape[0], <idx_t>k)
    return rc


def suffix_array(text, bint use_64bit=False):
    """SA of a C-contiguous uint8 or uint16 numpy array; int32 or int64 result."""
    cdef Py_ssize_t n = text.shape[0]
    cdef int64_t k = _alphabet_size(text)
    if not use_64bit and n > 2**31 - 2:
        use_64bit = True
    result = np.empty(n, dtype=np.int64 if use_64bit else np.int32)
    if n == 0:
        return result
    if text.dtype != np.uint8 and text.dtype != np.uint16:
        raise TypeError(f"text must be uint8 or uint16, not {text.dtype}")
    _check_vectors(text)
    if _build(text, result, k) != 0:
        raise MemoryError("suffix array construction could not allocate its buckets")
    return result


def lcp_array(text, sa, int64_t separator=-1, Py_ssize_t sampling=16, int threads=1):
    """LCP of `sa` over `text` (uint8/uint16); same dtype as `sa`.

    threads > 1 splits every phase into that many ranges run by Python
    threads (the kernel holds no GIL); the result is the same.
    """
    cdef Py_ssize_t n = text.shape[0]
    cdef Py_ssize_t ns
    if sa.shape[0] != n:
        raise ValueError("sa and text differ in length")
    if text.dtype != np.uint8 and text.dtype != np.uint16:
        raise TypeError(f"text must be uint8 or uint16, not {text.dtype}")
    if sa.dtype != np.int32 and sa.dtype != np.int64:
        raise TypeError(f"sa must be int32 or int64, not {sa.dtype}")
    if sampling < 1 or sampling & (sampling - 1):
        raise ValueError("sampling must be a power of two")
    result = np.empty(n, dtype=sa.dtype)
    if n == 0:
        return result
    ns = (n - 1) // sampling + 1
    samples = np.empty(ns + 1, dtype=sa.dtype)  # the samples and a sentinel
    _check_vectors(text, sa)
    result[0] = 0

    def run(phase, start, stop):
        _lcp_run(phase, text, sa, result, samples, sampling, separator, start, stop)

    if threads <= 1:
        run(1, 0, n)
        run(2, 0, ns)
        samples[ns] = n
        run(3, 1, n)
        return result
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        for phase, start, stop in ((1, 0, n), (2, 0, ns), (3, 1, n)):
            if phase == 3:
                samples[ns] = n
            ranges = _split(start, stop, threads)
            list(pool.map(run, [phase] * len(ranges), [a for a, _ in ranges], [b for _, b in ranges]))
    return result


# ---------------------------------------------------------------- repeated spans

cdef struct I64Vec:
    int64_t* data
    Py_ssize_t size
    Py_ssize_t cap


cdef int _push(I64Vec* v, int64_t x) noexcept nogil:
    cdef Py_ssize_t cap
    cdef int64_t* grown
    if v.size == v.cap:
        cap = v.cap * 2 if v.cap > 0 else 1024
        grown = <int64_t*>realloc(v.data, cap * sizeof(int64_t))
        if grown == NULL:
            return -1
        v.data = grown
        v.cap = cap
    v.data[v.size] = x
    v.size += 1
    return 0


cdef object _vec_to_array(I64Vec* v):
    out = np.empty(v.size, dtype=np.int64)
    cdef int64_t[::1] view = out
    if v.size > 0:
        memcpy(&view[0], v.data, v.size * sizeof(int64_t))
    free(v.data)
    v.data = NULL
    v.size = 0
    v.cap = 0
    return out


cdef inline bint _bit(const uint64_t* bits, int64_t p) noexcept nogil:
    return (bits[p >> 6] >> (p & 63)) & 1


cdef inline void _setbit(uint64_t* bits, int64_t p) noexcept nogil:
    bits[p >> 6] |= (<uint64_t>1) << (p & 63)


cdef int64_t _next_set(const uint64_t* bits, int64_t nwords, int64_t pos, bint invert) noexcept nogil:
    """First position >= pos whose bit is 1 (0 when invert); nwords * 64 if none."""
    cdef int64_t wi = pos >> 6
    cdef uint64_t w
    if wi >= nwords:
        return nwords * 64
    w = bits[wi] ^ (<uint64_t>0 - <uint64_t>invert)
    w &= (<uint64_t>0xFFFFFFFFFFFFFFFF) << (pos & 63)
    while w == 0:
        wi += 1
        if wi >= nwords:
            return nwords * 64
        w = bits[wi] ^ (<uint64_t>0 - <uint64_t>invert)
    return wi * 64 + DM_CTZ64(w)


cdef int _runs(const uint64_t* bits, int64_t nwords, int64_t n, int64_t L,
               I64Vec* starts, I64Vec* ends) noexcept nogil:
    """Every maximal run [a, b] of set bits becomes the byte range [a, b + L)."""
    cdef int64_t a, b, pos = 0
    while True:
        a = _next_set(bits, nwords, pos, False)
        if a >= n:
            return 0
        b = _next_set(bits, nwords, a, True) - 1
        if _push(starts, a) or _push(ends, b + L):
            return -1
        pos = b + 1


cdef int64_t _find(const I64Vec* v, int64_t x) noexcept nogil:
    """Index of x in the sorted vector v (x is known to be present)."""
    cdef int64_t lo = 0, hi = v.size - 1, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if v.data[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef struct Repeat:
    int64_t count
    int64_t length
    int64_t first


cdef inline bint _less(const Repeat* a, const Repeat* b) noexcept nogil:
    """Heap order: fewer occurrences, then shorter, then later first occurrence."""
    if a.count != b.count:
        return a.count < b.count
    if a.length != b.length:
        return a.length < b.length
    return a.first > b.first


cdef int _heap_offer(Repeat** heap, int64_t* size, int64_t* cap, int64_t limit,
                     int64_t count, int64_t length, int64_t first) noexcept nogil:
    """Keep the `limit` greatest repeats in a min-heap."""
    cdef Repeat item
    cdef Repeat tmp
    cdef Repeat* h
    cdef Repeat* grown
    cdef int64_t i, parent, child, newcap
    item.count = count
    item.length = length
    item.first = first
    if size[0] < limit:
        if size[0] == cap[0]:
            newcap = cap[0] * 2 if cap[0] > 0 else 256
            if newcap > limit:
                newcap = limit
            grown = <Repeat*>realloc(heap[0], newcap * sizeof(Repeat))
            if grown == NULL:
                return -1
            heap[0] = grown
            cap[0] = newcap
        h = heap[0]
        i = size[0]
        size[0] += 1
        h[i] = item
        while i > 0:
            parent = (i - 1) >> 1
            if not _less(&h[i], &h[parent]):
                break
            tmp = h[i]
            h[i] = h[parent]
            h[parent] = tmp
            i = parent
        return 0
    h = heap[0]
    if limit == 0 or not _less(&h[0], &item):
        return 0
    h[0] = item
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size[0]:
            break
        if child + 1 < size[0] and _less(&h[child + 1], &h[child]):
            child += 1
        if not _less(&h[child], &h[i]):
            break
        tmp = h[i]
        h[i] = h[child]
        h[child] = tmp
        i = child
    return 0


cdef struct Frame:
    int64_t lcp
    int64_t lb
    int64_t first
    int64_t left


cdef inline int64_t _left_symbol(const sym_t* T, int64_t p, int64_t sep) noexcept nogil:
    """The symbol before p, or -1 (unique) at a document start."""
    if p == 0 or T[p - 1] == sep:
        return -1
    return T[p - 1]


cdef enum:
    MAX_PERIOD = 64  # longest period the repeat table can screen out


cdef struct Periods:
    int64_t first  # position whose spans are cached, -1 for none
    int64_t span[MAX_PERIOD + 1]  # span[p]: longest prefix of T[first..] with period p


cdef void _period_spans(const sym_t* T, int64_t n, int64_t f, int64_t sep, int64_t max_period,
                        int64_t* span) noexcept nogil:
    cdef int64_t p
    for p in range(1, max_period + 1):
        if f + p >= n:
            span[p] = 0
        else:
            span[p] = p + _extend(T, f, f + p, <int64_t>0, n - f - p, sep)


cdef bint _is_periodic(const sym_t* T, int64_t n, int64_t f, int64_t length, int64_t sep,
                       int64_t max_period, Periods* cache) noexcept nogil:
    """Whether T[f..f+length) has a period p <= max_period with 2p <= length.

    Every length of a long run (padding, rules, dot leaders) is a maximal
    repeat of its own; the spans of the run's first occurrence are cached,
    so a run of R bytes costs O(R) once rather than once per length.
    """
    cdef int64_t p, top = max_period if 2 * max_period <= length else length // 2
    cdef int64_t local[MAX_PERIOD + 1]
    cdef int64_t* span = cache.span
    if top < 1:
        return False
    if f != cache.first:
        _period_spans(T, n, f, sep, max_period, local)
        span = local
        for p in range(1, max_period + 1):
            if local[p] >= 128:  # expensive to recompute: keep it
                cache.first = f
                memcpy(cache.span, local, sizeof(local))
                break
    for p in range(1, top + 1):
        if span[p] >= length:
            return True
    return False


cdef int _scan(const sym_t* T, const idx_t* SA, const idx_t* LCP, int64_t n, int64_t L,
               int64_t sep, uint64_t* S, uint64_t* P, int64_t nwords,
               I64Vec* s_start, I64Vec* s_end, I64Vec* s_first,
               I64Vec* p_start, I64Vec* p_end, I64Vec* p_first,
               Repeat** heap, int64_t* heap_size, int64_t limit, int64_t max_period) noexcept nogil:
    """Bitmaps, runs, their first occurrences and the top maximal repeats.

    An L-block is a maximal SA range whose adjacent (clamped) LCPs are all
    >= L: exactly the occurrences of one L-symbol string inside documents.
    Maximal repeats with a period <= max_period are not offered to the heap.
    """
    cdef int64_t r, lo, hi, x, p, mn, idx, l, top, cap_frames = 0, heap_cap = 0
    cdef int64_t cfirst, cleft, clb
    cdef Frame* st = NULL
    cdef Frame* grown
    cdef Periods periods
    cdef int rc = 0
    periods.first = -1
    # pass 1: S = starts of repeated L-grams, P = the same minus first occurrences
    r = 0
    while r < n - 1:
        if LCP[r + 1] < L:
            r += 1
            continue
        lo = r
        mn = SA[r]
        r += 1
        while r < n and LCP[r] >= L:
            if SA[r] < mn:
                mn = SA[r]
            r += 1
        for x in range(lo, r):
            p = SA[x]
            _setbit(S, p)
            if p != mn:
                _setbit(P, p)
    if _runs(S, nwords, n, L, s_start, s_end) or _runs(P, nwords, n, L, p_start, p_end):
        return -1
    for x in range(s_start.size):
        if _push(s_first, -1):
            return -1
    for x in range(p_start.size):
        if _push(p_first, -1):
            return -1
    # pass 2: first occurrence of every run's leading L-gram; maximal repeats
    r = 0
    while r < n - 1:
        if LCP[r + 1] < L:
            r += 1
            continue
        lo = r
        mn = SA[r]
        r += 1
        while r < n and LCP[r] >= L:
            if SA[r] < mn:
                mn = SA[r]
            r += 1
        hi = r - 1
        for x in range(lo, hi + 1):
            p = SA[x]
            if p == 0 or not _bit(S, p - 1):
                s_first.data[_find(s_start, p)] = mn
            if p != mn and (p == 0 or not _bit(P, p - 1)):
                p_first.data[_find(p_start, p)] = mn
        if limit <= 0:
            continue
        # bottom-up traversal of the lcp-intervals inside the block
        top = -1
        for x in range(lo + 1, hi + 2):
            l = LCP[x] if x <= hi else 0
            p = SA[x - 1]
            cfirst = p
            cleft = _left_symbol(T, p, sep)
            clb = x - 1
            while top >= 0 and l < st[top].lcp:
                if cfirst < st[top].first:
                    st[top].first = cfirst
                if cleft != st[top].left:
                    st[top].left = -1
                # left-diverse: a maximal repeat
                if st[top].left == -1 and not (max_period > 0 and _is_periodic(
                        T, n, st[top].first, st[top].lcp, sep, max_period, &periods)):
                    if _heap_offer(heap, heap_size, &heap_cap, limit,
                                   x - st[top].lb, st[top].lcp, st[top].first):
                        free(st)
                        return -1
                cfirst = st[top].first
                cleft = st[top].left
                clb = st[top].lb
                top -= 1
            if l <= 0:
                continue
            if top < 0 or l > st[top].lcp:
                top += 1
                if top == cap_frames:
                    cap_frames = cap_frames * 2 if cap_frames > 0 else 64
                    grown = <Frame*>realloc(st, cap_frames * sizeof(Frame))
                    if grown == NULL:
                        free(st)
                        return -1
                    st = grown
                st[top].lcp = l
                st[top].lb = clb
                st[top].first = cfirst
                st[top].left = cleft
            else:
                if cfirst < st[top].first:
                    st[top].first = cfirst
                if cleft != st[top].left:
                    st[top].left = -1
    free(st)
    return 0


def _scan_all(const text_t[::1] T, const idx_t[::1] SA, const idx_t[::1] LCP, int64_t L, int64_t sep,
              int64_t limit, int64_t max_period):
    """`_scan` without the GIL for `scan_repeats` (arguments checked there); the dict of arrays."""
    cdef int64_t n = T.shape[0]
    cdef int64_t nwords = (n + 64) // 64 + 1
    cdef I64Vec vs[6]
    cdef Repeat* heap = NULL
    cdef int64_t heap_size = 0
    cdef int rc = 0
    cdef int64_t i
    S_arr = np.zeros(nwords, dtype=np.uint64)
    P_arr = np.zeros(nwords, dtype=np.uint64)
    cdef uint64_t[::1] S = S_arr
    cdef uint64_t[::1] P = P_arr
    memset(vs, 0, sizeof(vs))
    if n > 0:
        with nogil:
            rc = _scan(&T[0], &SA[0], &LCP[0], n, L, sep, &S[0], &P[0], nwords,
                       &vs[0], &vs[1], &vs[2], &vs[3], &vs[4], &vs[5], &heap, &heap_size, limit, max_period)
    names = ("s_start", "s_end", "s_first", "p_start", "p_end", "p_first")
    out = {name: _vec_to_array(&vs[i]) for i, name in enumerate(names)}
    rep = np.empty((heap_size, 3), dtype=np.int64)
    cdef int64_t[:, ::1] rv = rep
    for i in range(heap_size):
        rv[i, 0] = heap[i].count
        rv[i, 1] = heap[i].length
        rv[i, 2] = heap[i].first
    free(heap)
    if rc != 0:
        raise MemoryError("repeated-span scan could not grow its output")
    out["rep_count"] = rep[:, 0].copy()
    out["rep_length"] = rep[:, 1].copy()
    out["rep_first"] = rep[:, 2].copy()
    return out


def scan_repeats(text, sa, lcp, int64_t min_length, int64_t separator, int64_t max_repeats,
                 int64_t max_period=0):
    """Runs of repeated min_length-grams (all / non-first) and the top maximal repeats.

    Maximal repeats with a period of at most ``max_period`` (<= 64) symbols
    are left out of the table (0 keeps them all).

    Returns a dict of int64 arrays: s_start, s_end, s_first (remove_all),
    p_start, p_end, p_first (keep_first), and rep_count, rep_length, rep_first.
    """
    cdef int64_t n = text.shape[0]
    if min_length < 1:
        raise ValueError("min_length must be >= 1")
    if not 0 <= max_period <= MAX_PERIOD:
        raise ValueError(f"max_period must be in [0, {MAX_PERIOD}]")
    if sa.shape[0] != n or lcp.shape[0] != n or sa.dtype != lcp.dtype:
        raise ValueError("text, sa and lcp must have one length and sa/lcp one dtype")
    if text.dtype != np.uint8 and text.dtype != np.uint16:
        raise TypeError(f"text must be uint8 or uint16, not {text.dtype}")
    _check_vectors(text)
    if sa.dtype != np.int32 and sa.dtype != np.int64:
        raise TypeError(f"sa must be int32 or int64, not {sa.dtype}")
    _check_vectors(sa, lcp)
    return _scan_all(text, sa, lcp, min_length, separator, max_repeats, max_period)
