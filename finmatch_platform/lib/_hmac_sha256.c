/*
 * HMAC-SHA256 over every value of an Arrow string array, for the masking UDF (lib/masking/tokens.py).
 *
 * Why C: DuckDB's sha256() is a software implementation and cannot start from a saved state, so
 * HMAC in SQL hashes four blocks per value (the 64-byte key block again for every value). Here
 * the inner and outer key states are computed once per call and each value costs two
 * compressions (messages up to 55 bytes), with the CPU's SHA extensions when it has them.
 * The loop runs without the GIL, so DuckDB's threads hash in parallel.
 *
 * hex(ipad_block: bytes, opad_block: bytes, offsets: buffer[int32], data: buffer, first: int,
 *     count: int) -> bytes of count * 64 lowercase hex characters, value i at [64 i, 64 i + 64).
 * ipad/opad are the 64-byte key blocks K ^ 0x36.. and K ^ 0x5c.. (RFC 2104), as the SQL takes.
 * portable_hex(...) is the same without the SHA extensions (for tests on either path).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t IV256[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

typedef void (*compress_fn)(uint32_t state[8], const uint8_t *blocks, size_t nblocks);

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress_portable(uint32_t state[8], const uint8_t *blocks, size_t nblocks) {
    for (; nblocks; nblocks--, blocks += 64) {
        uint32_t w[64];
        for (int i = 0; i < 16; i++) {
            w[i] = (uint32_t)blocks[4 * i] << 24 | (uint32_t)blocks[4 * i + 1] << 16 |
                   (uint32_t)blocks[4 * i + 2] << 8 | (uint32_t)blocks[4 * i + 3];
        }
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
        uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
            uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
        }
        state[0] += a; state[1] += b; state[2] += c; state[3] += d;
        state[4] += e; state[5] += f; state[6] += g; state[7] += h;
    }
}

#ifdef HAVE_X86
/* The SHA-NI round structure as in Intel's white paper "Intel SHA Extensions" (2013). */
__attribute__((target("sha,sse4.1,ssse3")))
static void compress_shani(uint32_t state[8], const uint8_t *blocks, size_t nblocks) {
    const __m128i MASK = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&state[0]);   /* DCBA */
    __m128i st1 = _mm_loadu_si128((const __m128i *)&state[4]);   /* HGFE */
    tmp = _mm_shuffle_epi32(tmp, 0xB1);                          /* CDAB */
    st1 = _mm_shuffle_epi32(st1, 0x1B);                          /* EFGH */
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8);                  /* ABEF */
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);                       /* CDGH */

    for (; nblocks; nblocks--, blocks += 64) {
        __m128i abef = st0, cdgh = st1, msg, m0, m1, m2, m3;
        const __m128i *k = (const __m128i *)K256;

        m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks + 0)), MASK);
        msg = _mm_add_epi32(m0, _mm_loadu_si128(k + 0));
        st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
        st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(msg, 0x0E));

        m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks + 16)), MASK);
        msg = _mm_add_epi32(m1, _mm_loadu_si128(k + 1));
        st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
        st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(msg, 0x0E));
        m0 = _mm_sha256msg1_epu32(m0, m1);

        m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks + 32)), MASK);
        msg = _mm_add_epi32(m2, _mm_loadu_si128(k + 2));
        st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
        st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(msg, 0x0E));
        m1 = _mm_sha256msg1_epu32(m1, m2);

        m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks + 48)), MASK);
        /* Rounds 12..59: the same four-step pattern with the message words rotating. */
        __m128i *ms[4] = {&m0, &m1, &m2, &m3};
        for (int r = 3; r < 15; r++) {
            __m128i *cur = ms[r & 3], *next = ms[(r + 1) & 3], *prev = ms[(r + 3) & 3];
            msg = _mm_add_epi32(*cur, _mm_loadu_si128(k + r));
            st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
            tmp = _mm_alignr_epi8(*cur, *prev, 4);
            *next = _mm_add_epi32(*next, tmp);
            *next = _mm_sha256msg2_epu32(*next, *cur);
            st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(msg, 0x0E));
            *prev = _mm_sha256msg1_epu32(*prev, *cur);
        }
        /* Rounds 60..63. */
        msg = _mm_add_epi32(m3, _mm_loadu_si128(k + 15));
        st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
        st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(msg, 0x0E));

        st0 = _mm_add_epi32(st0, abef);
        st1 = _mm_add_epi32(st1, cdgh);
    }

    tmp = _mm_shuffle_epi32(st0, 0x1B);                          /* FEBA */
    st1 = _mm_shuffle_epi32(st1, 0xB1);                          /* DCHG */
    st0 = _mm_blend_epi16(tmp, st1, 0xF0);                       /* DCBA */
    st1 = _mm_alignr_epi8(st1, tmp, 8);                          /* ABEF -> HGFE */
    _mm_storeu_si128((__m128i *)&state[0], st0);
    _mm_storeu_si128((__m128i *)&state[4], st1);
}
#endif

static compress_fn best_compress(void) {
#ifdef HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1")) {
        return compress_shani;
    }
#endif
    return compress_portable;
}

/* Finish a hash whose state has absorbed `prefix_len` bytes (whole blocks) plus `msg`. */
static void finish(compress_fn compress, uint32_t state[8], uint64_t prefix_len, const uint8_t *msg,
                   size_t len, uint8_t out[32]) {
    size_t whole = len / 64;
    if (whole) {
        compress(state, msg, whole);
    }
    uint8_t tail[128];
    size_t rest = len - whole * 64;
    memcpy(tail, msg + whole * 64, rest);
    tail[rest] = 0x80;
    size_t padded = rest + 9 <= 64 ? 64 : 128;
    memset(tail + rest + 1, 0, padded - rest - 1);
    uint64_t bits = (prefix_len + len) * 8;
    for (int i = 0; i < 8; i++) {
        tail[padded - 1 - i] = (uint8_t)(bits >> (8 * i));
    }
    compress(state, tail, padded / 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(state[i] >> 24);
        out[4 * i + 1] = (uint8_t)(state[i] >> 16);
        out[4 * i + 2] = (uint8_t)(state[i] >> 8);
        out[4 * i + 3] = (uint8_t)state[i];
    }
}

static PyObject *hmac_hex(PyObject *args, compress_fn compress) {
    Py_buffer ipad, opad, offsets, data;
    Py_ssize_t first, count;
    if (!PyArg_ParseTuple(args, "y*y*y*y*nn", &ipad, &opad, &offsets, &data, &first, &count)) {
        return NULL;
    }
    PyObject *result = NULL;
    if (ipad.len != 64 || opad.len != 64) {
        PyErr_SetString(PyExc_ValueError, "the HMAC key blocks must be 64 bytes each");
        goto done;
    }
    if (first < 0 || count < 0 || (size_t)offsets.len < (size_t)(first + count + 1) * sizeof(int32_t)) {
        PyErr_SetString(PyExc_ValueError, "offsets buffer too short for first + count values");
        goto done;
    }
    const int32_t *off = (const int32_t *)offsets.buf + first;
    if (count && (off[0] < 0 || off[count] > data.len)) {
        PyErr_SetString(PyExc_ValueError, "offsets point outside the data buffer");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, count * 64);
    if (result == NULL) {
        goto done;
    }
    char *out = PyBytes_AS_STRING(result);
    const uint8_t *bytes = (const uint8_t *)data.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    static const char HEX[] = "0123456789abcdef";
    uint32_t inner0[8], outer0[8];
    memcpy(inner0, IV256, sizeof inner0);
    memcpy(outer0, IV256, sizeof outer0);
    compress(inner0, (const uint8_t *)ipad.buf, 1);
    compress(outer0, (const uint8_t *)opad.buf, 1);
    for (Py_ssize_t i = 0; i < count; i++) {
        int32_t start = off[i], end = off[i + 1];
        if (end < start) {
            bad = 1;
            break;
        }
        uint32_t st[8];
        uint8_t digest[32];
        memcpy(st, inner0, sizeof st);
        finish(compress, st, 64, bytes + start, (size_t)(end - start), digest);
        memcpy(st, outer0, sizeof st);
        finish(compress, st, 64, digest, 32, digest);
        char *o = out + i * 64;
        for (int j = 0; j < 32; j++) {
            o[2 * j] = HEX[digest[j] >> 4];
            o[2 * j + 1] = HEX[digest[j] & 15];
        }
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        Py_CLEAR(result);
        PyErr_SetString(PyExc_ValueError, "offsets are not ascending");
    }
done:
    PyBuffer_Release(&ipad);
    PyBuffer_Release(&opad);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    return result;
}

static compress_fn BEST;

static PyObject *py_hex(PyObject *self, PyObject *args) {
    (void)self;
    return hmac_hex(args, BEST);
}

static PyObject *py_portable_hex(PyObject *self, PyObject *args) {
    (void)self;
    return hmac_hex(args, compress_portable);
}

static PyMethodDef METHODS[] = {
    {"hex", py_hex, METH_VARARGS, "HMAC-SHA256 hex of each value (SHA extensions when the CPU has them)."},
    {"portable_hex", py_portable_hex, METH_VARARGS, "The same, in portable C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_hmac_sha256", NULL, -1, METHODS};

PyMODINIT_FUNC PyInit__hmac_sha256(void) {
    BEST = best_compress();
    PyObject *module = PyModule_Create(&MODULE);
    if (module != NULL) {
        PyModule_AddStringConstant(module, "IMPLEMENTATION", BEST == compress_portable ? "portable" : "sha-ni");
    }
    return module;
}
