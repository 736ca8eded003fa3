/* sio_dsp.c - per-sample front end of the dsp fault detector (see sio_dsp.h
 * and the numpy reference, FaultDetector._front_numpy in faults.py). */
#include "sio_dsp.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define SIO_DSP_MAX_SECTIONS 16
/* invalid_run at or above this: the channel was never valid */
#define SIO_DSP_NEVER (INT64_MAX / 4)

/* |v| by clearing the sign bit: no branch (a signal's sign is a coin toss,
 * and "v < 0 ? -v : v" can compile to a jump that mispredicts half the time) */
static inline double sio_dsp_abs(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    u &= ~((uint64_t)1 << 63);
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Before a channel's first valid sample ever, the hold is that first value. */
static void sio_dsp_sos_preset(sio_dsp_sos *f, int64_t c, int64_t n, const double *xc,
                               const uint8_t *ok)
{
    if (f->invalid_run[c] < SIO_DSP_NEVER)
        return;
    for (int64_t r = 0; r < n; r++) {
        if (ok[r]) {
            f->held[c] = xc[r];
            return;
        }
    }
}

/* One sample through channel c's cascade. */
static inline double sio_dsp_sos_step(const sio_dsp_sos *f, double *zi, double *held,
                                      int64_t *inv, double x, int ok)
{
    double in;
    if (ok) {
        if (*inv >= f->reprime) {
            for (int s = 0; s < f->n_sections; s++) {
                zi[2 * s] = f->unit[2 * s] * x;
                zi[2 * s + 1] = f->unit[2 * s + 1] * x;
            }
        }
        *inv = 0;
        *held = x;
        in = x;
    } else {
        *inv += 1;
        in = *held;
    }
    for (int s = 0; s < f->n_sections; s++) {
        const double *c = f->sos + 6 * s;
        double out = c[0] * in + zi[2 * s];
        zi[2 * s] = c[1] * in - c[4] * out + zi[2 * s + 1];
        zi[2 * s + 1] = c[2] * in - c[5] * out;
        in = out;
    }
    return in;
}

/* Pass 1 over channel c: the per-sample flags and hard_ok (the filters'
 * input mask); its carried state in st. Branch-free (the common case is
 * unremarkable, but codes repeat at random in a quiet signal); HAS_CODES and
 * HAS_LEAD are constants at every call. */
static inline void sio_dsp_front_flags(sio_dsp_front *st, int64_t c, int64_t n, int64_t start,
                                       const uint8_t *restrict valid,
                                       const int32_t *restrict codes,
                                       const uint64_t *restrict leadoff,
                                       uint8_t *restrict ok, uint8_t *restrict rl,
                                       uint8_t *restrict lo, uint8_t *restrict bl,
                                       uint8_t *restrict se, uint8_t *restrict ze,
                                       const int HAS_CODES, const int HAS_LEAD)
{
    /* settings in locals: the byte stores below may alias *st. Without a
     * range (or an integer zero code) the bounds are out of every int32's
     * reach, so the comparisons are simply false. */
    const int64_t code_lo = st->has_range ? st->code_lo : INT64_MIN;
    const int64_t code_hi = st->has_range ? st->code_hi : INT64_MAX;
    const int64_t code_zero = st->has_zero ? st->code_zero : INT64_MIN;
    const int64_t stuck_run = st->stuck_run, restart = st->restart;
    const int64_t settle = st->settle, blank = st->blank;
    const int64_t start_back = settle - st->settle_start;
    const uint64_t bit = (uint64_t)1 << c;
    int64_t prev_code = st->prev_code[c], same_run = st->same_run[c];
    int64_t bad_run = st->bad_run[c], last_restart = st->last_restart[c];
    int64_t last_rail = st->last_rail[c];
    for (int64_t r = 0; r < n; r++) {
        int is_rail = 0, is_ok = valid[r] != 0;
        if (HAS_CODES) {
            const int64_t code = codes[r];
            is_rail = (code <= code_lo) | (code >= code_hi);
            same_run = code == prev_code ? same_run + 1 : 0;
            prev_code = code;
            ze[r] = (uint8_t)(code == code_zero);
            is_ok &= same_run < stuck_run;
        } else {
            ze[r] = 0;
        }
        const int is_lead = HAS_LEAD ? (leadoff[r] & bit) != 0 : 0;
        is_ok &= !is_rail & !is_lead;
        rl[r] = (uint8_t)is_rail;
        lo[r] = (uint8_t)is_lead;
        ok[r] = (uint8_t)is_ok;
        const int64_t idx = start + r;
        /* the stream's start (valid within a restart's run of it) settles
         * sooner: its mark is set back */
        const int at_start = bad_run >= SIO_DSP_START_RUN && bad_run - SIO_DSP_START_RUN < restart;
        last_restart = (is_ok && bad_run >= restart) ? idx - (at_start ? start_back : 0)
                                                     : last_restart;
        bad_run = is_ok ? 0 : bad_run + 1;
        se[r] = (uint8_t)((idx - last_restart) < settle);
        last_rail = is_rail ? idx : last_rail;
        bl[r] = (uint8_t)(!is_rail & ((idx - last_rail) <= blank));
    }
    st->prev_code[c] = prev_code;
    st->same_run[c] = same_run;
    st->bad_run[c] = bad_run;
    st->last_restart[c] = last_restart;
    st->last_rail[c] = last_rail;
}

/* Pass 1 for the usual block of channel c: every sample valid and inside the
 * rails, no code repeated for long, no restart or rail recovery pending, so
 * every flag but "zero" is known; the loops are simple enough to vectorise.
 * Returns 0 (the state untouched) when the block is not like that. */
static int sio_dsp_front_flags_quiet(sio_dsp_front *st, int64_t c, int64_t n, int64_t start,
                                     const uint8_t *restrict valid,
                                     const int32_t *restrict codes, uint8_t *restrict ok,
                                     uint8_t *restrict rl, uint8_t *restrict lo,
                                     uint8_t *restrict bl, uint8_t *restrict se,
                                     uint8_t *restrict ze)
{
    if (n < 1 || !st->has_range || st->bad_run[c] >= st->restart ||
        start - st->last_restart[c] < st->settle || start - st->last_rail[c] <= st->blank)
        return 0;
    const int32_t code_lo = st->code_lo, code_hi = st->code_hi;
    /* simple loops, one job each: they vectorise */
    int odd = 0;
    for (int64_t r = 0; r < n; r++)
        odd |= valid[r] == 0;
    for (int64_t r = 0; r < n; r++)
        odd |= (codes[r] <= code_lo) | (codes[r] >= code_hi);
    if (odd)
        return 0;
    if (st->has_zero) {
        const int32_t code_zero = st->code_zero;
        for (int64_t r = 0; r < n; r++)
            ze[r] = (uint8_t)(codes[r] == code_zero);
    } else {
        memset(ze, 0, (size_t)n);
    }
    /* runs of equal codes, without branches (they repeat at random) */
    int64_t prev_code = st->prev_code[c], same_run = st->same_run[c], longest = 0;
    for (int64_t r = 0; r < n; r++) {
        const int64_t code = codes[r];
        same_run = (same_run + 1) & -(int64_t)(code == prev_code);
        longest = same_run > longest ? same_run : longest;
        prev_code = code;
    }
    if (longest >= st->stuck_run)
        return 0;
    memset(ok, 1, (size_t)n);
    memset(rl, 0, (size_t)n);
    memset(lo, 0, (size_t)n);
    memset(bl, 0, (size_t)n);
    memset(se, 0, (size_t)n);
    st->prev_code[c] = prev_code;
    st->same_run[c] = same_run;
    st->bad_run[c] = 0;
    return 1;
}

/* Pass 2 over channel c, any cascade: the 20 Hz high-pass, the running mean of
 * |hp| and its spikes, then the 1-20 Hz band without spikes. */
static void sio_dsp_front_filters(sio_dsp_front *st, int64_t c, int64_t n, int64_t start,
                                  const double *xc, const uint8_t *ok, uint8_t *sp, double *h,
                                  double *l)
{
    int64_t last_spiky = st->last_spiky[c];
    double ema = st->ema_last[c];
    sio_dsp_sos_preset(&st->hp, c, n, xc, ok);
    {
        double *zi = st->hp.zi + c * 2 * st->hp.n_sections;
        double held = st->hp.held[c];
        int64_t inv = st->hp.invalid_run[c];
        for (int64_t r = 0; r < n; r++) {
            const double y = sio_dsp_sos_step(&st->hp, zi, &held, &inv, xc[r], ok[r]);
            h[r] = y;
            const double a = sio_dsp_abs(y);
            const double thr = st->spike_k * ema > st->spike_min ? st->spike_k * ema
                                                                 : st->spike_min;
            if (a > thr)
                last_spiky = start + r;
            sp[r] = (start + r - last_spiky) <= st->spike_pad;
            ema = st->ema_a * a + (-st->ema_a1) * ema;
        }
        st->hp.held[c] = held;
        st->hp.invalid_run[c] = inv;
    }
    {
        double *zi = st->low.zi + c * 2 * st->low.n_sections;
        double held = st->low.held[c];
        int64_t inv = st->low.invalid_run[c];
        if (inv >= SIO_DSP_NEVER) {
            for (int64_t r = 0; r < n; r++) {
                if (ok[r] && !sp[r]) {
                    held = xc[r];
                    break;
                }
            }
        }
        for (int64_t r = 0; r < n; r++)
            l[r] = sio_dsp_sos_step(&st->low, zi, &held, &inv, xc[r], ok[r] && !sp[r]);
        st->low.held[c] = held;
        st->low.invalid_run[c] = inv;
    }
    st->last_spiky[c] = last_spiky;
    st->ema_last[c] = ema;
}

/* The input of one biquad cascade for one sample (see sio_dsp_sos_step):
 * the sample, or the hold; re-primes z (2 sections) after a long gap. */
#define SIO_DSP_GROUP 2

/* Pass 2 of sio_dsp_front_filters for G (<= SIO_DSP_GROUP) channels from
 * c0 in lockstep, for the fault detector's cascades (high-pass: one section,
 * band: two) once both hold a valid value: each channel's filters and running
 * mean are serial chains, and stepping several channels together lets them
 * overlap. The arithmetic is sio_dsp_sos_step's, operation for operation.
 * G is a constant at every call, so the lane loops unroll. Returns whether a
 * sample was spiky. */
static inline int sio_dsp_front_group(sio_dsp_front *st, int64_t c0, const int G, int64_t n,
                                       int64_t stride, int64_t start, const double *x,
                                       const uint8_t *ok, uint8_t *sp, double *hp, double *low,
                                       const int ALL_OK)
{
    const double *hs = st->hp.sos, *ls = st->low.sos;
    const double hb0 = hs[0], hb1 = hs[1], hb2 = hs[2], ha1 = hs[4], ha2 = hs[5];
    const double lb0 = ls[0], lb1 = ls[1], lb2 = ls[2], la1 = ls[4], la2 = ls[5];
    const double mb0 = ls[6], mb1 = ls[7], mb2 = ls[8], ma1 = ls[10], ma2 = ls[11];
    const double hu0 = st->hp.unit[0], hu1 = st->hp.unit[1];
    const double lu0 = st->low.unit[0], lu1 = st->low.unit[1];
    const double lu2 = st->low.unit[2], lu3 = st->low.unit[3];
    const int64_t h_reprime = st->hp.reprime, l_reprime = st->low.reprime;
    const double spike_k = st->spike_k, spike_min = st->spike_min;
    const double ema_a = st->ema_a, ema_b = -st->ema_a1;
    const int64_t spike_pad = st->spike_pad;
    const double *restrict xs[SIO_DSP_GROUP];
    const uint8_t *restrict oks[SIO_DSP_GROUP];
    uint8_t *restrict sps[SIO_DSP_GROUP];
    double *restrict hps[SIO_DSP_GROUP];
    double *restrict lows[SIO_DSP_GROUP];
    double hz0[SIO_DSP_GROUP], hz1[SIO_DSP_GROUP], hheld[SIO_DSP_GROUP];
    double lz0[SIO_DSP_GROUP], lz1[SIO_DSP_GROUP], lz2[SIO_DSP_GROUP], lz3[SIO_DSP_GROUP];
    double lheld[SIO_DSP_GROUP], ema[SIO_DSP_GROUP];
    int64_t hinv[SIO_DSP_GROUP], linv[SIO_DSP_GROUP], last_spiky[SIO_DSP_GROUP];
    int any_spiky = 0;
    for (int k = 0; k < G; k++) {
        const int64_t c = c0 + k;
        xs[k] = x + c * stride;
        oks[k] = ok + c * stride;
        sps[k] = sp + c * stride;
        hps[k] = hp + c * stride;
        lows[k] = low + c * stride;
        hz0[k] = st->hp.zi[2 * c];
        hz1[k] = st->hp.zi[2 * c + 1];
        hheld[k] = st->hp.held[c];
        hinv[k] = st->hp.invalid_run[c];
        lz0[k] = st->low.zi[4 * c];
        lz1[k] = st->low.zi[4 * c + 1];
        lz2[k] = st->low.zi[4 * c + 2];
        lz3[k] = st->low.zi[4 * c + 3];
        lheld[k] = st->low.held[c];
        linv[k] = st->low.invalid_run[c];
        ema[k] = st->ema_last[c];
        last_spiky[k] = st->last_spiky[c];
    }
    for (int64_t r = 0; r < n; r++) {
        const int64_t idx = start + r;
        for (int k = 0; k < G; k++) {
            const double xv = xs[k][r];
            double in;
            if (ALL_OK) { /* every sample valid, no re-priming (checked by the caller) */
                hheld[k] = xv;
                in = xv;
            } else if (oks[k][r]) {
                if (hinv[k] >= h_reprime) {
                    hz0[k] = hu0 * xv;
                    hz1[k] = hu1 * xv;
                }
                hinv[k] = 0;
                hheld[k] = xv;
                in = xv;
            } else {
                hinv[k] += 1;
                in = hheld[k];
            }
            const double y = hb0 * in + hz0[k];
            hz0[k] = hb1 * in - ha1 * y + hz1[k];
            hz1[k] = hb2 * in - ha2 * y;
            hps[k][r] = y;
            const double a = sio_dsp_abs(y);
            const double thr = spike_k * ema[k] > spike_min ? spike_k * ema[k] : spike_min;
            if (a > thr)
                last_spiky[k] = idx;
            const int spiky = (idx - last_spiky[k]) <= spike_pad;
            sps[k][r] = (uint8_t)spiky;
            any_spiky |= spiky;
            ema[k] = ema_a * a + ema_b * ema[k];
            if ((ALL_OK || oks[k][r]) && !spiky) {
                if (linv[k] >= l_reprime) {
                    lz0[k] = lu0 * xv;
                    lz1[k] = lu1 * xv;
                    lz2[k] = lu2 * xv;
                    lz3[k] = lu3 * xv;
                }
                linv[k] = 0;
                lheld[k] = xv;
                in = xv;
            } else {
                linv[k] += 1;
                in = lheld[k];
            }
            const double u = lb0 * in + lz0[k];
            lz0[k] = lb1 * in - la1 * u + lz1[k];
            lz1[k] = lb2 * in - la2 * u;
            const double v = mb0 * u + lz2[k];
            lz2[k] = mb1 * u - ma1 * v + lz3[k];
            lz3[k] = mb2 * u - ma2 * v;
            lows[k][r] = v;
        }
    }
    for (int k = 0; k < G; k++) {
        const int64_t c = c0 + k;
        st->hp.zi[2 * c] = hz0[k];
        st->hp.zi[2 * c + 1] = hz1[k];
        st->hp.held[c] = hheld[k];
        st->hp.invalid_run[c] = ALL_OK ? 0 : hinv[k];
        st->low.zi[4 * c] = lz0[k];
        st->low.zi[4 * c + 1] = lz1[k];
        st->low.zi[4 * c + 2] = lz2[k];
        st->low.zi[4 * c + 3] = lz3[k];
        st->low.held[c] = lheld[k];
        st->low.invalid_run[c] = linv[k];
        st->ema_last[c] = ema[k];
        st->last_spiky[c] = last_spiky[k];
    }
    return any_spiky;
}

#if (defined(__GNUC__) || defined(__clang__)) && SIO_DSP_GROUP == 2
#define SIO_DSP_VEC 1
/* two doubles (or 64-bit masks) in one register: GCC and clang vector
 * extensions. Each lane's arithmetic is the scalar code's, operation for
 * operation (no contraction in ISO C11 mode), so the bits are the same. */
typedef double sio_dsp_v2 __attribute__((vector_size(16)));
typedef int64_t sio_dsp_m2 __attribute__((vector_size(16)));

/* sio_dsp_front_group(st, c0, 2, ..., ALL_OK = 1) with the two channels'
 * filters and running means in the lanes of one register each: half the
 * arithmetic instructions, and the state fits the registers. The low band's
 * input takes its per-channel path (a spiky sample held out, re-priming
 * after a long hold) in scalar code, when a lane needs it. */
static int sio_dsp_front_pair(sio_dsp_front *st, int64_t c0, int64_t n, int64_t stride,
                              int64_t start, const double *x, uint8_t *sp, double *hp,
                              double *low)
{
    const double *hs = st->hp.sos, *ls = st->low.sos;
    const sio_dsp_v2 hb0 = {hs[0], hs[0]}, hb1 = {hs[1], hs[1]}, hb2 = {hs[2], hs[2]};
    const sio_dsp_v2 ha1 = {hs[4], hs[4]}, ha2 = {hs[5], hs[5]};
    const sio_dsp_v2 lb0 = {ls[0], ls[0]}, lb1 = {ls[1], ls[1]}, lb2 = {ls[2], ls[2]};
    const sio_dsp_v2 la1 = {ls[4], ls[4]}, la2 = {ls[5], ls[5]};
    const sio_dsp_v2 mb0 = {ls[6], ls[6]}, mb1 = {ls[7], ls[7]}, mb2 = {ls[8], ls[8]};
    const sio_dsp_v2 ma1 = {ls[10], ls[10]}, ma2 = {ls[11], ls[11]};
    const double *lu = st->low.unit;
    const int64_t l_reprime = st->low.reprime;
    const sio_dsp_v2 spike_k = {st->spike_k, st->spike_k};
    const sio_dsp_v2 spike_min = {st->spike_min, st->spike_min};
    const sio_dsp_v2 ema_a = {st->ema_a, st->ema_a}, ema_b = {-st->ema_a1, -st->ema_a1};
    const sio_dsp_m2 no_sign = {INT64_MAX, INT64_MAX};
    const int64_t spike_pad = st->spike_pad;
    const int64_t c1 = c0 + 1;
    const double *restrict x0 = x + c0 * stride, *restrict x1 = x + c1 * stride;
    uint8_t *restrict sp0 = sp + c0 * stride, *restrict sp1 = sp + c1 * stride;
    double *restrict hp0 = hp + c0 * stride, *restrict hp1 = hp + c1 * stride;
    double *restrict low0 = low + c0 * stride, *restrict low1 = low + c1 * stride;
    sio_dsp_v2 hz0 = {st->hp.zi[2 * c0], st->hp.zi[2 * c1]};
    sio_dsp_v2 hz1 = {st->hp.zi[2 * c0 + 1], st->hp.zi[2 * c1 + 1]};
    sio_dsp_v2 lz0 = {st->low.zi[4 * c0], st->low.zi[4 * c1]};
    sio_dsp_v2 lz1 = {st->low.zi[4 * c0 + 1], st->low.zi[4 * c1 + 1]};
    sio_dsp_v2 lz2 = {st->low.zi[4 * c0 + 2], st->low.zi[4 * c1 + 2]};
    sio_dsp_v2 lz3 = {st->low.zi[4 * c0 + 3], st->low.zi[4 * c1 + 3]};
    sio_dsp_v2 lheld = {st->low.held[c0], st->low.held[c1]};
    sio_dsp_v2 ema = {st->ema_last[c0], st->ema_last[c1]};
    int64_t linv0 = st->low.invalid_run[c0], linv1 = st->low.invalid_run[c1];
    int64_t spiky0 = st->last_spiky[c0], spiky1 = st->last_spiky[c1];
    sio_dsp_v2 xv = {0.0, 0.0};
    int any_spiky = 0;
    for (int64_t r = 0; r < n; r++) {
        const int64_t idx = start + r;
        xv[0] = x0[r];
        xv[1] = x1[r];
        const sio_dsp_v2 y = hb0 * xv + hz0;
        hz0 = hb1 * xv - ha1 * y + hz1;
        hz1 = hb2 * xv - ha2 * y;
        hp0[r] = y[0];
        hp1[r] = y[1];
        const sio_dsp_v2 a = (sio_dsp_v2)((sio_dsp_m2)y & no_sign);
        const sio_dsp_v2 t = spike_k * ema;
        const sio_dsp_m2 above = (sio_dsp_m2)(t > spike_min);
        const sio_dsp_v2 thr = (sio_dsp_v2)((above & (sio_dsp_m2)t) | (~above & (sio_dsp_m2)spike_min));
        const sio_dsp_m2 hit = (sio_dsp_m2)(a > thr);
        if (hit[0])
            spiky0 = idx;
        if (hit[1])
            spiky1 = idx;
        const int s0 = (idx - spiky0) <= spike_pad, s1 = (idx - spiky1) <= spike_pad;
        sp0[r] = (uint8_t)s0;
        sp1[r] = (uint8_t)s1;
        ema = ema_a * a + ema_b * ema;
        sio_dsp_v2 in;
        if (!(s0 | s1) && !(linv0 | linv1)) { /* the usual sample: both take x */
            lheld = xv;
            in = xv;
        } else {
            any_spiky |= s0 | s1;
            /* lane by lane, as sio_dsp_front_group */
            int64_t *inv[2] = {&linv0, &linv1};
            const int s[2] = {s0, s1};
            for (int k = 0; k < 2; k++) {
                if (!s[k]) {
                    if (*inv[k] >= l_reprime) {
                        lz0[k] = lu[0] * xv[k];
                        lz1[k] = lu[1] * xv[k];
                        lz2[k] = lu[2] * xv[k];
                        lz3[k] = lu[3] * xv[k];
                    }
                    *inv[k] = 0;
                    lheld[k] = xv[k];
                } else {
                    *inv[k] += 1;
                }
            }
            in = lheld;
        }
        const sio_dsp_v2 u = lb0 * in + lz0;
        lz0 = lb1 * in - la1 * u + lz1;
        lz1 = lb2 * in - la2 * u;
        const sio_dsp_v2 v = mb0 * u + lz2;
        lz2 = mb1 * u - ma1 * v + lz3;
        lz3 = mb2 * u - ma2 * v;
        low0[r] = v[0];
        low1[r] = v[1];
    }
    const int64_t cs[2] = {c0, c1};
    for (int k = 0; k < 2; k++) {
        const int64_t c = cs[k];
        st->hp.zi[2 * c] = hz0[k];
        st->hp.zi[2 * c + 1] = hz1[k];
        st->hp.held[c] = n ? (k ? x1[n - 1] : x0[n - 1]) : st->hp.held[c];
        st->hp.invalid_run[c] = 0;
        st->low.zi[4 * c] = lz0[k];
        st->low.zi[4 * c + 1] = lz1[k];
        st->low.zi[4 * c + 2] = lz2[k];
        st->low.zi[4 * c + 3] = lz3[k];
        st->low.held[c] = lheld[k];
        st->ema_last[c] = ema[k];
    }
    st->low.invalid_run[c0] = linv0;
    st->low.invalid_run[c1] = linv1;
    st->last_spiky[c0] = spiky0;
    st->last_spiky[c1] = spiky1;
    return any_spiky;
}
#endif

int sio_dsp_front_run(sio_dsp_front *st, int64_t n, int64_t ch, int64_t stride, int64_t start,
                      const double *x, const uint8_t *valid, const int32_t *codes,
                      const uint64_t *leadoff, uint8_t *hard_ok, uint8_t *rail,
                      uint8_t *lead, uint8_t *blank, uint8_t *settle, uint8_t *spiky,
                      uint8_t *zero, double *hp, double *low)
{
    if (!st || n < 0 || ch < 0 || stride < n || (n && (!x || !valid)))
        return -1;
    if (st->hp.n_sections < 1 || st->hp.n_sections > SIO_DSP_MAX_SECTIONS ||
        st->low.n_sections < 1 || st->low.n_sections > SIO_DSP_MAX_SECTIONS ||
        st->hp.reprime < 1 || st->low.reprime < 1 || st->settle_start < 0 ||
        st->settle_start > st->settle)
        return -1;
    const int lockstep = st->hp.n_sections == 1 && st->low.n_sections == 2;
    int quiet = 1; /* so far, every sample valid, in range, not lifted, not spiky */
    for (int64_t c0 = 0; c0 < ch; c0 += SIO_DSP_GROUP) {
        const int g = ch - c0 < SIO_DSP_GROUP ? (int)(ch - c0) : SIO_DSP_GROUP;
        int primed = lockstep, all_ok = 1;
        for (int64_t c = c0; c < c0 + g; c++) {
            const int64_t row0 = c * stride;
            const uint8_t *v = valid + row0;
            uint8_t *o = hard_ok + row0, *rl = rail + row0, *lo = lead + row0;
            uint8_t *bl = blank + row0, *se = settle + row0, *ze = zero + row0;
            /* the lead-off bitmask has bits for channels 0..63 only */
            const uint64_t *lof = c < 64 ? leadoff : NULL;
            if (codes && !lof &&
                sio_dsp_front_flags_quiet(st, c, n, start, v, codes + row0, o, rl, lo, bl, se,
                                          ze)) {
                all_ok = all_ok && st->hp.invalid_run[c] < st->hp.reprime;
            } else {
                quiet = all_ok = 0;
                if (codes && !lof)
                    sio_dsp_front_flags(st, c, n, start, v, codes + row0, NULL, o, rl, lo, bl,
                                        se, ze, 1, 0);
                else if (codes)
                    sio_dsp_front_flags(st, c, n, start, v, codes + row0, lof, o, rl, lo, bl,
                                        se, ze, 1, 1);
                else
                    sio_dsp_front_flags(st, c, n, start, v, NULL, lof, o, rl, lo, bl, se, ze,
                                        0, lof != NULL);
            }
            /* before a channel's first valid sample, its hold looks ahead */
            primed = primed && st->hp.invalid_run[c] < SIO_DSP_NEVER &&
                     st->low.invalid_run[c] < SIO_DSP_NEVER;
        }
        if (!primed) {
            quiet = 0;
            for (int64_t c = c0; c < c0 + g; c++) {
                const int64_t row0 = c * stride;
                sio_dsp_front_filters(st, c, n, start, x + row0, hard_ok + row0,
                                      spiky + row0, hp + row0, low + row0);
            }
            continue;
        }
#define SIO_DSP_GROUP_RUN(C, G, ALL_OK)                                                     \
    sio_dsp_front_group(st, C, G, n, stride, start, x, hard_ok, spiky, hp, low, ALL_OK)
        int spiked = 0;
        if (g == SIO_DSP_GROUP && all_ok)
#ifdef SIO_DSP_VEC
            spiked = sio_dsp_front_pair(st, c0, n, stride, start, x, spiky, hp, low);
#else
            spiked = SIO_DSP_GROUP_RUN(c0, SIO_DSP_GROUP, 1);
#endif
        else if (g == SIO_DSP_GROUP)
            spiked = SIO_DSP_GROUP_RUN(c0, SIO_DSP_GROUP, 0);
        else /* the last few channels, one at a time */
            for (int64_t c = c0; c < c0 + g; c++)
                spiked |= SIO_DSP_GROUP_RUN(c, 1, 0);
#undef SIO_DSP_GROUP_RUN
        if (spiked)
            quiet = 0;
    }
    return quiet;
}

/* The element of rank k of a[0..n): quickselect with branch-free three-way
 * partitions (the comparisons are unpredictable on a noisy signal) from one
 * buffer into the other, a and b of n doubles, both overwritten. */
static double sio_dsp_select(double *a, double *b, int64_t n, int64_t k)
{
    double *bufs[2] = {a, b};
    const double *src = a;
    int which = 0;
    while (n > 1) {
        double *restrict dst = bufs[1 - which];
        const double p0 = src[0], p1 = src[n / 2], p2 = src[n - 1];
        const double lo = p0 < p1 ? p0 : p1, hi = p0 < p1 ? p1 : p0;
        const double pivot = p2 < lo ? lo : (p2 > hi ? hi : p2); /* median of three */
        int64_t lt = 0, gt = 0;
        for (int64_t i = 0; i < n; i++) {
            const double v = src[i];
            /* smaller ones from the start, larger ones from the end: the two
             * never overlap (lt + gt <= i) */
            dst[lt] = v;
            dst[n - 1 - gt] = v;
            lt += v < pivot;
            gt += v > pivot;
        }
        if (k < lt) {
            src = dst;
            n = lt;
        } else if (k >= n - gt) {
            src = dst + (n - gt);
            k -= n - gt;
            n = gt;
        } else {
            return pivot;
        }
        which = 1 - which;
    }
    return src[0];
}

/* top = a[i] > top || a[i] != a[i] ? a[i] : top over a[0..n) (numpy's
 * max: a NaN wins, the last one), for values that are never -0: four
 * chains at a time (one waits on each compare), the plain loop again when
 * a NaN is there. */
static inline double sio_dsp_top(const double *restrict a, int64_t n, double top)
{
    double t[4] = {top, top, top, top};
    int64_t i = 0, nan = 0;
    for (; i + 3 < n; i += 4)
        for (int j = 0; j < 4; j++) {
            const double x = a[i + j];
            t[j] = x > t[j] ? x : t[j];
            nan |= x != x;
        }
    for (; i < n; i++) {
        t[0] = a[i] > t[0] ? a[i] : t[0];
        nan |= a[i] != a[i];
    }
    if (nan || top != top) {
        for (i = 0; i < n; i++)
            top = a[i] > top || a[i] != a[i] ? a[i] : top;
        return top;
    }
    const double t01 = t[1] > t[0] ? t[1] : t[0], t23 = t[3] > t[2] ? t[3] : t[2];
    return t23 > t01 ? t23 : t01;
}

/* A median taken as the values come, exactly: a guess of where it lies (a
 * bracket [lo, hi] around the channel's last median) sorts the values as
 * they come into those below it, those inside (kept, in mid) and those
 * above; at the hop's end, when the element of rank k falls in the
 * bracket, it is the one of rank k - below among those kept, and a select
 * over those is enough (else, or with a NaN, it runs over the whole hop as
 * before: the guess never changes the result, only the cost). The hop's
 * end was what kept a 256 channel block completing a hop over 1 ms
 * (docs/performance.md). count: below, kept, NaN seen, values counted
 * (SIO_DSP_BR_COUNT doubles, zero at the hop's start); mid holds cap
 * doubles: more values than that (rows given twice) and the guess is not
 * used; guess: SIO_DSP_BR_GUESS doubles per channel (lo, hi, width). */
static inline void sio_dsp_br_add(double *restrict count, double *restrict mid, int64_t cap,
                                  double lo, double hi, const double *restrict v, int64_t n,
                                  int absolute)
{
    if (count[3] + (double)n > (double)cap) {
        count[2] = 1.0; /* no room: the select runs over the whole hop */
        return;
    }
    count[3] += (double)n;
    int64_t below = (int64_t)count[0], kept = (int64_t)count[1], nan = 0;
    for (int64_t i = 0; i < n; i++) {
        const double x = absolute ? sio_dsp_abs(v[i]) : v[i];
        mid[kept] = x; /* stays only if kept */
        below += x < lo;
        kept += (x >= lo) & (x <= hi);
        nan |= x != x;
    }
    count[0] = (double)below, count[1] = (double)kept;
    if (nan)
        count[2] = 1.0;
}

/* Whether count holds all n values of a hop, each once, counted afresh. */
static inline int sio_dsp_br_whole(const double *count, int64_t n)
{
    return count[3] == (double)n;
}

/* The element of rank k of the n values v (absolute: of their absolute
 * values; v is not written) counted into count and mid with guess (all n
 * of them, else the select runs over v), and the next hop's guess:
 * narrower after a hit, wider after a miss; count is marked used (a hop
 * not counted afresh selects over v). scratch: 2 n doubles. */
static double sio_dsp_br_end(double *restrict count, double *restrict mid,
                             double *restrict guess, const double *restrict v, int64_t n,
                             int64_t k, int absolute, double *restrict scratch)
{
    const int64_t below = (int64_t)count[0], kept = (int64_t)count[1];
    const int counted = count[2] == 0.0 && sio_dsp_br_whole(count, n);
    int hit = counted && below <= k && k < below + kept;
    count[3] = (double)n + 1.0; /* used: more rows than room until restarted */
    double m;
    int64_t got = 0, rank = k;
    if (hit) {
        m = sio_dsp_select(mid, scratch, kept, k - below);
    } else if (counted) {
        /* a miss, without NaN: the element lies among the values below the
         * bracket (k < below) or above it, and the element of rank k of the
         * whole is that of its rank among those (they come first, or last).
         * A miss is mostly by a little: the same pass keeps apart those of
         * them within a second bracket as wide again beyond the first (from
         * scratch + n), and when the element is among those only they are
         * selected over (a select over the whole side, half the hop or so,
         * was half of the hop end's selects at 256 ch). Read against the
         * bracket again: the ranks need only that the values taken are all
         * those on their side of lo (or hi), and of lo2 (or hi2). */
        const int up = k >= below;
        const double lo = guess[0], hi = guess[1], w = guess[2];
        const double lo2 = lo / w, hi2 = hi * w;
        double *restrict near = scratch + n;
        int64_t n_near = 0;
        for (int64_t i = 0; i < n; i++) {
            const double x = absolute ? sio_dsp_abs(v[i]) : v[i];
            const int far = up ? x > hi : x < lo;
            scratch[got] = x;
            near[n_near] = x;
            got += far;
            n_near += far & (up ? x <= hi2 : x >= lo2);
        }
        rank = up ? k - (n - got) : k;
        /* the near ones come last below the bracket, first above it */
        const int64_t near_rank = up ? rank : rank - (got - n_near);
        if (near_rank >= 0 && near_rank < n_near) {
            m = sio_dsp_select(near, scratch, n_near, near_rank);
            hit = 2; /* (found: the width still widens, as after a miss) */
        }
    }
    if (!hit) {
        if (!counted || rank < 0 || rank >= got) { /* the whole hop (or a NaN among it) */
            for (int64_t i = 0; i < n; i++)
                scratch[i] = absolute ? sio_dsp_abs(v[i]) : v[i];
            got = n;
            rank = k;
        }
        m = sio_dsp_select(scratch, scratch + n, got, rank);
    }
    hit = hit == 1;
    double width = guess[2];
    /* (a miss costs about a third of a hop's select now: narrower pays) */
    width = hit ? (width > 1.2 ? width * 0.9 : width) : (width < 8.0 ? width * 1.25 : width);
    guess[2] = width;
    if (m >= 0.0 && m < INFINITY) {
        guess[0] = m / width;
        guess[1] = m * width;
    } else { /* NaN or a negative median: everything inside */
        guess[0] = -INFINITY;
        guess[1] = INFINITY;
    }
    return m;
}

void sio_dsp_br_init(int64_t ch, double *guess)
{
    for (int64_t c = 0; c < ch; c++) {
        guess[c * SIO_DSP_BR_GUESS] = -INFINITY; /* everything kept at first */
        guess[c * SIO_DSP_BR_GUESS + 1] = INFINITY;
        guess[c * SIO_DSP_BR_GUESS + 2] = 2.0;
    }
}

int sio_dsp_br_count(int64_t ch, int64_t n, int64_t stride, const double *v, int absolute,
                     int64_t cap, double *count, int64_t count_stride, double *mid,
                     const double *guess)
{
    if (ch < 0 || n < 0 || cap < 1 || stride < n || count_stride < SIO_DSP_BR_COUNT ||
        (ch && (!v || !count || !mid || !guess)))
        return -1;
    for (int64_t c = 0; c < ch; c++) {
        const double *g = guess + c * SIO_DSP_BR_GUESS;
        sio_dsp_br_add(count + c * count_stride, mid + c * cap, cap, g[0], g[1], v + c * stride,
                       n, absolute);
    }
    return 0;
}

int sio_dsp_br_finish(int64_t ch, int64_t n, int64_t stride, const double *v, int absolute,
                      const uint8_t *which, double *count, int64_t count_stride, double *mid,
                      double *guess, double *scratch, double *out, int64_t out_stride)
{
    if (ch < 0 || n < 1 || stride < n || count_stride < SIO_DSP_BR_COUNT || out_stride < 1 ||
        (ch && (!v || !count || !mid || !guess || !scratch || !out)))
        return -1;
    for (int64_t c = 0; c < ch; c++)
        if (!which || which[c])
            out[c * out_stride] =
                sio_dsp_br_end(count + c * count_stride, mid + c * n,
                               guess + c * SIO_DSP_BR_GUESS, v + c * stride, n, n / 2, absolute,
                               scratch);
    return 0;
}

int sio_dsp_br_track(int64_t ch, int64_t n, const double *count, int64_t count_stride,
                     double *guess)
{
    if (ch < 0 || n < 1 || count_stride < SIO_DSP_BR_COUNT || (ch && (!count || !guess)))
        return -1;
    const double k = (double)(n / 2);
    for (int64_t c = 0; c < ch; c++) {
        const double *a = count + c * count_stride;
        double *g = guess + c * SIO_DSP_BR_GUESS;
        const double lo = g[0], hi = g[1], w = g[2];
        if (a[2] != 0.0 || a[3] != (double)n || !(lo > 0.0) || !(hi < INFINITY) || !(w > 1.0))
            continue;
        const int below = a[0] > k, above = k >= a[0] + a[1];
        if (!below && !above)
            continue; /* inside: the guess stays */
        const double step = below ? 1.0 / (w * w) : w * w;
        const double wider = w < 8.0 ? w * 1.25 : w;
        const double mid = sqrt(lo * hi) * step;
        g[0] = mid / wider;
        g[1] = mid * wider;
        g[2] = wider;
    }
    return 0;
}

/* The largest |h[i] - mid| over i in [a, b) (a NaN is never the largest;
 * 0 when none is larger), as the spike test takes it: four chains at a
 * time (a compare waits on the one before in each). The largest of
 * several values is the same whatever their order. */
static inline double sio_dsp_far(const double *restrict h, int64_t a, int64_t b, double mid)
{
    double far[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t i = a;
    for (; i + 3 < b; i += 4)
        for (int q = 0; q < 4; q++) {
            const double d = sio_dsp_abs(h[i + q] - mid);
            far[q] = d > far[q] ? d : far[q];
        }
    for (; i < b; i++) {
        const double d = sio_dsp_abs(h[i] - mid);
        far[0] = d > far[0] ? d : far[0];
    }
    const double far01 = far[1] > far[0] ? far[1] : far[0];
    const double far23 = far[3] > far[2] ? far[3] : far[2];
    return far23 > far01 ? far23 : far01;
}

/* sio_dsp_hop_features_acc for one channel: rows [from, to) of its hop;
 * a: SIO_DSP_FEAT_ACC sums. Each sum takes its terms in the hop's row
 * order, every second row into one of two accumulators (independent
 * chains; the sums are rounded a little differently from numpy's anyway),
 * so any cut of the hop gives the same bits. */
static void sio_dsp_feat_acc1(int64_t from, int64_t to, const double *restrict x,
                              const double *restrict h, const double *restrict l,
                              const int32_t *restrict k, double *restrict a)
{
    double s[2] = {a[0], a[1]}, hh[2] = {a[2], a[3]}, ll[2] = {a[4], a[5]}, e[2] = {a[6], a[7]};
    double top = a[9];
    int64_t i = from;
    if (i < to && (i & 1)) { /* to an even row: pairs from there */
        s[1] += x[i];
        hh[1] += h[i] * h[i];
        ll[1] += l[i] * l[i];
        i++;
    }
    for (; i + 1 < to; i += 2) {
        s[0] += x[i];
        s[1] += x[i + 1];
        hh[0] += h[i] * h[i];
        hh[1] += h[i + 1] * h[i + 1];
        ll[0] += l[i] * l[i];
        ll[1] += l[i + 1] * l[i + 1];
    }
    if (i < to) {
        s[0] += x[i];
        hh[0] += h[i] * h[i];
        ll[0] += l[i] * l[i];
    }
    /* as numpy's max: NaN wins (the last one). A NaN among the hop's rows
     * so far has made its sum of squares NaN: the plain loop then; else the
     * largest |h| in four chains (sio_dsp_far), the same in any order */
    if (hh[0] != hh[0] || hh[1] != hh[1]) {
        for (i = from; i < to; i++) {
            const double ah = sio_dsp_abs(h[i]);
            top = ah > top || ah != ah ? ah : top;
        }
    } else if (from < to) {
        const double far = sio_dsp_far(h, from, to, 0.0);
        top = far > top ? far : top;
    }
    /* the third differences whose last row is among these, as numpy.diff(hp, 3):
     * differences of differences */
    for (int64_t t = from > 3 ? from - 3 : 0; t + 3 < to; t++) {
        const double a1 = h[t + 1] - h[t], b1 = h[t + 2] - h[t + 1], c1 = h[t + 3] - h[t + 2];
        const double u = (c1 - b1) - (b1 - a1);
        e[t & 1] += u * u;
    }
    if (k) {
        int diff = a[8] != 0.0;
        for (i = from > 1 ? from : 1; i < to; i++)
            diff |= k[i] != k[0];
        a[8] = diff;
    }
    a[0] = s[0], a[1] = s[1], a[2] = hh[0], a[3] = hh[1], a[4] = ll[0], a[5] = ll[1];
    a[6] = e[0], a[7] = e[1], a[9] = top;
}

/* sio_dsp_hop_features_end for one channel's hop of L rows (out: its place in the outputs) */
static void sio_dsp_feat_end1(int64_t L, const double *restrict x, const double *restrict h,
                              const double *restrict a, double *scratch, int64_t out,
                              double *var, double *mad, double *hp_ms, double *low_ms,
                              double *hf_ms, uint8_t *same_code, double *peak)
{
    const double mean = (a[0] + a[1]) / (double)L;
    double ss0 = 0.0, ss1 = 0.0;
    int64_t i = 0;
    for (; i + 1 < L; i += 2) {
        const double d0 = x[i] - mean, d1 = x[i + 1] - mean;
        ss0 += d0 * d0;
        ss1 += d1 * d1;
    }
    if (i < L) {
        const double d0 = x[i] - mean;
        ss0 += d0 * d0;
    }
    var[out] = (ss0 + ss1) / (double)L;
    hp_ms[out] = (a[2] + a[3]) / (double)L;
    low_ms[out] = (a[4] + a[5]) / (double)L;
    hf_ms[out] = (a[6] + a[7]) / (20.0 * (double)(L - 3));
    if (same_code)
        same_code[out] = (uint8_t)(a[8] == 0.0);
    if (peak)
        peak[out] = a[9];
    if (!mad) /* not wanted: the caller's (sio_dsp_br_finish) */
        return;
    if (a[SIO_DSP_FEAT_MAD + 1] != 0.0) { /* taken as the rows came */
        mad[out] = a[SIO_DSP_FEAT_MAD];
        return;
    }
    for (i = 0; i < L; i++)
        scratch[i] = sio_dsp_abs(h[i]);
    mad[out] = sio_dsp_select(scratch, scratch + L, L, L / 2);
}

int sio_dsp_hop_features(int64_t ch, int64_t m, int64_t L, int64_t stride, const double *data,
                         const double *hp, const double *low, const int32_t *codes,
                         double *scratch, double *var, double *mad, double *hp_ms,
                         double *low_ms, double *hf_ms, uint8_t *same_code, double *peak)
{
    if (ch < 0 || m < 0 || L < 4 || stride < m * L || !data || !hp || !low || !scratch ||
        !var || !mad || !hp_ms || !low_ms || !hf_ms || (codes && !same_code))
        return -1;
    for (int64_t c = 0; c < ch; c++) {
        for (int64_t j = 0; j < m; j++) {
            const int64_t at = c * stride + j * L;
            double a[SIO_DSP_FEAT_ACC] = {0};
            sio_dsp_feat_acc1(0, L, data + at, hp + at, low + at, codes ? codes + at : NULL, a);
            sio_dsp_feat_end1(L, data + at, hp + at, a, scratch, c * m + j, var, mad, hp_ms,
                              low_ms, hf_ms, codes ? same_code : NULL, peak);
        }
    }
    return 0;
}

int sio_dsp_hop_features_acc(int64_t ch, int64_t L, int64_t from, int64_t to, int64_t stride,
                             const double *data, const double *hp, const double *low,
                             const int32_t *codes, double *acc, double *guess, double *mid,
                             double *scratch)
{
    if (ch < 0 || L < 4 || from < 0 || to < from || to > L || stride < L || !acc ||
        (ch && (!data || !hp || !low)) || (guess && (!mid || !scratch)))
        return -1;
    for (int64_t c = 0; c < ch; c++) {
        const int64_t at = c * stride;
        double *a = acc + c * SIO_DSP_FEAT_ACC;
        sio_dsp_feat_acc1(from, to, data + at, hp + at, low + at, codes ? codes + at : NULL, a);
        if (!guess)
            continue;
        double *g = guess + c * SIO_DSP_BR_GUESS, *kept = mid + c * L;
        sio_dsp_br_add(a + SIO_DSP_FEAT_BR, kept, L, g[0], g[1], hp + at + from, to - from, 1);
        if (to == L) { /* the hop's median of |hp|, now */
            a[SIO_DSP_FEAT_MAD] =
                sio_dsp_br_end(a + SIO_DSP_FEAT_BR, kept, g, hp + at, L, L / 2, 1, scratch);
            a[SIO_DSP_FEAT_MAD + 1] = 1.0;
        }
    }
    return 0;
}

int sio_dsp_hop_features_end(int64_t ch, int64_t m, int64_t L, int64_t stride, const double *data,
                             const double *hp, const double *acc, int with_codes, double *scratch,
                             double *var, double *mad, double *hp_ms, double *low_ms,
                             double *hf_ms, uint8_t *same_code, double *peak)
{
    if (ch < 0 || m < 0 || L < 4 || stride < m * L || !acc || !scratch || !var ||
        !hp_ms || !low_ms || !hf_ms || (with_codes && !same_code) || (ch && m && (!data || !hp)))
        return -1;
    for (int64_t c = 0; c < ch; c++)
        for (int64_t j = 0; j < m; j++) {
            const int64_t at = c * stride + j * L;
            sio_dsp_feat_end1(L, data + at, hp + at, acc + (j * ch + c) * SIO_DSP_FEAT_ACC, scratch,
                              c * m + j, var, mad, hp_ms, low_ms, hf_ms,
                              with_codes ? same_code : NULL, peak);
        }
    return 0;
}

int sio_dsp_hop_spikes(int64_t ch, int64_t m, int64_t L, int64_t stride, const double *hp,
                       const double *before, double *scratch, double *mad, double *peak)
{
    if (ch < 0 || m < 0 || L < 1 || m > INT64_MAX / L || stride < m * L || !hp || !scratch ||
        !mad || !peak)
        return -1;
    for (int64_t c = 0; c < ch; c++) {
        const double *restrict h = hp + c * stride;
        for (int64_t j = 0; j < m; j++) {
            double *restrict a = scratch;
            double top = 0.0;
            for (int64_t i = 0; i < L; i++) {
                const int64_t r = j * L + i;
                double d;
                if ((r == 0 && !before) || i == L - 1)
                    d = 0.0;
                else {
                    /* as numpy: x - 0.5 * (left + right), the same rounding */
                    const double left = r ? h[r - 1] : before[c];
                    d = sio_dsp_abs(h[r] - 0.5 * (left + h[r + 1]));
                }
                a[i] = d;
                top = d > top || d != d ? d : top;
            }
            peak[c * m + j] = top;
            mad[c * m + j] = sio_dsp_select(a, scratch + L, L, L / 2);
        }
    }
    return 0;
}

int sio_dsp_hop_spikes_acc(int64_t ch, int64_t L, int64_t from, int64_t to, int64_t stride,
                           const double *hp, int has_before, double *buf, double *count,
                           const double *guess, double *mid)
{
    if (ch < 0 || L < 1 || from < 0 || to < from || to > L || stride < L || !buf ||
        (ch && to > from && !hp) || (guess && (!count || !mid)))
        return -1;
    for (int64_t c = 0; c < ch; c++) {
        const double *restrict h = hp + c * stride;
        double *restrict a = buf + c * L;
        /* the hop's ends first (0: the first row without one before it,
         * the last row), so that the loop over the rest vectorises */
        int64_t lo = from, hi = to;
        if (lo == 0 && hi > 0 && !has_before)
            a[lo++] = 0.0;
        if (hi == L && hi > lo)
            a[--hi] = 0.0;
        for (int64_t i = lo; i < hi; i++) /* as sio_dsp_hop_spikes */
            a[i] = sio_dsp_abs(h[i] - 0.5 * (h[i - 1] + h[i + 1]));
        if (!guess)
            continue;
        double *n = count + c * SIO_DSP_SPIKE_COUNT, top = n[SIO_DSP_BR_COUNT];
        if (from == 0) {
            for (int i = 0; i < SIO_DSP_BR_COUNT; i++)
                n[i] = 0.0;
            top = 0.0;
        }
        n[SIO_DSP_BR_COUNT] = sio_dsp_top(a + from, to - from, top); /* as sio_dsp_hop_spikes_end's */
        const double *g = guess + c * SIO_DSP_BR_GUESS;
        sio_dsp_br_add(n, mid + c * L, L, g[0], g[1], a + from, to - from, 0);
    }
    return 0;
}

int sio_dsp_hop_spikes_end(int64_t ch, int64_t L, double *buf, double *scratch, double *mad,
                           double *peak, double *count, double *guess, double *mid)
{
    if (ch < 0 || L < 1 || (ch && (!buf || !scratch || !mad || !peak)) ||
        (guess && (!count || !mid)))
        return -1;
    for (int64_t c = 0; c < ch; c++) {
        double *a = buf + c * L;
        if (guess) { /* counted as the rows came */
            double *n = count + c * SIO_DSP_SPIKE_COUNT;
            peak[c] = sio_dsp_br_whole(n, L) ? n[SIO_DSP_BR_COUNT] : sio_dsp_top(a, L, 0.0);
            mad[c] = sio_dsp_br_end(n, mid + c * L, guess + c * SIO_DSP_BR_GUESS, a, L, L / 2, 0,
                                    scratch);
            continue;
        }
        peak[c] = sio_dsp_top(a, L, 0.0);
        mad[c] = sio_dsp_select(a, scratch, L, L / 2);
    }
    return 0;
}

int sio_dsp_spike_signal(int64_t ch, int64_t n, int64_t stride, const double *hp,
                         const uint8_t *ok, int has_after, const double *before,
                         const uint8_t *ok_before, int second, double *out)
{
    if (ch < 0 || n < 0 || stride < 0 || (has_after && n == INT64_MAX) ||
        stride < n + (has_after ? 1 : 0) || (ch && n && (!hp || !ok || !out)))
        return -1;
    for (int64_t c = 0; c < ch; c++) {
        const double *restrict h = hp + c * stride;
        const uint8_t *restrict k = ok + c * stride;
        double *restrict o = out + c * stride;
        if (!second) {
            for (int64_t r = 0; r < n; r++)
                o[r] = k[r] ? h[r] : 0.0;
            continue;
        }
        for (int64_t r = 0; r < n; r++) {
            const int first = r == 0, last = r == n - 1;
            if ((first && !before) || (last && !has_after)) {
                o[r] = 0.0; /* no neighbour there */
                continue;
            }
            const int ok_left = first ? (!ok_before || ok_before[c]) : k[r - 1];
            if (!(ok_left && k[r] && k[r + 1])) { /* row n when last: has_after */
                o[r] = 0.0;
                continue;
            }
            /* as numpy: x - 0.5 * (left + right), the same rounding */
            const double left = first ? before[c] : h[r - 1];
            o[r] = h[r] - 0.5 * (left + h[r + 1]);
        }
    }
    return 0;
}

#define SIO_DSP_MAX_FREQS 16

/* One hop of sio_dsp_mains: K (2k columns) is a constant at the usual call,
 * so the projections stay in registers. */
static inline void sio_dsp_mains_hop(const double *restrict before, const double *restrict cur,
                                     int64_t L, const double *restrict basis, const int64_t k,
                                     int64_t split, double *best, double *total)
{
    double proj[2 * SIO_DSP_MAX_FREQS] = {0};
    double ss = 0.0;
    for (int half = 0; half < 2; half++) {
        const double *restrict x = half ? cur : before;
        const double *restrict b = basis + half * L * 2 * k;
        for (int64_t i = 0; i < L; i++, b += 2 * k) {
            const double v = x[i];
            ss += v * v;
            for (int64_t f = 0; f < 2 * k; f++)
                proj[f] += v * b[f];
        }
    }
    double fam[2] = {0.0, 0.0};
    for (int64_t f = 0; f < k; f++)
        fam[f >= split] += proj[f] * proj[f] + proj[k + f] * proj[k + f];
    *best = fam[0] > fam[1] ? fam[0] - fam[1] : fam[1] - fam[0];
    *total = ss / (double)(2 * L);
}

/* sio_dsp_mains_hop's projections for the usual 6 frequencies (12 columns):
 * a loop of constant length over a local array, which compilers vectorise */
static void sio_dsp_mains_proj12(const double *restrict x, int64_t L, const double *restrict b,
                                 double *restrict proj)
{
    double p[12];
    for (int f = 0; f < 12; f++)
        p[f] = proj[f];
    for (int64_t i = 0; i < L; i++) {
        const double v = x[i];
        for (int f = 0; f < 12; f++)
            p[f] += v * b[i * 12 + f];
    }
    for (int f = 0; f < 12; f++)
        proj[f] = p[f];
}

int sio_dsp_mains(int64_t ch, int64_t m, int64_t L, int64_t stride, const double *hp,
                  const double *prev, int64_t prev_stride, const double *basis, int64_t k,
                  int64_t split, double scale, double min_ms, double min_share, double *best,
                  double *total, uint8_t *verdict)
{
    if (ch < 0 || m < 0 || L < 1 || stride < m * L || prev_stride < L || k < 0 ||
        k > SIO_DSP_MAX_FREQS || split < 0 || split > k || !hp || !prev || !basis || !best ||
        !total)
        return -1;
    for (int64_t c = 0; c < ch; c++) {
        for (int64_t j = 0; j < m; j++) {
            const double *before = j == 0 ? prev + c * prev_stride : hp + c * stride + (j - 1) * L;
            const double *cur = hp + c * stride + j * L;
            double *b = best + c * m + j, *t = total + c * m + j;
            if (k == 6) { /* 50 and 60 Hz with two harmonics each */
                double proj[12] = {0}, ss = 0.0;
                sio_dsp_mains_proj12(before, L, basis, proj);
                sio_dsp_mains_proj12(cur, L, basis + L * 12, proj);
                for (int64_t i = 0; i < L; i++)
                    ss += before[i] * before[i];
                for (int64_t i = 0; i < L; i++)
                    ss += cur[i] * cur[i];
                double fam[2] = {0.0, 0.0};
                for (int64_t f = 0; f < 6; f++)
                    fam[f >= split] += proj[f] * proj[f] + proj[6 + f] * proj[6 + f];
                *b = fam[0] > fam[1] ? fam[0] - fam[1] : fam[1] - fam[0];
                *t = ss / (double)(2 * L);
            } else {
                sio_dsp_mains_hop(before, cur, L, basis, k, split, b, t);
            }
            if (verdict) { /* as FaultDetector._mains */
                const double ms = *b * scale;
                verdict[c * m + j] = (uint8_t)((ms > min_ms) & (ms / *t > min_share));
            }
        }
    }
    return 0;
}

/* sio_dsp_mains_acc's rows for the usual 6 frequencies: as
 * sio_dsp_mains_proj12, into both hops' projections */
static void sio_dsp_mains_acc12(const double *restrict x, int64_t n, const double *restrict b_cur,
                                const double *restrict b_next, double *restrict cur,
                                double *restrict next)
{
    double p[12], q[12];
    for (int f = 0; f < 12; f++) {
        p[f] = cur[f];
        q[f] = next[f];
    }
    for (int64_t i = 0; i < n; i++) {
        const double v = x[i];
        for (int f = 0; f < 12; f++) {
            p[f] += v * b_cur[i * 12 + f];
            q[f] += v * b_next[i * 12 + f];
        }
    }
    for (int f = 0; f < 12; f++) {
        cur[f] = p[f];
        next[f] = q[f];
    }
}

int sio_dsp_mains_acc(int64_t ch, int64_t n, int64_t stride, const double *hp, int64_t L,
                      int64_t pos, const double *basis, int64_t k, int64_t split, double scale,
                      double min_ms, double min_share, double *acc, double *best, double *total,
                      uint8_t *verdict)
{
    if (ch < 0 || n < 0 || L < 1 || pos < 0 || pos > L || n > L - pos || stride < n || k < 0 ||
        k > SIO_DSP_MAX_FREQS || split < 0 || split > k || !basis || !acc ||
        (ch && n && !hp) || (ch && pos + n == L && (!best || !total)))
        return -1;
    const int64_t K = 2 * k, width = 2 * K + 2;
    for (int64_t c = 0; c < ch; c++) {
        const double *restrict x = hp + c * stride;
        double *restrict cur = acc + c * width, *restrict next = cur + K + 1;
        const double *b_cur = basis + (L + pos) * K, *b_next = basis + pos * K;
        if (k == 6) {
            sio_dsp_mains_acc12(x, n, b_cur, b_next, cur, next);
        } else {
            for (int64_t i = 0; i < n; i++) {
                const double v = x[i];
                for (int64_t f = 0; f < K; f++) {
                    cur[f] += v * b_cur[i * K + f];
                    next[f] += v * b_next[i * K + f];
                }
            }
        }
        /* the sums of squares in sio_dsp_mains' order: this hop's window
         * (the hop before, then this one), then the next window's start */
        double ss = cur[K], sn = next[K];
        for (int64_t i = 0; i < n; i++) {
            ss += x[i] * x[i];
            sn += x[i] * x[i];
        }
        cur[K] = ss;
        next[K] = sn;
        if (pos + n < L)
            continue;
        double fam[2] = {0.0, 0.0};
        for (int64_t f = 0; f < k; f++)
            fam[f >= split] += cur[f] * cur[f] + cur[k + f] * cur[k + f];
        best[c] = fam[0] > fam[1] ? fam[0] - fam[1] : fam[1] - fam[0];
        total[c] = cur[K] / (double)(2 * L);
        if (verdict) { /* as sio_dsp_mains */
            const double ms = best[c] * scale;
            verdict[c] = (uint8_t)((ms > min_ms) & (ms / total[c] > min_share));
        }
        for (int64_t f = 0; f <= K; f++) {
            cur[f] = next[f];
            next[f] = 0.0;
        }
    }
    return pos + n == L;
}

/* rows per tile of sio_dsp_hop_mask: computed channel by channel (contiguous
 * reads), written row by row */
#define SIO_DSP_TILE 64
#define SIO_DSP_TILE_CH 64

/* np.maximum: NaN wins */
static inline double sio_dsp_max(double a, double b)
{
    return (a > b || a != a) ? a : b;
}

int sio_dsp_hop_far(int64_t ch, int64_t n, int64_t stride, const double *x, const double *med,
                    double *far)
{
    if (ch < 0 || n < 0 || stride < n || (ch && (!x || !far)))
        return -1;
    for (int64_t c = 0; c < ch; c++)
        far[c] = sio_dsp_far(x + c * stride, 0, n, med ? med[c] : 0.0);
    return 0;
}

int64_t sio_dsp_hop_mask(int64_t ch, int64_t n_hops, const int64_t *lens, int64_t stride,
                         const uint8_t *valid, const uint8_t *rail, const uint8_t *blank,
                         const uint8_t *lead, const uint8_t *hard_ok, const double *hp,
                         const uint8_t *cond, int64_t n_cond, const uint8_t *active,
                         const double *mad, int64_t n_mad, const double *prev_mad,
                         const double *med, const uint8_t *blocked, const double *far,
                         double spike_k, double spike_min, int mask_rail, int mask_blank,
                         int mask_lead, double *thr, uint8_t *hop_bad, uint8_t *valid_out,
                         uint8_t *hit, int64_t *n_invalid)
{
    /* quiet rows: the five flag arrays all NULL (some NULL: refused) */
    const int quiet = !valid && !rail && !blank && !lead && !hard_ok;
    if (ch < 0 || n_hops < 1 || n_cond < n_hops || n_mad < n_hops || !lens ||
        (!quiet && (!valid || !rail || !blank || !lead || !hard_ok)) || !hp || !cond ||
        !active || !mad || !blocked || !thr || !hop_bad || !valid_out || !hit || !n_invalid)
        return -1;
    int64_t rows = 0;
    for (int64_t j = 0; j < n_hops; j++) {
        if (lens[j] < 1 || lens[j] > stride - rows)
            return -1;
        rows += lens[j];
    }
    /* per hop (as FaultDetector._decide and _spike_threshold): masked when a
     * masked kind's condition holds in it or the next one, or the kind is on;
     * spikes beyond spike_k robust sigmas (the larger MAD of the neighbouring
     * hops: a spike's own pulse and high-pass tail inflate its hop's), or
     * spike_min; no test where blocked */
    for (int64_t j = 0; j < n_hops; j++) {
        for (int64_t c = 0; c < ch; c++) {
            const int64_t i = j * ch + c;
            const uint8_t ahead = j + 1 < n_cond ? cond[i + ch] : 0;
            hop_bad[i] = (uint8_t)((cond[i] | ahead | active[i]) != 0);
            const double before = j ? mad[i - ch] : (prev_mad ? prev_mad[c] : mad[c]);
            const double after = j + 1 < n_mad ? mad[i + ch] : mad[i];
            const double sigma = 1.4826 * sio_dsp_max(before, after);
            thr[i] = blocked[i] ? INFINITY : sio_dsp_max(spike_k * sigma, spike_min);
        }
    }
    /* the flags that make a sample invalid */
    const uint8_t rail_bad = (uint8_t)(mask_rail != 0);
    const uint8_t blank_bad = (uint8_t)(mask_rail && mask_blank);
    const uint8_t lead_bad = (uint8_t)(mask_lead != 0);
    /* channels in groups of SIO_DSP_TILE_CH: the tile of output flags stays
     * on the stack whatever the channel count */
    uint8_t tile_ok[SIO_DSP_TILE_CH][SIO_DSP_TILE];
    int64_t hits = 0, good_out = 0;
    int64_t j0 = 0, j0_start = 0; /* the hop holding the tile's first row, and its start */
    for (int64_t r0 = 0; r0 < rows; r0 += SIO_DSP_TILE) {
        const int64_t r1 = rows - r0 < SIO_DSP_TILE ? rows : r0 + SIO_DSP_TILE;
        while (j0_start + lens[j0] <= r0)
            j0_start += lens[j0++];
        for (int64_t c0 = 0; c0 < ch; c0 += SIO_DSP_TILE_CH) {
        const int64_t c1 = ch - c0 < SIO_DSP_TILE_CH ? ch : c0 + SIO_DSP_TILE_CH;
        for (int64_t c = c0; c < c1; c++) {
            const int64_t row0 = c * stride;
            const uint8_t *restrict v = quiet ? NULL : valid + row0;
            const uint8_t *restrict rl = quiet ? NULL : rail + row0;
            const uint8_t *restrict bl = quiet ? NULL : blank + row0;
            const uint8_t *restrict lo = quiet ? NULL : lead + row0;
            const uint8_t *restrict ok = quiet ? NULL : hard_ok + row0;
            const double *restrict h = hp + row0;
            uint8_t *restrict to = tile_ok[c - c0];
            int64_t j = j0, a = r0, hop_start = j0_start;
            while (a < r1) { /* the tile's part in hop j */
                const int64_t hop_end = hop_start + lens[j];
                const int64_t b = hop_end < r1 ? hop_end : r1;
                const uint8_t good = hop_bad[j * ch + c] == 0;
                const double t = thr[j * ch + c], mid = med ? med[j * ch + c] : 0.0;
                if (quiet) { /* every flag known: none of the flags' memory read */
                    memset(to + (a - r0), good, (size_t)(b - a));
                    good_out += good * (b - a);
                } else {
                    /* simple loops: they vectorise; flags are 0/1 bytes */
                    for (int64_t r = a; r < b; r++)
                        to[r - r0] = (uint8_t)(v[r] & good & ~(rl[r] & rail_bad) &
                                               ~(bl[r] & blank_bad) & ~(lo[r] & lead_bad));
                    for (int64_t r = a; r < b; r++)
                        good_out += to[r - r0];
                }
                /* |hp - med| > t (mid - h is -(h - mid) exactly: either
                 * signed difference beyond t, one compare) anywhere: the
                 * largest such difference beyond t (a NaN is never beyond,
                 * never the largest). The hop's largest, when known (far),
                 * not beyond t: none of its rows is, none read */
                const double known = far ? far[j * ch + c] : -1.0;
                const int beyond = (known >= 0.0 && !(known > t)) ? 0 : sio_dsp_far(h, a, b, mid) > t;
                uint8_t *restrict th = hit + c * rows;
                if (beyond && quiet) {
                    for (int64_t r = a; r < b; r++) {
                        const uint8_t is_hit = (uint8_t)(sio_dsp_abs(h[r] - mid) > t);
                        th[r] = is_hit;
                        hits += is_hit;
                    }
                } else if (beyond) {
                    for (int64_t r = a; r < b; r++) {
                        const uint8_t is_hit =
                            (uint8_t)(sio_dsp_abs(h[r] - mid) > t) & ok[r] & (uint8_t)!bl[r];
                        th[r] = is_hit;
                        hits += is_hit;
                    }
                } else {
                    memset(th + a, 0, (size_t)(b - a));
                }
                a = b;
                if (b == hop_end) {
                    hop_start = hop_end;
                    j++;
                }
            }
        }
        for (int64_t r = r0; r < r1; r++)
            for (int64_t c = c0; c < c1; c++)
                valid_out[r * ch + c] = tile_ok[c - c0][r - r0];
        }
    }
    *n_invalid = rows * ch - good_out;
    return hits;
}

/* One source of sio_dsp_rows_put: element (r, c) at [r * rs + c * cs]. */
#define SIO_DSP_PUT(T, src, rs, cs, dst)                                                  \
    do {                                                                                  \
        if (rs == 1) { /* column-major: each channel's rows in one run */                 \
            for (int64_t c = 0; c < ch; c++)                                              \
                memcpy((dst) + c * stride, (src) + c * cs, (size_t)n * sizeof(T));        \
        } else {                                                                          \
            for (int64_t r0 = 0; r0 < n; r0 += SIO_DSP_TILE) {                            \
                const int64_t r1 = n - r0 < SIO_DSP_TILE ? n : r0 + SIO_DSP_TILE;         \
                for (int64_t c = 0; c < ch; c++) {                                        \
                    T *restrict d_ = (dst) + c * stride;                                  \
                    const T *restrict s_ = (src) + c * cs;                                \
                    for (int64_t r = r0; r < r1; r++)                                     \
                        d_[r] = s_[r * rs];                                               \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
    } while (0)

int sio_dsp_rows_put(int64_t n, int64_t ch, int64_t stride, const double *x, int64_t x_rs,
                     int64_t x_cs, const uint8_t *valid, int64_t v_rs, int64_t v_cs,
                     const int32_t *codes, int64_t k_rs, int64_t k_cs, double *x_out,
                     uint8_t *valid_out, int32_t *codes_out)
{
    if (n < 0 || ch < 0 || stride < n || x_rs < 1 || x_cs < 1 || v_rs < 1 ||
        v_cs < 1 || k_rs < 1 || k_cs < 1)
        return -1;
    if (!n || !ch)
        return 0;
    if (!x || !valid || !x_out || !valid_out || (codes && !codes_out))
        return -1;
    SIO_DSP_PUT(double, x, x_rs, x_cs, x_out);
    SIO_DSP_PUT(uint8_t, valid, v_rs, v_cs, valid_out);
    if (codes)
        SIO_DSP_PUT(int32_t, codes, k_rs, k_cs, codes_out);
    return 0;
}

int sio_dsp_rows_move(void *base, int64_t size, int64_t elem, int64_t ch, int64_t stride,
                      int64_t from, int64_t n)
{
    if (size < 0 || ch < 0 || stride < 0 || from < 0 || n < 0 || n > stride - from ||
        (elem != 1 && elem != 2 && elem != 4 && elem != 8))
        return -1;
    /* the channels' rows fit in the buffer: ch * stride <= size (no overflow) */
    if (ch && stride > size / ch)
        return -1;
    if (!ch || !n || !from)
        return 0;
    if (!base)
        return -1;
    uint8_t *b = base;
    const size_t row_bytes = (size_t)elem, run = (size_t)n * row_bytes;
    for (int64_t c = 0; c < ch; c++) {
        uint8_t *dst = b + (size_t)(c * stride) * row_bytes;
        memmove(dst, dst + (size_t)from * row_bytes, run);
    }
    return 0;
}

/* numpy's minimum and maximum (a NaN wins: in1 when it is one, else in2) */
static inline double sio_dsp_np_min(double a, double b)
{
    return (a <= b || a != a) ? a : b;
}

static inline double sio_dsp_np_max(double a, double b)
{
    return (a >= b || a != a) ? a : b;
}

/* _peak_step (features.py) of one channel: a learnt peak level q (log10)
 * and whether it has started, from the hop's peak pk (lp its log10), where
 * usable and the peak no outlier (above both the floor pf and own) */
static inline void sio_dsp_peak_step(double *q_io, uint8_t *started, int usable, double pk,
                                     double lp, double own, double pf, double up, double down)
{
    const int fin = isfinite(lp);
    double q = *q_io;
    if (usable && !(pk > pf && pk > own) && fin)
        q = q + (lp > q ? up : -down);
    if (usable && !*started && fin) {
        q = sio_dsp_np_max(q, lp);
        *started = 1;
    }
    *q_io = q;
}

/* _learn's loop body (features.py), one hop of channel c: its motion floor
 * and spike floor out, the levels moved on in place */
static inline void sio_dsp_learn_one(const sio_dsp_learn_set *set, int64_t c, int usable,
                                     int judged, int rest_ok, double lm, double sh, double pk,
                                     double mad, double x, double lp, double level,
                                     double pow_rest, double pow_peak, double *q_low,
                                     double *q_rest, double *q_peak, double *q_ref,
                                     uint8_t *peak_set, double *mf_out, double *pf_out)
{
    const double up = set->learn_up, down = set->learn_down;
    const double ql = q_low[c], qp = q_peak[c];
    const double floor = sio_dsp_np_min(set->motion_uv, set->floor_k * pow_rest);
    const double mf = floor * floor;
    const double pf = set->spike_rel * pow_peak;
    *mf_out = mf;
    *pf_out = pf;
    /* _motion_like(low_ms, share, level, 1.0, mfloor) */
    const double r1 = set->motion_rel * level, r2 = set->motion_loud_rel * 1.0 * level;
    const double thr = sio_dsp_np_max(mf, r1 * r1), loud = sio_dsp_np_max(mf, r2 * r2);
    const int like = (lm > thr && sh > set->motion_share) || (lm > loud && sh > set->motion_loud_share);
    const int rising = sh > set->motion_loud_share && x > ql + set->learn_rise;
    const int fin = isfinite(x);
    const int teach = judged && !like && !rising && sh <= set->motion_share && fin;
    if (teach)
        q_low[c] = ql + (x > ql ? up : -down);
    if (rest_ok && !like && fin) /* _low_quantile_step(q10, x, ..., 9) */
        q_rest[c] = q_rest[c] + (x < q_rest[c] ? -up : down);
    if (teach)
        q_ref[c] = qp;
    sio_dsp_peak_step(&q_peak[c], &peak_set[c], usable, pk, lp, set->spike_own * mad, pf, up, down);
}

int sio_dsp_learn_hop(int64_t ch, const sio_dsp_learn_set *set, const uint8_t *usable,
                      const uint8_t *judged, const uint8_t *rest_ok, const uint8_t *low_set,
                      const double *low_ms, const double *share, const double *peak,
                      const double *mad, const double *llow, const double *lpeak,
                      const double *pow_low, const double *pow_rest, const double *pow_peak,
                      double *q_low, double *q_rest, double *q_peak, double *q_ref,
                      uint8_t *peak_set, double *mfloor, double *peak_floor)
{
    if (ch < 0 || !set || (ch && (!usable || !judged || !rest_ok || !low_set || !low_ms ||
                                  !share || !peak || !mad || !llow || !lpeak || !pow_low ||
                                  !pow_rest || !pow_peak || !q_low || !q_rest || !q_peak ||
                                  !q_ref || !peak_set || !mfloor || !peak_floor)))
        return -1;
    for (int64_t c = 0; c < ch; c++)
        if (judged[c] && !low_set[c] && isfinite(llow[c]))
            return 1;
    for (int64_t c = 0; c < ch; c++)
        sio_dsp_learn_one(set, c, usable[c], judged[c], rest_ok[c], low_ms[c], share[c], peak[c],
                          mad[c], llow[c], lpeak[c], pow_low[c], pow_rest[c], pow_peak[c], q_low,
                          q_rest, q_peak, q_ref, peak_set, &mfloor[c], &peak_floor[c]);
    return 0;
}

/* numpy.nan_to_num of one value */
static inline double sio_dsp_nan_to_num(double v)
{
    if (v != v)
        return 0.0;
    return v > DBL_MAX ? DBL_MAX : (v < -DBL_MAX ? -DBL_MAX : v);
}

/* What sio_dsp_judge_hop's two passes both need of channel c: its noise
 * verdict and last noise hop, the settling run, and which tests it gets. */
typedef struct {
    int noise, blocked, settling, spiked, after_noise, judged, early, motion_ok, rest_ok;
    int64_t last_noise, run;
} sio_dsp_judge_flags;

static inline sio_dsp_judge_flags sio_dsp_judge_of(const sio_dsp_judge_set *set,
                                                   const sio_dsp_judge_in *in,
                                                   const sio_dsp_judge_state *st, int64_t c,
                                                   int64_t g)
{
    sio_dsp_judge_flags f;
    const double hf = in->hf_ms[c];
    f.blocked = in->blocked[c] != 0;
    /* _noise_verdicts: a candidate (share above the bar) above the learnt floor */
    f.noise = !f.blocked && hf / in->hp_ms[c] > set->noise_share && hf > set->noise_k2 * in->pows[c];
    f.last_noise = f.noise && g > st->last_noise[c] ? g : st->last_noise[c];
    f.after_noise = g - f.last_noise <= set->noise_hops;
    const int after_gap = g - in->last_gap[c] <= set->gap_hops;
    f.settling = in->settling ? in->settling[c] != 0 : 0;
    f.spiked = in->spiked ? in->spiked[c] != 0 : 0;
    f.judged = !f.blocked && !f.settling && !f.after_noise && !after_gap && !f.spiked;
    /* _settle_early: the run of settling hops, its first SETTLE_EARLY_S */
    const int s = f.settling && !f.blocked;
    f.run = s ? st->settle_hops[c] + 1 : 0;
    f.early = s && f.run <= set->early_hops;
    f.motion_ok = !f.blocked && !f.early && (st->low_set[c] || !f.settling) && !after_gap && !f.spiked;
    /* the band's rest learns from the settling hops after the early ones too */
    const int settled_rest = s && !f.early && !f.after_noise && !after_gap && !f.spiked;
    f.rest_ok = (f.judged || settled_rest) && in->live[c];
    return f;
}

int sio_dsp_judge_hop(int64_t ch, int64_t g, const sio_dsp_judge_set *set,
                      const sio_dsp_judge_in *in, const sio_dsp_judge_state *st, uint8_t *noise,
                      uint8_t *mains_on, int64_t *mains_first, double *mfloor, double *spike_mad)
{
    if (ch < 0 || !set || !in || !st || set->mains_n < 0 || set->mains_sure_n < 0 ||
        set->mains_sure_n > set->mains_n)
        return -1;
    if (ch && (!in->blocked || !in->live || !in->mains || !in->mains_sure || !in->hp_ms ||
               !in->low_ms || !in->hf_ms || !in->peak || !in->mad || !in->sd_med ||
               !in->sd_peak || !in->logs || !in->pows || !in->last_gap || !st->q_hf ||
               !st->noise_ms || !st->q_low || !st->q_rest || !st->q_peak || !st->q_ref ||
               !st->ring_ref || !st->q_sd || !st->last_noise || !st->settle_hops ||
               !st->low_set || !st->hf_set || !st->rest_set || !st->peak_set || !st->sd_set ||
               !st->motion_prev || !st->motion_rising || (set->mains_n && (!st->mains_hist || !st->sure_hist)) ||
               !noise || !mains_on || !mains_first || !mfloor || !spike_mad))
        return -1;
    const sio_dsp_learn_set *ls = &set->learn;
    const double *l_hf = in->logs, *l_low = in->logs + ch, *l_peak = in->logs + 2 * ch;
    const double *l_sd = in->logs + 3 * ch;
    const double *p_low = in->pows + ch, *p_rest = in->pows + 2 * ch;
    const double *p_peak = in->pows + 3 * ch, *p_ref = in->pows + 4 * ch;
    const double *p_sd = in->pows + 5 * ch;
    /* first pass: whether the reference must run (nothing written yet) */
    for (int64_t c = 0; c < ch; c++) {
        const sio_dsp_judge_flags f = sio_dsp_judge_of(set, in, st, c, g);
        if (f.judged && !st->low_set[c] && isfinite(0.5 * l_low[c]))
            return 1; /* the level starts from this hop: _learn's own path */
        if (in->live[c] && !st->hf_set[c] && isfinite(0.5 * l_hf[c]))
            return 1; /* the noise floor may start lower from it: _noise_verdicts' */
        if (f.rest_ok && !st->rest_set[c] && isfinite(0.5 * l_low[c]))
            return 1; /* the band's rest may start lower from it: _learn's */
        if (!f.motion_ok)
            continue;
        /* _motion_like with the hop's rise above the learnt peaks */
        const double lm = in->low_ms[c], sh = lm / (lm + in->hp_ms[c]), level = p_low[c];
        const double floor = sio_dsp_np_min(ls->motion_uv, ls->floor_k * p_rest[c]);
        const double mf = floor * floor;
        const double rise = sio_dsp_np_max(sio_dsp_nan_to_num(in->peak[c] / p_ref[c]), 1.0);
        const double r1 = ls->motion_rel * level, r2 = ls->motion_loud_rel * rise * level;
        const double thr = sio_dsp_np_max(mf, r1 * r1), loud = sio_dsp_np_max(mf, r2 * r2);
        if ((lm > thr && sh > ls->motion_share) || (lm > loud && sh > ls->motion_loud_share))
            return 1; /* a motion candidate: the band's speed is read from its rows */
    }
    const double up = ls->learn_up, down = ls->learn_down;
    const int64_t n = set->mains_n, ns = set->mains_sure_n;
    for (int64_t c = 0; c < ch; c++) {
        const sio_dsp_judge_flags f = sio_dsp_judge_of(set, in, st, c, g);
        const double hp = in->hp_ms[c], lm = in->low_ms[c], hf = in->hf_ms[c];
        /* the noise floor learns from the live hops without a verdict */
        const double x = 0.5 * l_hf[c], q = st->q_hf[c];
        if (in->live[c] && !f.noise && isfinite(x))
            st->q_hf[c] = q + (x < q ? -up : down);
        noise[c] = (uint8_t)f.noise;
        st->last_noise[c] = f.last_noise;
        if (f.noise)
            st->noise_ms[c] = hf;
        st->settle_hops[c] = f.run;
        /* _learn: the peaks learn from hops without a fault of their own */
        const double sh = lm / (lm + hp), level = p_low[c];
        const int teaches = !f.blocked && !f.noise && !in->mains[c];
        double mf, pf;
        sio_dsp_learn_one(ls, c, teaches, f.judged, f.rest_ok, lm, sh, in->peak[c],
                          in->mad[c], 0.5 * l_low[c], l_peak[c], level, p_rest[c], p_peak[c],
                          st->q_low, st->q_rest, st->q_peak, st->q_ref, st->peak_set, &mf, &pf);
        mfloor[c] = mf;
        /* the ring-down's level: where the band came with the rest of the
         * spectrum (no fast band here: no motion candidate) */
        const double rise = sio_dsp_np_max(sio_dsp_nan_to_num(in->peak[c] / p_ref[c]), 1.0);
        const double r1 = ls->motion_rel * level, r2 = ls->motion_loud_rel * rise * level;
        const int broad = f.spiked || f.early || sh <= ls->motion_loud_share ||
                          (sh <= ls->motion_share && lm <= r2 * r2);
        double ref = st->ring_ref[c] * set->ring_decay;
        if (broad)
            ref = sio_dsp_np_max(ref, set->ring_build * sio_dsp_nan_to_num(lm));
        st->ring_ref[c] = ref;
        /* _loud_needs_two without a verdict: the history moves on */
        st->motion_prev[2 * c] = st->motion_prev[2 * c + 1];
        st->motion_prev[2 * c + 1] = 0;
        st->motion_rising[c] = (uint8_t)(lm > r1 * r1 && sh > ls->motion_loud_share);
        /* _mains_runs: the test held over the history, or the sure test */
        const int on = in->mains[c] && !f.blocked, sure = in->mains_sure[c] && !f.blocked;
        uint8_t *h = n ? st->mains_hist + c * n : NULL, *hs = n ? st->sure_hist + c * n : NULL;
        int run = on, run_sure = sure;
        for (int64_t j = 0; j < n; j++) {
            run = run && h[j];
            if (j >= n - ns)
                run_sure = run_sure && hs[j];
        }
        if (n) {
            memmove(h, h + 1, (size_t)(n - 1));
            memmove(hs, hs + 1, (size_t)(n - 1));
            h[n - 1] = (uint8_t)on;
            hs[n - 1] = (uint8_t)sure;
        }
        mains_on[c] = (uint8_t)(run || run_sure);
        mains_first[c] = run ? set->mains_first : set->mains_sure_first;
        /* _learn_sd and the spike test's scale */
        const double pf_sd = ls->spike_rel * p_sd[c];
        sio_dsp_peak_step(&st->q_sd[c], &st->sd_set[c], teaches, in->sd_peak[c], l_sd[c],
                          ls->spike_own * in->sd_med[c], pf_sd, up, down);
        spike_mad[c] = sio_dsp_np_max(in->sd_med[c], pf_sd / ls->spike_own);
    }
    return 0;
}

/* numpy.maximum of two int64 */
static inline int64_t sio_dsp_imax(int64_t a, int64_t b)
{
    return a >= b ? a : b;
}

int sio_dsp_latch_hop(int64_t ch, int64_t g, int64_t start, int64_t on_n, int64_t off_n,
                      const uint8_t *cond, const uint8_t *was, const int64_t *first,
                      const int64_t *last, int64_t *lf, int64_t *lt, int64_t *onset,
                      int64_t *flag, uint8_t *active, uint8_t *turn_on, uint8_t *turn_off,
                      int64_t *clean)
{
    if (ch < 0 || (ch && (!cond || !was || !lf || !lt || !onset || !flag || !active ||
                          !turn_on || !turn_off || !clean)))
        return -1;
    const int64_t never = -(INT64_C(1) << 62); /* features._NEG */
    for (int64_t c = 0; c < ch; c++) {
        const int on = cond[c] != 0, before = was[c] != 0;
        /* the running maxima of _carried_max, one hop */
        const int64_t f = sio_dsp_imax(lf[c], on ? never : g);
        const int64_t t = sio_dsp_imax(lt[c], on ? g : never);
        const int64_t run = g - f, since = g - t;
        const int64_t last_set = sio_dsp_imax(before ? g - 1 : never, run >= on_n ? g : never);
        const int64_t last_rst = sio_dsp_imax(before ? never : g - 1, since >= off_n ? g : never);
        const int now = last_set > last_rst;
        const int64_t start_val = start + (first ? first[c] : 0);
        onset[c] = sio_dsp_imax(onset[c], on && run == 1 ? start_val : never);
        const int64_t flag_val = start + (last ? last[c] + 1 : 0);
        flag[c] = sio_dsp_imax(flag[c], on ? flag_val : never);
        lf[c] = f;
        lt[c] = t;
        active[c] = (uint8_t)now;
        turn_on[c] = (uint8_t)(now && !before);
        turn_off[c] = (uint8_t)(!now && before);
        clean[c] = since;
    }
    return 0;
}

int sio_dsp_mains_judge(int64_t ch, const sio_dsp_mains_set *set, const uint8_t *live,
                        const double *lhp, const double *pow_rest, const uint8_t *verdict,
                        const double *mains_ms, const double *total, double *q_rest,
                        uint8_t *out)
{
    if (ch < 0 || !set || (ch && (!live || !lhp || !pow_rest || !verdict || !mains_ms ||
                                  !total || !q_rest || !out)))
        return -1;
    const int alone_on = set->line_contrast >= set->alone_contrast;
    for (int64_t c = 0; c < ch; c++) {
        /* _mains_floor: mains_uv, or MAINS_FLOOR_K x the quiet level, squared */
        const double f = sio_dsp_np_min(set->mains_uv, set->floor_k * pow_rest[c]);
        int v = verdict[c] && mains_ms[c] > f * f;
        if (alone_on) { /* _hum_alone: nearly all hum, however low */
            const double hum = mains_ms[c] / set->line_contrast;
            v = v || (live[c] && hum > set->alone_share * total[c] && hum > set->alone_ms);
        }
        out[c] = (uint8_t)v;
        /* the quiet level (its 1st percentile) learns from the live hops */
        const double x = 0.5 * lhp[c], q = q_rest[c];
        if (live[c] && isfinite(x))
            q_rest[c] = q + (x < q ? -set->learn_up : set->learn_up99);
    }
    return 0;
}
