# cython: language_level=3
"""MinHash signatures from raw text in one native pass: the near-dedup kernel.

Per document, with the GIL released: read the text in place from the str
object (PEP 393: latin-1, UCS-2 or UCS-4 storage) or from an Arrow UTF-8
buffer; fold it (lowercase, punctuation/whitespace folding) and hash each word
once -- ASCII 64 bytes at a time from a bit mask of word bytes, anything else
code point by code point; roll the word hashes into n-gram shingle keys;
pre-mix each key with fmix64 and apply the k permutations x -> a*x + b mod 2^64,
keeping the minimum of each. Nothing is allocated per word or shingle; scratch
buffers are allocated once per call.

The permutation loop has AVX-512, AVX2 and portable versions, chosen at import
from what the CPU supports (all three give the same bits; ``set_isa`` forces
one, for tests and benchmarks). The definitions (what a word is, the hash
constants, the math) and the pure-Python twin live in ``dedup/minhash.py``.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

import numpy as np

cdef extern from "Python.h":
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    int PyUnicode_KIND(object o)
    void* PyUnicode_DATA(object o)
    object PyUnicode_FromKindAndData(int kind, const void* buffer, Py_ssize_t size)

cdef extern from *:
    """
    /* Every str is "ready" since Python 3.12, which deprecates the call. */
    #if PY_VERSION_HEX >= 0x030C0000
    #define DM_UNICODE_READY(o) 0
    #else
    #define DM_UNICODE_READY(o) PyUnicode_READY(o)
    #endif
    """
    int DM_UNICODE_READY(object o) except -1


cdef extern from *:
    """
    #include <stdint.h>
    #include <stddef.h>
    #if defined(__x86_64__) && defined(__GNUC__)
    #include <immintrin.h>
    #define DM_X86 1
    #endif

    /* m[i] = min(m[i], min_j (a[i] * x[j] + b[i]) mod 2^64) for i < k. */
    typedef void (*dm_minhash_fn)(const uint64_t*, size_t, const uint64_t*,
                                  const uint64_t*, uint64_t*, size_t);

    static void dm_minhash_portable(const uint64_t* x, size_t nx, const uint64_t* a,
                                    const uint64_t* b, uint64_t* m, size_t k) {
        size_t i = 0, j;
        /* Four permutations per pass keep their minima in registers. */
        for (; i + 4 <= k; i += 4) {
            uint64_t a0 = a[i], a1 = a[i + 1], a2 = a[i + 2], a3 = a[i + 3];
            uint64_t b0 = b[i], b1 = b[i + 1], b2 = b[i + 2], b3 = b[i + 3];
            uint64_t m0 = m[i], m1 = m[i + 1], m2 = m[i + 2], m3 = m[i + 3];
            for (j = 0; j < nx; j++) {
                uint64_t v = x[j], h;
                h = a0 * v + b0; m0 = h < m0 ? h : m0;
                h = a1 * v + b1; m1 = h < m1 ? h : m1;
                h = a2 * v + b2; m2 = h < m2 ? h : m2;
                h = a3 * v + b3; m3 = h < m3 ? h : m3;
            }
            m[i] = m0; m[i + 1] = m1; m[i + 2] = m2; m[i + 3] = m3;
        }
        for (; i < k; i++) {
            uint64_t mi = m[i];
            for (j = 0; j < nx; j++) {
                uint64_t h = a[i] * x[j] + b[i];
                mi = h < mi ? h : mi;
            }
            m[i] = mi;
        }
    }

    #ifdef DM_X86
    __attribute__((target("avx512f,avx512dq")))
    static void dm_minhash_avx512(const uint64_t* x, size_t nx, const uint64_t* a,
                                  const uint64_t* b, uint64_t* m, size_t k) {
        size_t i = 0, j;
        for (; i + 32 <= k; i += 32) {
            __m512i a0 = _mm512_loadu_si512(a + i), a1 = _mm512_loadu_si512(a + i + 8);
            __m512i a2 = _mm512_loadu_si512(a + i + 16), a3 = _mm512_loadu_si512(a + i + 24);
            __m512i b0 = _mm512_loadu_si512(b + i), b1 = _mm512_loadu_si512(b + i + 8);
            __m512i b2 = _mm512_loadu_si512(b + i + 16), b3 = _mm512_loadu_si512(b + i + 24);
            __m512i m0 = _mm512_loadu_si512(m + i), m1 = _mm512_loadu_si512(m + i + 8);
            __m512i m2 = _mm512_loadu_si512(m + i + 16), m3 = _mm512_loadu_si512(m + i + 24);
            for (j = 0; j < nx; j++) {
                __m512i v = _mm512_set1_epi64((long long)x[j]);
                m0 = _mm512_min_epu64(m0, _mm512_add_epi64(_mm512_mullo_epi64(a0, v), b0));
                m1 = _mm512_min_epu64(m1, _mm512_add_epi64(_mm512_mullo_epi64(a1, v), b1));
                m2 = _mm512_min_epu64(m2, _mm512_add_epi64(_mm512_mullo_epi64(a2, v), b2));
                m3 = _mm512_min_epu64(m3, _mm512_add_epi64(_mm512_mullo_epi64(a3, v), b3));
            }
            _mm512_storeu_si512(m + i, m0); _mm512_storeu_si512(m + i + 8, m1);
            _mm512_storeu_si512(m + i + 16, m2); _mm512_storeu_si512(m + i + 24, m3);
        }
        for (; i + 8 <= k; i += 8) {
            __m512i a0 = _mm512_loadu_si512(a + i), b0 = _mm512_loadu_si512(b + i);
            __m512i m0 = _mm512_loadu_si512(m + i);
            for (j = 0; j < nx; j++) {
                __m512i v = _mm512_set1_epi64((long long)x[j]);
                m0 = _mm512_min_epu64(m0, _mm512_add_epi64(_mm512_mullo_epi64(a0, v), b0));
            }
            _mm512_storeu_si512(m + i, m0);
        }
        if (i < k) dm_minhash_portable(x, nx, a + i, b + i, m + i, k - i);
    }

    /* AVX2 has neither a 64-bit low multiply nor an unsigned 64-bit min:
       a*v mod 2^64 = lo(a)lo(v) + ((hi(a)lo(v) + lo(a)hi(v)) << 32), and the
       unsigned min is a signed min on values with the top bit flipped. Adding
       2^63 to b flips the top bit of a*v + b for free. */
    __attribute__((target("avx2")))
    static void dm_minhash_avx2(const uint64_t* x, size_t nx, const uint64_t* a,
                                const uint64_t* b, uint64_t* m, size_t k) {
        const __m256i top = _mm256_set1_epi64x((long long)0x8000000000000000ULL);
        size_t i = 0, j;
        for (; i + 8 <= k; i += 8) {
            __m256i a0 = _mm256_loadu_si256((const __m256i*)(a + i));
            __m256i a1 = _mm256_loadu_si256((const __m256i*)(a + i + 4));
            __m256i ah0 = _mm256_srli_epi64(a0, 32), ah1 = _mm256_srli_epi64(a1, 32);
            __m256i b0 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i*)(b + i)), top);
            __m256i b1 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i*)(b + i + 4)), top);
            __m256i m0 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i*)(m + i)), top);
            __m256i m1 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i*)(m + i + 4)), top);
            for (j = 0; j < nx; j++) {
                __m256i v = _mm256_set1_epi64x((long long)x[j]);
                __m256i vh = _mm256_set1_epi64x((long long)(x[j] >> 32));
                __m256i c0 = _mm256_add_epi64(_mm256_mul_epu32(ah0, v), _mm256_mul_epu32(a0, vh));
                __m256i c1 = _mm256_add_epi64(_mm256_mul_epu32(ah1, v), _mm256_mul_epu32(a1, vh));
                __m256i h0 = _mm256_add_epi64(_mm256_add_epi64(_mm256_mul_epu32(a0, v),
                                                               _mm256_slli_epi64(c0, 32)), b0);
                __m256i h1 = _mm256_add_epi64(_mm256_add_epi64(_mm256_mul_epu32(a1, v),
                                                               _mm256_slli_epi64(c1, 32)), b1);
                m0 = _mm256_blendv_epi8(m0, h0, _mm256_cmpgt_epi64(m0, h0));
                m1 = _mm256_blendv_epi8(m1, h1, _mm256_cmpgt_epi64(m1, h1));
            }
            _mm256_storeu_si256((__m256i*)(m + i), _mm256_xor_si256(m0, top));
            _mm256_storeu_si256((__m256i*)(m + i + 4), _mm256_xor_si256(m1, top));
        }
        if (i < k) dm_minhash_portable(x, nx, a + i, b + i, m + i, k - i);
    }
    #endif

    static dm_minhash_fn dm_minhash = dm_minhash_portable;

    /* 0 portable, 1 avx2, 2 avx512: 1 if this CPU (and OS) can run it. */
    static int dm_isa_supported(int isa) {
        if (isa == 0) return 1;
    #ifdef DM_X86
        __builtin_cpu_init();
        if (isa == 1) return __builtin_cpu_supports("avx2");
        if (isa == 2) return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    #endif
        return 0;
    }

    static void dm_isa_select(int isa) {
    #ifdef DM_X86
        if (isa == 2) { dm_minhash = dm_minhash_avx512; return; }
        if (isa == 1) { dm_minhash = dm_minhash_avx2; return; }
    #endif
        dm_minhash = dm_minhash_portable;
    }
    """
    int dm_isa_supported(int isa) nogil
    void dm_isa_select(int isa) nogil
    void dm_minhash(const uint64_t* x, size_t nx, const uint64_t* a, const uint64_t* b,
                    uint64_t* m, size_t k) nogil


cdef extern from *:
    """
    #include <string.h>

    /* The constants of the shingle-key definition (documented in dedup/minhash.py). */
    #define DM_MUL 0x9E3779B97F4A7C15ULL        /* odd: each fold step is a bijection */
    #define DM_SHINGLE_MUL 0xD6E8FEB86659FD93ULL
    #define DM_WORD_INIT 0xCBF29CE484222325ULL
    #define DM_CHAR_INIT 0x84222325CBF29CE4ULL
    #define DM_SEP (-1)
    #define DM_HIGHS 0x8080808080808080ULL
    #define DM_BYTES(b) (0x0101010101010101ULL * (uint64_t)(b))

    static inline uint64_t dm_fmix64(uint64_t k) {
        k ^= k >> 33; k *= 0xFF51AFD7ED558CCDULL;
        k ^= k >> 33; k *= 0xC4CEB9FE1A85EC53ULL;
        return k ^ (k >> 33);
    }

    /* fold(c) for c < 128, filled from the general rule by dm_init_tables, so
       the ASCII fast paths cannot disagree with it. */
    static int32_t dm_ascii_norm[128], dm_ascii_raw[128];

    /* The folded code point, or DM_SEP where c separates words. Py_UNICODE_*
       are pure table lookups in CPython's unicodectype.c: no GIL needed. */
    static inline int32_t dm_fold_slow(uint32_t c, int normalize) {
        if (normalize) return Py_UNICODE_ISALNUM(c) ? (int32_t)Py_UNICODE_TOLOWER(c) : DM_SEP;
        return Py_UNICODE_ISSPACE(c) ? DM_SEP : (int32_t)c;
    }

    static inline int32_t dm_fold(uint32_t c, int normalize) {
        if (c < 128) return normalize ? dm_ascii_norm[c] : dm_ascii_raw[c];
        return dm_fold_slow(c, normalize);
    }

    static void dm_init_tables(void) {
        for (uint32_t c = 0; c < 128; c++) {
            dm_ascii_norm[c] = dm_fold_slow(c, 1);
            dm_ascii_raw[c] = dm_fold_slow(c, 0);
        }
    }

    /* The code point at p[*pos] (a byte >= 0x80); advances *pos past it.
       Lenient: surrogates and overlong forms decode arithmetically (Python's
       "surrogatepass" UTF-8 round-trips); a byte that starts no complete
       sequence decodes as U+FFFD and advances one byte. */
    static inline uint32_t dm_decode_utf8(const uint8_t* p, Py_ssize_t n, Py_ssize_t* pos) {
        Py_ssize_t i = *pos, need, t;
        uint32_t c = p[i];
        if (c >= 0xF8 || c < 0xC0) need = 0;
        else if (c >= 0xF0) { need = 3; c &= 0x07; }
        else if (c >= 0xE0) { need = 2; c &= 0x0F; }
        else { need = 1; c &= 0x1F; }
        if (need == 0 || i + need >= n) { *pos = i + 1; return 0xFFFD; }
        for (t = 1; t <= need; t++) {
            if ((p[i + t] & 0xC0) != 0x80) { *pos = i + 1; return 0xFFFD; }
            c = (c << 6) | (p[i + t] & 0x3F);
        }
        *pos = i + need + 1;
        return c;
    }

    /* The word hash, streamed: fold h = (h ^ chunk) * DM_MUL over the UTF-8
       bytes of the folded word in little-endian 8-byte chunks (the last one
       zero-padded), from DM_WORD_INIT; finish with fmix64(h ^ byte length).
       An ASCII word of up to 8 letters costs one multiply. */
    typedef struct { uint64_t h, acc, nbytes; unsigned accn; } dm_word;

    static inline void dm_word_reset(dm_word* w) {
        w->h = DM_WORD_INIT; w->acc = 0; w->nbytes = 0; w->accn = 0;
    }

    /* Append len (1..8) bytes, the low bytes of chunk (the others zero). */
    static inline void dm_word_push(dm_word* w, uint64_t chunk, unsigned len) {
        unsigned accn = w->accn;
        w->nbytes += len;
        if (accn == 0) {
            if (len == 8) w->h = (w->h ^ chunk) * DM_MUL;
            else { w->acc = chunk; w->accn = len; }
            return;
        }
        w->acc |= chunk << (8 * accn);
        accn += len;
        if (accn >= 8) {
            w->h = (w->h ^ w->acc) * DM_MUL;
            accn -= 8;
            w->acc = accn ? chunk >> (8 * (len - accn)) : 0;
        }
        w->accn = accn;
    }

    static inline void dm_word_push_cp(dm_word* w, uint32_t c) {
        if (c < 0x80) { dm_word_push(w, c, 1); return; }
        if (c < 0x800) {
            dm_word_push(w, (0xC0 | (c >> 6)) | ((uint64_t)(0x80 | (c & 0x3F)) << 8), 2);
            return;
        }
        if (c < 0x10000) {
            dm_word_push(w, (0xE0 | (c >> 12)) | ((uint64_t)(0x80 | ((c >> 6) & 0x3F)) << 8)
                            | ((uint64_t)(0x80 | (c & 0x3F)) << 16), 3);
            return;
        }
        dm_word_push(w, (0xF0 | (c >> 18)) | ((uint64_t)(0x80 | ((c >> 12) & 0x3F)) << 8)
                        | ((uint64_t)(0x80 | ((c >> 6) & 0x3F)) << 16)
                        | ((uint64_t)(0x80 | (c & 0x3F)) << 24), 4);
    }

    static inline uint64_t dm_word_finish(const dm_word* w) {
        uint64_t h = w->h;
        if (w->accn) h = (h ^ w->acc) * DM_MUL;
        return dm_fmix64(h ^ w->nbytes);
    }

    /* Bit i of *word: byte p[i] is an ASCII word character; bit i of *high:
       p[i] >= 0x80. For 64 bytes at once. */
    #if defined(__SSE2__)
    #include <emmintrin.h>
    static inline void dm_classify64(const uint8_t* p, int normalize, uint64_t* word, uint64_t* high) {
        uint64_t w = 0, h = 0;
        for (int i = 0; i < 4; i++) {
            __m128i v = _mm_loadu_si128((const __m128i*)(p + 16 * i)), m;
            /* Signed range test: (v + (0x80 - lo)) < (-128 + width) iff lo <= v < lo + width,
               and never for bytes >= 0x80. */
            if (normalize) {
                __m128i l = _mm_or_si128(v, _mm_set1_epi8(0x20));
                __m128i letter = _mm_cmplt_epi8(_mm_add_epi8(l, _mm_set1_epi8((char)(0x80 - 'a'))),
                                                _mm_set1_epi8(-128 + 26));
                __m128i digit = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8((char)(0x80 - '0'))),
                                               _mm_set1_epi8(-128 + 10));
                m = _mm_or_si128(letter, digit);
            } else {  /* str.isspace() in ASCII: 0x09-0x0D and 0x1C-0x20 */
                __m128i s1 = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8((char)(0x80 - 0x09))),
                                            _mm_set1_epi8(-128 + 5));
                __m128i s2 = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8((char)(0x80 - 0x1C))),
                                            _mm_set1_epi8(-128 + 5));
                m = _mm_andnot_si128(_mm_or_si128(_mm_or_si128(s1, s2), _mm_cmplt_epi8(v, _mm_setzero_si128())),
                                     _mm_set1_epi8(-1));
            }
            w |= (uint64_t)(uint16_t)_mm_movemask_epi8(m) << (16 * i);
            h |= (uint64_t)(uint16_t)_mm_movemask_epi8(v) << (16 * i);
        }
        *word = w;
        *high = h;
    }
    #else
    /* SWAR: b + (0x80 - lo) sets bit 7 of a 7-bit byte iff b >= lo. */
    static inline uint64_t dm_gather_high_bits(uint64_t x) {   /* bit 7 of byte i -> bit i */
        return (((x >> 7) & DM_BYTES(1)) * 0x0102040810204080ULL) >> 56;
    }
    static inline void dm_classify64(const uint8_t* p, int normalize, uint64_t* word, uint64_t* high) {
        uint64_t w = 0, h = 0;
        for (int i = 0; i < 8; i++) {
            uint64_t x, x7, m;
            memcpy(&x, p + 8 * i, 8);
            x7 = x & ~DM_HIGHS;
            if (normalize) {
                uint64_t l = x7 | DM_BYTES(0x20);
                m = ((l + DM_BYTES(0x80 - 'a')) & ~(l + DM_BYTES(0x80 - 'z' - 1)))
                  | ((x7 + DM_BYTES(0x80 - '0')) & ~(x7 + DM_BYTES(0x80 - '9' - 1)));
            } else {
                m = ~(((x7 + DM_BYTES(0x80 - 0x09)) & ~(x7 + DM_BYTES(0x80 - 0x0E)))
                    | ((x7 + DM_BYTES(0x80 - 0x1C)) & ~(x7 + DM_BYTES(0x80 - 0x21))));
            }
            w |= dm_gather_high_bits(m & ~x & DM_HIGHS) << (8 * i);
            h |= dm_gather_high_bits(x & DM_HIGHS) << (8 * i);
        }
        *word = w;
        *high = h;
    }
    #endif

    /* The len (1..8) bytes at p as the low bytes of a word, the rest zero;
       may read up to p + 8, which the caller guarantees is in bounds. */
    static inline uint64_t dm_load_low(const uint8_t* p, unsigned len) {
        uint64_t x;
        memcpy(&x, p, 8);
        return len == 8 ? x : x & ((1ULL << (8 * len)) - 1);
    }

    static inline void dm_word_push_ascii(dm_word* w, const uint8_t* p, Py_ssize_t len,
                                          uint64_t fold_or, const uint8_t* end) {
        while (len > 0) {
            unsigned part = len >= 8 ? 8 : (unsigned)len;
            uint64_t x = 0;
            if (p + 8 <= end) x = dm_load_low(p, part);
            else memcpy(&x, p, part);
            dm_word_push(w, x | (fold_or & (part == 8 ? ~0ULL : (1ULL << (8 * part)) - 1)), part);
            p += part;
            len -= part;
        }
    }

    /* Hash every word of a 1-byte-unit text (latin-1 str or UTF-8) into out;
       returns the number of words. out needs room for (n + 1) / 2 words.
       ASCII text goes 64 bytes at a time: a bit mask of word bytes gives each
       word's start and end without a branch per byte, and a word of up to 8
       bytes is one load and one multiply. Blocks with non-ASCII bytes, and the
       last < 64 bytes, go code point by code point; a word that crosses a
       block edge is carried in the streaming hasher. Folding an ASCII word
       byte is | 0x20 (digits have that bit already). */
    static Py_ssize_t dm_words_bytes(const uint8_t* p, Py_ssize_t n, int utf8, int normalize,
                                     uint64_t* out) {
        const uint64_t fold_or = normalize ? DM_BYTES(0x20) : 0;
        const uint8_t* end = p + n;
        Py_ssize_t pos = 0, nw = 0;
        int in_word = 0;
        dm_word w;
        dm_word_reset(&w);
        while (pos < n) {
            if (pos + 64 <= n) {
                uint64_t word, high;
                dm_classify64(p + pos, normalize, &word, &high);
                if (!high) {
                    const uint8_t* q = p + pos;
                    if (in_word) {
                        /* The word carried from the previous block. */
                        unsigned run = ~word ? (unsigned)__builtin_ctzll(~word) : 64;
                        if (run) dm_word_push_ascii(&w, q, run, fold_or, end);
                        if (run == 64) { pos += 64; continue; }
                        out[nw++] = dm_word_finish(&w);
                        in_word = 0;
                        word &= ~((1ULL << run) - 1);   /* run < 64 here */
                    }
                    uint64_t starts = word & ~(word << 1);
                    uint64_t ends = word & ~(word >> 1);   /* last byte of each word */
                    while (starts) {
                        unsigned s = (unsigned)__builtin_ctzll(starts);
                        unsigned e = (unsigned)__builtin_ctzll(ends);
                        unsigned len = e - s + 1;
                        if (e == 63) {   /* may go on in the next block */
                            dm_word_reset(&w);
                            dm_word_push_ascii(&w, q + s, len, fold_or, end);
                            in_word = 1;
                            break;
                        }
                        if (len <= 8 && q + s + 8 <= end) {
                            uint64_t x = dm_load_low(q + s, len) | (fold_or & ((len == 8 ? 0 : (1ULL << (8 * len))) - 1));
                            out[nw++] = dm_fmix64(((DM_WORD_INIT ^ x) * DM_MUL) ^ len);
                        } else {
                            dm_word_reset(&w);
                            dm_word_push_ascii(&w, q + s, len, fold_or, end);
                            out[nw++] = dm_word_finish(&w);
                        }
                        starts &= starts - 1;
                        ends &= ends - 1;
                    }
                    pos += 64;
                    continue;
                }
            }
            /* Code point by code point, to the end of this 64-byte stretch. */
            Py_ssize_t stop = pos + 64 < n ? pos + 64 : n;
            while (pos < stop) {
                uint32_t c = p[pos];
                if (c >= 0x80 && utf8) c = dm_decode_utf8(p, n, &pos);
                else pos++;
                int32_t t = dm_fold(c, normalize);
                if (t != DM_SEP) {
                    if (!in_word) { dm_word_reset(&w); in_word = 1; }
                    dm_word_push_cp(&w, (uint32_t)t);
                } else if (in_word) {
                    out[nw++] = dm_word_finish(&w);
                    in_word = 0;
                }
            }
        }
        if (in_word) out[nw++] = dm_word_finish(&w);
        return nw;
    }

    /* The same for 2- and 4-byte-unit str storage, one code point at a time. */
    #define DM_WORDS_UNITS(NAME, UNIT)                                              \
    static Py_ssize_t NAME(const UNIT* p, Py_ssize_t n, int normalize, uint64_t* out) { \
        Py_ssize_t pos, nw = 0;                                                     \
        int in_word = 0;                                                            \
        dm_word w;                                                                  \
        dm_word_reset(&w);                                                          \
        for (pos = 0; pos < n; pos++) {                                             \
            int32_t t = dm_fold(p[pos], normalize);                                 \
            if (t != DM_SEP) {                                                      \
                if (!in_word) { dm_word_reset(&w); in_word = 1; }                   \
                dm_word_push_cp(&w, (uint32_t)t);                                   \
            } else if (in_word) {                                                   \
                out[nw++] = dm_word_finish(&w);                                     \
                in_word = 0;                                                        \
            }                                                                       \
        }                                                                           \
        if (in_word) out[nw++] = dm_word_finish(&w);                                \
        return nw;                                                                  \
    }
    DM_WORDS_UNITS(dm_words_ucs2, uint16_t)
    DM_WORDS_UNITS(dm_words_ucs4, uint32_t)
    """
    uint64_t DM_MUL
    uint64_t DM_SHINGLE_MUL
    uint64_t DM_CHAR_INIT
    int32_t DM_SEP
    void dm_init_tables()
    uint64_t dm_fmix64(uint64_t k) nogil
    int32_t dm_fold(uint32_t c, bint normalize) nogil
    uint32_t dm_decode_utf8(const uint8_t* p, Py_ssize_t n, Py_ssize_t* pos) nogil
    Py_ssize_t dm_words_bytes(const uint8_t* p, Py_ssize_t n, bint utf8, bint normalize,
                              uint64_t* out) nogil
    Py_ssize_t dm_words_ucs2(const uint16_t* p, Py_ssize_t n, bint normalize, uint64_t* out) nogil
    Py_ssize_t dm_words_ucs4(const uint32_t* p, Py_ssize_t n, bint normalize, uint64_t* out) nogil


dm_init_tables()

# Shingle keys handed to the permutation loop per call: 2 KiB stays in L1.
DEF BLOCK = 256

ctypedef fused unit_t:
    uint8_t
    uint16_t
    uint32_t


cdef Py_ssize_t fold_chars(const unit_t* p, Py_ssize_t n, bint utf8, bint normalize,
                           uint32_t* out) noexcept nogil:
    """The text the character n-grams run over; returns its length.

    normalize: the folded words joined by one space (no leading or trailing
    space). Otherwise: every code point, unchanged. out needs room for the
    number of code points.
    """
    cdef Py_ssize_t pos = 0, nc = 0
    cdef bint gap = False
    cdef int32_t t
    cdef uint32_t c
    while pos < n:
        c = p[pos]
        if unit_t is uint8_t:
            if c >= 0x80 and utf8:
                c = dm_decode_utf8(p, n, &pos)
            else:
                pos += 1
        else:
            pos += 1
        if not normalize:
            out[nc] = c
            nc += 1
            continue
        t = dm_fold(c, True)
        if t == DM_SEP:
            gap = True
            continue
        if gap and nc > 0:
            out[nc] = 0x20
            nc += 1
        gap = False
        out[nc] = <uint32_t>t
        nc += 1
    return nc


# ---------------------------------------------------------------------------
# Documents, shingles and the signature sink

cdef enum:
    KIND_UTF8 = 8    # beside PEP 393's 1, 2 and 4 (bytes per code point)

ctypedef struct Doc:
    const void* data
    Py_ssize_t n        # code units: bytes for UTF-8 and latin-1
    int kind

ctypedef struct Sink:
    const uint64_t* a
    const uint64_t* b
    size_t k
    uint64_t* m         # the signature row being built
    uint64_t* keys      # when not NULL: collect raw shingle keys here instead
    Py_ssize_t nkeys
    uint64_t block[BLOCK]

ctypedef struct Scratch:
    uint64_t* words     # one spare slot past the last word (read, never used)
    uint32_t* chars


cdef inline void take_block(Sink* s, Py_ssize_t count) noexcept nogil:
    """Hand the count raw keys in s.block to the signature (or the key list)."""
    cdef Py_ssize_t i
    if s.keys != NULL:
        memcpy(s.keys + s.nkeys, s.block, count * sizeof(uint64_t))
        s.nkeys += count
        return
    # fmix64 is the pre-mix of datasketch's affine64 scheme: a fixed bijection.
    for i in range(count):
        s.block[i] = dm_fmix64(s.block[i])
    dm_minhash(s.block, <size_t>count, s.a, s.b, s.m, s.k)


cdef Py_ssize_t doc_words(Doc d, bint normalize, uint64_t* out) noexcept nogil:
    if d.kind == 1 or d.kind == KIND_UTF8:
        return dm_words_bytes(<const uint8_t*>d.data, d.n, d.kind == KIND_UTF8, normalize, out)
    if d.kind == 2:
        return dm_words_ucs2(<const uint16_t*>d.data, d.n, normalize, out)
    return dm_words_ucs4(<const uint32_t*>d.data, d.n, normalize, out)


cdef Py_ssize_t doc_chars(Doc d, bint normalize, uint32_t* out) noexcept nogil:
    if d.kind == 1 or d.kind == KIND_UTF8:
        return fold_chars(<const uint8_t*>d.data, d.n, d.kind == KIND_UTF8, normalize, out)
    if d.kind == 2:
        return fold_chars(<const uint16_t*>d.data, d.n, False, normalize, out)
    return fold_chars(<const uint32_t*>d.data, d.n, False, normalize, out)


cdef void word_shingles(const uint64_t* w, Py_ssize_t count, Py_ssize_t ngram,
                        Sink* sink) noexcept nogil:
    """Keys of the word n-grams: key = sum of w[j + t] * SHINGLE_MUL**(width - 1 - t).

    Rolled from one shingle to the next with two multiplies, so the chain
    between neighbours is one multiply-add long. w[count] must be readable.
    """
    if count == 0:
        return
    cdef Py_ssize_t width = ngram if count >= ngram else count
    cdef Py_ssize_t total = count - width + 1
    cdef Py_ssize_t j = 0, i, t, part
    cdef uint64_t key = 0, lead = 1
    for t in range(width):
        key = key * DM_SHINGLE_MUL + w[t]
        if t > 0:
            lead *= DM_SHINGLE_MUL
    while j < total:
        part = total - j if total - j < BLOCK else BLOCK
        for i in range(part):
            sink.block[i] = key
            key = (key - w[j + i] * lead) * DM_SHINGLE_MUL + w[j + i + width]
        take_block(sink, part)
        j += part


cdef void char_shingles(const uint32_t* c, Py_ssize_t count, Py_ssize_t ngram,
                        Sink* sink) noexcept nogil:
    """Keys of the character n-grams: key = (key ^ c) * MUL folded from CHAR_INIT."""
    if count == 0:
        return
    cdef Py_ssize_t width = ngram if count >= ngram else count
    cdef Py_ssize_t total = count - width + 1
    cdef Py_ssize_t j = 0, i, t, part
    cdef uint64_t key
    while j < total:
        part = total - j if total - j < BLOCK else BLOCK
        for i in range(part):
            key = DM_CHAR_INIT
            for t in range(width):
                key = (key ^ c[j + i + t]) * DM_MUL
            sink.block[i] = key
        take_block(sink, part)
        j += part


cdef void shingle(Doc d, Py_ssize_t ngram, bint chars, bint normalize, Scratch* scratch,
                  Sink* sink) noexcept nogil:
    """Emit the shingle key of every n-gram of the document into sink.

    A text with fewer than ngram units (but at least one) is one shingle of
    all of them; a text with none emits nothing.
    """
    if chars:
        char_shingles(scratch.chars, doc_chars(d, normalize, scratch.chars), ngram, sink)
    else:
        word_shingles(scratch.words, doc_words(d, normalize, scratch.words), ngram, sink)


cdef class _Batch:
    """Document descriptors and scratch space for one call; frees itself."""
    cdef Doc* docs
    cdef Py_ssize_t n
    cdef Scratch scratch
    cdef object keep   # the objects whose buffers docs point into

    def __cinit__(self, Py_ssize_t n):
        self.docs = <Doc*>malloc((n if n > 0 else 1) * sizeof(Doc))
        if self.docs == NULL:
            raise MemoryError()
        self.n = n
        self.scratch.words = NULL
        self.scratch.chars = NULL

    def __dealloc__(self):
        free(self.docs)
        free(self.scratch.words)
        free(self.scratch.chars)

    cdef alloc_scratch(self, bint chars):
        cdef Py_ssize_t i, most = 0
        for i in range(self.n):
            if self.docs[i].n > most:
                most = self.docs[i].n
        # Code points <= code units; words <= (code points + 1) // 2.
        if chars:
            self.scratch.chars = <uint32_t*>malloc((most + 1) * sizeof(uint32_t))
            if self.scratch.chars == NULL:
                raise MemoryError()
        else:
            self.scratch.words = <uint64_t*>malloc((most // 2 + 2) * sizeof(uint64_t))
            if self.scratch.words == NULL:
                raise MemoryError()

    cdef run(self, const uint64_t[::1] a, const uint64_t[::1] b, Py_ssize_t ngram, bint chars,
             bint normalize):
        cdef Py_ssize_t k = a.shape[0]
        if b.shape[0] != k or k < 1:
            raise ValueError("a and b must be non-empty and of equal length")
        if ngram < 1:
            raise ValueError("ngram must be >= 1")
        result = np.full((self.n, k), np.iinfo(np.uint64).max, dtype=np.uint64)
        if self.n == 0:
            return result
        cdef uint64_t[:, ::1] out = result
        cdef Sink sink
        cdef Py_ssize_t i
        self.alloc_scratch(chars)
        sink.a = &a[0]
        sink.b = &b[0]
        sink.k = <size_t>k
        sink.keys = NULL
        sink.nkeys = 0
        with nogil:
            for i in range(self.n):
                sink.m = &out[i, 0]
                shingle(self.docs[i], ngram, chars, normalize, &self.scratch, &sink)
        return result


cdef Doc str_doc(object text) except *:
    cdef Doc d
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}")
    DM_UNICODE_READY(text)
    d.data = PyUnicode_DATA(text)
    d.n = PyUnicode_GET_LENGTH(text)
    d.kind = PyUnicode_KIND(text)
    return d


# ---------------------------------------------------------------------------
# Python entry points (dedup/minhash.py wraps these)

def signatures_str(texts, const uint64_t[::1] a, const uint64_t[::1] b, Py_ssize_t ngram,
                   bint chars, bint normalize):
    """uint64[len(texts), len(a)]: the signature of every str in texts."""
    seq = tuple(texts)   # holds the strs alive while the GIL is released
    cdef _Batch batch = _Batch(len(seq))
    cdef Py_ssize_t i
    batch.keep = seq
    for i in range(batch.n):
        batch.docs[i] = str_doc(seq[i])
    return batch.run(a, b, ngram, chars, normalize)


def signatures_utf8(const uint8_t[::1] data, const int64_t[::1] starts, const int64_t[::1] ends,
                    const uint64_t[::1] a, const uint64_t[::1] b, Py_ssize_t ngram, bint chars,
                    bint normalize):
    """uint64[len(starts), len(a)]: signatures of the UTF-8 texts data[starts[i]:ends[i]]."""
    cdef Py_ssize_t n = starts.shape[0]
    cdef Py_ssize_t size = data.shape[0]
    cdef Py_ssize_t i
    if ends.shape[0] != n:
        raise ValueError("starts and ends differ in length")
    cdef _Batch batch = _Batch(n)
    cdef const uint8_t* base = &data[0] if size > 0 else <const uint8_t*>""
    batch.keep = data
    for i in range(n):
        if not 0 <= starts[i] <= ends[i] <= size:
            raise ValueError(f"text {i} lies outside the data buffer")
        batch.docs[i].data = base + starts[i]
        batch.docs[i].n = ends[i] - starts[i]
        batch.docs[i].kind = KIND_UTF8
    return batch.run(a, b, ngram, chars, normalize)


def shingle_keys(str text, Py_ssize_t ngram, bint chars, bint normalize):
    """uint64[]: the shingle key of every n-gram of text, in text order (repeats kept)."""
    if ngram < 1:
        raise ValueError("ngram must be >= 1")
    cdef _Batch batch = _Batch(1)
    batch.keep = text
    batch.docs[0] = str_doc(text)
    batch.alloc_scratch(chars)
    # At most one shingle per code point (chars) or per word.
    result = np.empty(max(batch.docs[0].n, 1), dtype=np.uint64)
    cdef uint64_t[::1] keys = result
    cdef Sink sink
    sink.keys = &keys[0]
    sink.nkeys = 0
    with nogil:
        shingle(batch.docs[0], ngram, chars, normalize, &batch.scratch, &sink)
    return result[: sink.nkeys].copy()


def normalize_text(str text):
    """The folded words of text joined by single spaces (the char-mode text)."""
    cdef _Batch batch = _Batch(1)
    batch.keep = text
    batch.docs[0] = str_doc(text)
    batch.alloc_scratch(True)
    cdef Py_ssize_t nc
    with nogil:
        nc = doc_chars(batch.docs[0], True, batch.scratch.chars)
    return PyUnicode_FromKindAndData(4, batch.scratch.chars, nc)


ISAS = ("portable", "avx2", "avx512")


def supported_isas():
    """The permutation-loop versions this CPU can run, slowest first."""
    return [name for i, name in enumerate(ISAS) if dm_isa_supported(i)]


def set_isa(str name):
    """Run the permutation loop with one version (all give the same bits)."""
    if name not in supported_isas():
        raise ValueError(f"{name!r} not supported here; choose from {supported_isas()}")
    dm_isa_select(ISAS.index(name))
    global _isa
    _isa = name


def isa():
    """The permutation-loop version in use."""
    return _isa


_isa = "portable"
set_isa(supported_isas().pop())
