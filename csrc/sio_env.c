/* sio_env.c - moving RMS envelope (see sio_env.h). */
#include "sio_env.h"

#include <math.h>
#include <stddef.h>
#include <string.h>
#if defined(__SSE2__) || defined(_M_X64)
#define SIO_ENV_SSE2 1
#include <emmintrin.h>
#endif

/* channels per group when a segment closes */
#define SIO_ENV_GROUP 16

/* The segment just completed becomes the previous one: its suffix sums. */
static void sio_env_close_segment(sio_env_state *st, int64_t c0, int64_t c1)
{
    const int64_t w = st->w;
    for (int64_t c = c0; c < c1; c++) {
        st->suf_sq[c * (w + 1) + w] = 0.0;
        st->suf_n[c * (w + 1) + w] = 0.0;
        st->pre_sq[c] = 0.0;
        st->pre_n[c] = 0.0;
    }
    /* channels inside: their sums are independent chains the CPU overlaps */
    for (int64_t i = w - 1; i >= 0; i--) {
        for (int64_t c = c0; c < c1; c++) {
            double *ss = st->suf_sq + c * (w + 1), *sn = st->suf_n + c * (w + 1);
            ss[i] = st->seg_sq[c * w + i] + ss[i + 1];
            sn[i] = st->seg_n[c * w + i] + sn[i + 1];
        }
    }
}

/* rows of a channel whose sums sio_env_run gathers before their roots */
#define SIO_ENV_CHUNK 64

/* n rows of one channel inside one segment, from place pos: every array is
 * read and written in order. The prefix sums go first (a chain of additions),
 * then the roots of the whole chunk at once, two at a time where SSE2 is
 * there (IEEE division and square root are correctly rounded, so the bits are
 * those of one at a time). */
static inline void sio_env_run(const double *restrict x, const uint8_t *restrict valid,
                               int64_t n, double *restrict seg_sq, double *restrict seg_n,
                               const double *restrict suf_sq, const double *restrict suf_n,
                               double *pre_sq, double *pre_n, double *restrict out,
                               uint8_t *restrict ok)
{
    double ps = *pre_sq, pn = *pre_n;
    double s[SIO_ENV_CHUNK], k[SIO_ENV_CHUNK];
    for (int64_t i0 = 0; i0 < n; i0 += SIO_ENV_CHUNK) {
        const int64_t m = n - i0 < SIO_ENV_CHUNK ? n - i0 : SIO_ENV_CHUNK;
        int counted = 1; /* every window of the chunk holds a valid sample */
        for (int64_t i = 0; i < m; i++) {
            const int good = !valid || valid[i0 + i];
            const double sq = good ? x[i0 + i] * x[i0 + i] : 0.0, c = good ? 1.0 : 0.0;
            seg_sq[i0 + i] = sq;
            seg_n[i0 + i] = c;
            ps += sq;
            pn += c;
            s[i] = ps + suf_sq[i0 + i];
            k[i] = pn + suf_n[i0 + i];
            counted &= k[i] > 0.0;
        }
        double *restrict o = out + i0;
        int64_t i = 0;
        if (counted) {
#ifdef SIO_ENV_SSE2
            for (; i + 2 <= m; i += 2)
                _mm_storeu_pd(o + i, _mm_sqrt_pd(_mm_div_pd(_mm_loadu_pd(s + i), _mm_loadu_pd(k + i))));
#endif
            for (; i < m; i++)
                o[i] = sqrt(s[i] / k[i]);
            memset(ok + i0, 1, (size_t)m);
        } else {
            for (; i < m; i++) {
                ok[i0 + i] = k[i] > 0.0;
                o[i] = k[i] > 0.0 ? sqrt(s[i] / k[i]) : NAN;
            }
        }
    }
    *pre_sq = ps;
    *pre_n = pn;
}

int sio_env_rms(sio_env_state *st, int64_t ch, int64_t rows, int64_t stride, const double *x,
                const uint8_t *valid, double *out, uint8_t *ok)
{
    if (!st || st->w < 1 || st->pos < 0 || st->pos > st->w || ch < 0 || rows < 0 ||
        stride < rows || !st->seg_sq || !st->seg_n || !st->suf_sq || !st->suf_n || !st->pre_sq || !st->pre_n ||
        (rows && ch && (!x || !out || !ok)))
        return -1;
    const int64_t w = st->w;
    int64_t pos = st->pos;
    /* The rows in pieces that end where a segment does; within a piece, each
       channel's rows in one run along contiguous memory. Each channel's
       arithmetic is the same, in the same order, whatever the pieces. */
    for (int64_t r0 = 0; r0 < rows;) {
        /* a segment completed closes when the next sample comes: a block
           that ends a segment does not carry the suffix sums (the same sums,
           later) */
        if (pos == w) {
            for (int64_t c0 = 0; c0 < ch; c0 += SIO_ENV_GROUP)
                sio_env_close_segment(st, c0, c0 + SIO_ENV_GROUP < ch ? c0 + SIO_ENV_GROUP : ch);
            pos = 0;
        }
        const int64_t n = rows - r0 < w - pos ? rows - r0 : w - pos;
        for (int64_t c = 0; c < ch; c++) {
            const int64_t in = c * stride + r0, o = c * rows + r0;
            sio_env_run(x + in, valid ? valid + in : NULL, n, st->seg_sq + c * w + pos,
                        st->seg_n + c * w + pos, st->suf_sq + c * (w + 1) + pos + 1,
                        st->suf_n + c * (w + 1) + pos + 1, st->pre_sq + c, st->pre_n + c,
                        out + o, ok + o);
        }
        pos += n;
        r0 += n;
    }
    /* pos is in 1..w after a row, also with no channel */
    st->pos = pos;
    return 0;
}
