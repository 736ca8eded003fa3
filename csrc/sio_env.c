/* sio_env.c - moving RMS envelope (see sio_env.h). */
#include "sio_env.h"

#include <math.h>

/* channels per group in sio_env_rms */
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

int sio_env_rms(sio_env_state *st, int64_t ch, int64_t rows, int64_t stride, const double *x,
                const uint8_t *valid, double *out, uint8_t *ok)
{
    if (!st || st->w < 1 || st->pos < 0 || st->pos > st->w || ch < 0 || rows < 0 ||
        stride < rows || !st->seg_sq || !st->seg_n || !st->suf_sq || !st->suf_n || !st->pre_sq || !st->pre_n ||
        (rows && ch && (!x || !out || !ok)))
        return -1;
    const int64_t w = st->w;
    int64_t pos = st->pos;
    /* Channels go in groups small enough that a group's state lines stay in
       the L1 cache from row to row (all channels at once thrash it from about
       100 channels on); each channel's arithmetic is the same, in the same
       order, whatever the grouping. */
    for (int64_t c0 = 0; c0 < ch; c0 += SIO_ENV_GROUP) {
        const int64_t c1 = c0 + SIO_ENV_GROUP < ch ? c0 + SIO_ENV_GROUP : ch;
        pos = st->pos;
        for (int64_t r = 0; r < rows; r++) {
            /* a segment completed closes when the next sample comes: a block
               that ends a segment does not carry the suffix sums (the same
               sums, later) */
            if (pos == w) {
                sio_env_close_segment(st, c0, c1);
                pos = 0;
            }
            for (int64_t c = c0; c < c1; c++) {
                const int64_t i = c * stride + r;
                const int good = !valid || valid[i];
                const double sq = good ? x[i] * x[i] : 0.0, n = good ? 1.0 : 0.0;
                st->seg_sq[c * w + pos] = sq;
                st->seg_n[c * w + pos] = n;
                const double ps = st->pre_sq[c] + sq, pn = st->pre_n[c] + n;
                st->pre_sq[c] = ps;
                st->pre_n[c] = pn;
                const double s = ps + st->suf_sq[c * (w + 1) + pos + 1];
                const double k = pn + st->suf_n[c * (w + 1) + pos + 1];
                const int64_t o = c * rows + r;
                if (k > 0.0) {
                    out[o] = sqrt(s / k);
                    ok[o] = 1;
                } else {
                    out[o] = NAN;
                    ok[o] = 0;
                }
            }
            pos++;
        }
    }
    /* where every group's pos ended (also with no channel): in 1..w after a row */
    if (rows)
        st->pos = (st->pos + rows - 1) % w + 1;
    (void)pos;
    return 0;
}
