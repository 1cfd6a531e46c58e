# cython: language_level=3
"""Robust winnowing of K-gram hashes: the fingerprint kernel of exact-substring removal.

Per document (UTF-8 bytes), with the GIL released and nothing allocated per
byte: roll a polynomial hash over every K-byte gram, finish it with fmix64,
mark grams with a short period (see ``period_limit``), then select
fingerprints by robust winnowing (Schleimer, Wilkerson, Aiken 2003) over
windows of w consecutive gram hashes, with a monotone deque (O(1) per byte).
Each selected gram also gets a *context* hash: a hash of the bytes around it
(the region that would be shipped to another partition) and of its place in
that region. The definitions and the pure-Python twin live in
``dedup/substring.py`` (``winnow_reference``); both must give the same bits.
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset

import numpy as np

cdef extern from "Python.h":
    char* PyBytes_AS_STRING(object o)
    Py_ssize_t PyBytes_GET_SIZE(object o)

cdef extern from *:
    """
    #include <stdint.h>
    #include <stddef.h>
    #include <string.h>


    static inline uint64_t dm_fmix64(uint64_t k) {
        k ^= k >> 33;
        k *= UINT64_C(0xff51afd7ed558ccd);
        k ^= k >> 33;
        k *= UINT64_C(0xc4ceb9fe1a85ec53);
        k ^= k >> 33;
        return k;
    }

    static inline uint64_t dm_rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

    /* Hash of a byte region and the anchor's place in it (the context class). */
    static uint64_t dm_region_hash(const uint8_t* p, size_t len, uint64_t anchor, uint64_t seed) {
        uint64_t h = seed ^ (len * UINT64_C(0x9e3779b97f4a7c15)) ^ (anchor * UINT64_C(0xc2b2ae3d27d4eb4f));
        size_t i = 0;
        for (; i + 8 <= len; i += 8) {
            uint64_t k;
            memcpy(&k, p + i, 8);  /* little-endian hosts only (x86-64, arm64) */
            h = dm_rotl64(h ^ (k * UINT64_C(0x87c37b91114253d5)), 29) * UINT64_C(0x4cf5ad432745937f);
        }
        if (i < len) {
            uint64_t k = 0;
            memcpy(&k, p + i, len - i);
            h = dm_rotl64(h ^ (k * UINT64_C(0x87c37b91114253d5)), 29) * UINT64_C(0x4cf5ad432745937f);
        }
        return dm_fmix64(h ^ len);
    }

    #define DM_MAX_KEYS 8

    typedef struct {
        uint64_t* hash;
        uint64_t* ctx;
        uint32_t* doc;
        uint32_t* offset;
        uint32_t* keys;  /* n_keys per fingerprint */
        uint8_t* tied;
        size_t n, cap;
        int n_keys;
    } dm_fps;

    static int dm_fps_push(dm_fps* v, uint64_t h, uint64_t c, uint32_t d, uint32_t o,
                           const uint32_t* keys, uint8_t tied) {
        if (v->n == v->cap) {
            size_t cap = v->cap ? 2 * v->cap : 4096;
            uint32_t* nk = (uint32_t*)realloc(v->keys, cap * (v->n_keys ? v->n_keys : 1) * sizeof(uint32_t));
            if (!nk) return -1;
            v->keys = nk;
            uint8_t* nt = (uint8_t*)realloc(v->tied, cap);
            if (!nt) return -1;
            v->tied = nt;
            uint64_t* nh = (uint64_t*)realloc(v->hash, cap * sizeof(uint64_t));
            if (!nh) return -1;
            v->hash = nh;
            uint64_t* nc = (uint64_t*)realloc(v->ctx, cap * sizeof(uint64_t));
            if (!nc) return -1;
            v->ctx = nc;
            uint32_t* nd = (uint32_t*)realloc(v->doc, cap * sizeof(uint32_t));
            if (!nd) return -1;
            v->doc = nd;
            uint32_t* no = (uint32_t*)realloc(v->offset, cap * sizeof(uint32_t));
            if (!no) return -1;
            v->offset = no;
            v->cap = cap;
        }
        v->hash[v->n] = h; v->ctx[v->n] = c; v->doc[v->n] = d; v->offset[v->n] = o;
        if (v->n_keys) memcpy(v->keys + v->n * v->n_keys, keys, v->n_keys * sizeof(uint32_t));
        v->tied[v->n] = tied;
        v->n++;
        return 0;
    }

    typedef struct {
        int k, w, region_left, region_right, n_keys;
        int key_left[DM_MAX_KEYS], key_right[DM_MAX_KEYS];  /* key i hashes [x - left, x + right) */
        uint64_t table[256];
        uint64_t base, base_pow;  /* base^(k-1) */
        uint64_t gram_seed, ctx_seed;
    } dm_params;

    /* Gram hashes of s[0..n): out[i] for i < n - k + 1. */
    static void dm_gram_hashes(const dm_params* P, const uint8_t* s, size_t n, uint64_t* out) {
        const size_t k = (size_t)P->k, grams = n - k + 1;
        const uint64_t base = P->base, base_pow = P->base_pow, seed = P->gram_seed;
        const uint64_t* T = P->table;
        uint64_t h = 0;
        size_t i;
        for (i = 0; i < k; i++) h = h * base + T[s[i]];
        out[0] = dm_fmix64(h ^ seed);
        for (i = 1; i < grams; i++) {
            h = (h - T[s[i - 1]] * base_pow) * base + T[s[i + k - 1]];
            out[i] = dm_fmix64(h ^ seed);
        }
    }

    /* Robust winnowing of one document; appends its fingerprints to out.
       H: scratch for n - k + 1 gram hashes; pre/suf: as many positions.
       Window minima come from van Herk / Gil-Werman blocks of w grams: the
       rightmost minimum of window [j, j + w) is the better of the rightmost
       minimum of its part in one block (suffix) and in the next (prefix),
       three compares per gram and no data-dependent branch. */
    static int dm_winnow_doc(const dm_params* P, const uint8_t* s, size_t n, uint32_t doc,
                             uint64_t* H, uint32_t* pre, uint32_t* suf, dm_fps* out) {
        const size_t k = (size_t)P->k, w = (size_t)P->w;
        if (n < k + w - 1) return 0;
        const size_t grams = n - k + 1;
        size_t i, j, sel = (size_t)-1;
        dm_gram_hashes(P, s, n, H);
        size_t left = 0;  /* i - (start of i's block) */
        for (i = 0; i < grams; i++) {  /* prefix minima inside each block, ties to the right */
            uint32_t best = (uint32_t)i;
            if (left != 0 && H[pre[i - 1]] < H[i]) best = pre[i - 1];
            pre[i] = best;
            if (++left == w) left = 0;
        }
        size_t block = grams - 1 - (grams - 1) % w;  /* start of i's block */
        for (i = grams; i-- > 0;) {  /* suffix minima inside each block, ties to the right */
            uint32_t best = (uint32_t)i;
            if (i + 1 < block + w && i + 1 < grams && H[suf[i + 1]] <= H[i]) best = suf[i + 1];
            suf[i] = best;
            if (i == block && block >= w) block -= w;
        }
        for (j = 0; j + w <= grams; j++) {
            size_t a = suf[j], b = pre[j + w - 1];
            size_t m = H[b] <= H[a] ? b : a;  /* b lies right of a */
            if (sel != (size_t)-1 && sel >= j && H[sel] == H[m]) continue;
            sel = m;
            size_t lo = m >= (size_t)P->region_left ? m - P->region_left : 0;
            size_t hi = m + P->region_right < n ? m + P->region_right : n;
            uint64_t c = dm_region_hash(s + lo, hi - lo, m - lo, P->ctx_seed);
            uint32_t keys[DM_MAX_KEYS];
            int q;
            for (q = 0; q < P->n_keys; q++) {
                size_t left = (size_t)P->key_left[q], right = (size_t)P->key_right[q];
                if (m < left || m + right > n) { keys[q] = 0; continue; }
                uint64_t kh = dm_region_hash(s + m - left, left + right, (uint64_t)q,
                                             P->ctx_seed ^ UINT64_C(0x6a09e667f3bcc909));
                keys[q] = (uint32_t)(kh >> 32) | 1u;  /* 0 means: no window of this split fits */
            }
            /* tied: the gram's hash recurs within region_left grams, so a copy of a
               window may anchor on the other occurrence */
            size_t span = (size_t)P->region_left, y;
            size_t ylo = m >= span ? m - span : 0, yhi = m + span < grams ? m + span + 1 : grams;
            unsigned same = 0;
            const uint64_t hm = H[m];
            for (y = ylo; y < yhi; y++) same += H[y] == hm;
            if (dm_fps_push(out, hm, c, doc, (uint32_t)m, keys, same > 1)) return -1;
        }
        return 0;
    }
    """
    ctypedef struct dm_fps:
        uint64_t* hash
        uint64_t* ctx
        uint32_t* doc
        uint32_t* offset
        uint32_t* keys
        uint8_t* tied
        size_t n
        size_t cap
        int n_keys

    ctypedef struct dm_params:
        int k
        int w
        int region_left
        int region_right
        int n_keys
        int key_left[8]
        int key_right[8]
        uint64_t table[256]
        uint64_t base
        uint64_t base_pow
        uint64_t gram_seed
        uint64_t ctx_seed

    int dm_winnow_doc(const dm_params* P, const uint8_t* s, size_t n, uint32_t doc,
                      uint64_t* H, uint32_t* pre, uint32_t* suf, dm_fps* out) nogil
    uint64_t dm_region_hash(const uint8_t* p, size_t len, uint64_t anchor, uint64_t seed) nogil


MAX_KEYS = 8
MAX_DOC_BYTES = 2**32 - 1  # offsets are uint32


def region_hash(const uint8_t[::1] data, uint64_t anchor, uint64_t seed):
    """The context hash of one region (for the reference's known-answer checks)."""
    cdef size_t n = data.shape[0]
    cdef const uint8_t* p = &data[0] if n > 0 else <const uint8_t*>""
    return dm_region_hash(p, n, anchor, seed)


def winnow(list docs, int k, int w, int region_left, int region_right,
           key_left, key_right, const uint64_t[::1] table, uint64_t base, uint64_t gram_seed,
           uint64_t ctx_seed):
    """Fingerprints of every bytes object in ``docs``, in (doc, offset) order.

    Returns a dict of arrays: hash, ctx (uint64), doc, offset (uint32),
    keys (uint32[n, len(key_left)]) and tied (bool).
    """
    cdef dm_params P
    cdef dm_fps out
    cdef Py_ssize_t ndocs = len(docs), i
    cdef size_t longest = 0, n, m
    cdef int rc = 0
    cdef int n_keys = len(key_left)
    cdef uint64_t* H = NULL
    cdef uint32_t* pre = NULL
    cdef uint32_t* suf = NULL
    cdef const uint8_t** ptrs = NULL
    cdef size_t* lens = NULL
    if k < 1 or w < 1:
        raise ValueError("k and w must be >= 1")
    if table.shape[0] != 256:
        raise ValueError("table must hold 256 values")
    if n_keys > MAX_KEYS or len(key_right) != n_keys:
        raise ValueError(f"at most {MAX_KEYS} context keys, with as many left as right extents")
    if region_left < 0 or region_right < k:
        raise ValueError("the region must contain the gram")
    P.k, P.w, P.region_left, P.region_right = k, w, region_left, region_right
    P.n_keys = n_keys
    for i in range(n_keys):
        if not 0 <= key_left[i] <= region_left or not k <= key_right[i] <= region_right:
            raise ValueError("every context key must lie inside the region and contain the gram")
        P.key_left[i], P.key_right[i] = key_left[i], key_right[i]
    for i in range(256):
        P.table[i] = table[i]
    P.base = base
    P.base_pow = 1
    for i in range(k - 1):
        P.base_pow *= base
    P.gram_seed, P.ctx_seed = gram_seed, ctx_seed
    memset(&out, 0, sizeof(out))
    out.n_keys = n_keys
    ptrs = <const uint8_t**>malloc((ndocs + 1) * sizeof(uint8_t*))
    lens = <size_t*>malloc((ndocs + 1) * sizeof(size_t))
    try:
        if ptrs == NULL or lens == NULL:
            raise MemoryError()
        for i in range(ndocs):
            doc = docs[i]
            if type(doc) is not bytes:
                raise TypeError("docs must be a list of bytes")
            n = PyBytes_GET_SIZE(doc)
            if n > MAX_DOC_BYTES:
                raise ValueError("documents must be shorter than 4 GiB")
            ptrs[i] = <const uint8_t*>PyBytes_AS_STRING(doc)
            lens[i] = n
            longest = max(longest, n)
        if longest >= <size_t>k:
            H = <uint64_t*>malloc((longest - k + 1) * sizeof(uint64_t))
            pre = <uint32_t*>malloc((longest - k + 1) * sizeof(uint32_t))
            suf = <uint32_t*>malloc((longest - k + 1) * sizeof(uint32_t))
            if H == NULL or pre == NULL or suf == NULL:
                raise MemoryError()
            with nogil:
                for i in range(ndocs):
                    rc = dm_winnow_doc(&P, ptrs[i], lens[i], <uint32_t>i, H, pre, suf, &out)
                    if rc:
                        break
            if rc:
                raise MemoryError()
        m = out.n
        result = {
            "hash": np.empty(m, dtype=np.uint64),
            "ctx": np.empty(m, dtype=np.uint64),
            "doc": np.empty(m, dtype=np.uint32),
            "offset": np.empty(m, dtype=np.uint32),
            "keys": np.empty((m, n_keys), dtype=np.uint32),
            "tied": np.empty(m, dtype=np.bool_),
        }
        if m:
            _copy_out(result["hash"], out.hash, m * sizeof(uint64_t))
            _copy_out(result["ctx"], out.ctx, m * sizeof(uint64_t))
            _copy_out(result["doc"], out.doc, m * sizeof(uint32_t))
            _copy_out(result["offset"], out.offset, m * sizeof(uint32_t))
            _copy_out(result["tied"], out.tied, m)
            if n_keys:
                _copy_out(result["keys"], out.keys, m * n_keys * sizeof(uint32_t))
        return result
    finally:
        free(ptrs); free(lens); free(H); free(pre); free(suf)
        free(out.hash); free(out.ctx); free(out.doc); free(out.offset); free(out.keys); free(out.tied)


cdef _copy_out(array, const void* src, size_t nbytes):
    cdef uint8_t[::1] dst = array.reshape(-1).view(np.uint8)
    memcpy(&dst[0], src, nbytes)
