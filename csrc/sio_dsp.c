/* sio_dsp.c - per-sample front end of the dsp fault detector (see sio_dsp.h
 * and the numpy reference, FaultDetector._front_numpy in faults.py). */
#include "sio_dsp.h"

#define SIO_DSP_MAX_SECTIONS 16
/* invalid_run at or above this: the channel was never valid */
#define SIO_DSP_NEVER (INT64_MAX / 4)

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

int sio_dsp_front_run(sio_dsp_front *st, int64_t n, int64_t ch, int64_t stride, int64_t start,
                      const double *x, const uint8_t *valid, const int32_t *codes,
                      const uint64_t *leadoff, uint8_t *hard_ok, uint8_t *rail,
                      uint8_t *lead, uint8_t *blank, uint8_t *settle, uint8_t *spiky,
                      uint8_t *zero, double *hp, double *low)
{
    if (!st || n < 0 || ch < 0 || ch > 64 || stride < n || (n && (!x || !valid)))
        return -1;
    if (st->hp.n_sections < 1 || st->hp.n_sections > SIO_DSP_MAX_SECTIONS ||
        st->low.n_sections < 1 || st->low.n_sections > SIO_DSP_MAX_SECTIONS ||
        st->hp.reprime < 1 || st->low.reprime < 1)
        return -1;
    for (int64_t c = 0; c < ch; c++) {
        const int64_t row0 = c * stride;
        uint8_t *ok = hard_ok + row0;
        uint8_t *rl = rail + row0, *lo = lead + row0, *bl = blank + row0;
        uint8_t *se = settle + row0, *sp = spiky + row0, *ze = zero + row0;
        double *h = hp + row0, *l = low + row0;
        const double *xc = x + row0;
        const uint64_t bit = (uint64_t)1 << c;
        int64_t prev_code = st->prev_code[c], same_run = st->same_run[c];
        int64_t bad_run = st->bad_run[c], last_restart = st->last_restart[c];
        int64_t last_rail = st->last_rail[c], last_spiky = st->last_spiky[c];
        double ema = st->ema_last[c];
        /* flags first: the hold look-ahead of a never-valid channel needs them */
        for (int64_t r = 0; r < n; r++) {
            const int64_t i = row0 + r;
            int is_rail = 0;
            int is_ok = valid[i] != 0;
            if (codes) {
                const int32_t code = codes[i];
                if (st->has_range)
                    is_rail = code <= st->code_lo || code >= st->code_hi;
                same_run = (int64_t)code == prev_code ? same_run + 1 : 0;
                prev_code = code;
                ze[r] = st->has_zero && code == st->code_zero;
            } else {
                ze[r] = 0;
            }
            const int is_lead = leadoff ? (leadoff[r] & bit) != 0 : 0;
            is_ok = is_ok && !is_rail && !is_lead;
            if (codes && same_run >= st->stuck_run)
                is_ok = 0;
            rl[r] = (uint8_t)is_rail;
            lo[r] = (uint8_t)is_lead;
            ok[r] = (uint8_t)is_ok;
            const int64_t idx = start + r;
            if (is_ok) {
                if (bad_run >= st->restart)
                    last_restart = idx;
                bad_run = 0;
            } else {
                bad_run += 1;
            }
            se[r] = (idx - last_restart) < st->settle;
            if (is_rail)
                last_rail = idx;
            bl[r] = !is_rail && (idx - last_rail) <= st->blank;
        }
        /* the 20 Hz high-pass, the running mean of |hp| and its spikes */
        sio_dsp_sos_preset(&st->hp, c, n, xc, ok);
        {
            double *zi = st->hp.zi + c * 2 * st->hp.n_sections;
            double held = st->hp.held[c];
            int64_t inv = st->hp.invalid_run[c];
            for (int64_t r = 0; r < n; r++) {
                const double y = sio_dsp_sos_step(&st->hp, zi, &held, &inv, xc[r], ok[r]);
                h[r] = y;
                const double a = y < 0 ? -y : y;
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
        /* the 1-20 Hz band, without spikes */
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
                l[r] = sio_dsp_sos_step(&st->low, zi, &held, &inv, xc[r],
                                        ok[r] && !sp[r]);
            st->low.held[c] = held;
            st->low.invalid_run[c] = inv;
        }
        st->prev_code[c] = prev_code;
        st->same_run[c] = same_run;
        st->bad_run[c] = bad_run;
        st->last_restart[c] = last_restart;
        st->last_rail[c] = last_rail;
        st->last_spiky[c] = last_spiky;
        st->ema_last[c] = ema;
    }
    return 0;
}

/* The element of rank k of a[0..n) (a is reordered): Hoare's selection. */
static double sio_dsp_select(double *a, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        const double pivot = a[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                const double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return a[k];
}

int sio_dsp_hop_features(int64_t ch, int64_t m, int64_t L, int64_t stride, const double *data,
                         const double *hp, const double *low, const int32_t *codes,
                         double *scratch, double *var, double *mad, double *hp_ms,
                         double *low_ms, double *hf_ms, uint8_t *same_code)
{
    if (ch < 0 || m < 0 || L < 4 || stride < m * L || !data || !hp || !low || !scratch)
        return -1;
    for (int64_t c = 0; c < ch; c++) {
        for (int64_t j = 0; j < m; j++) {
            const int64_t at = c * stride + j * L, out = c * m + j;
            const double *x = data + at, *h = hp + at, *l = low + at;
            double sum = 0.0;
            for (int64_t i = 0; i < L; i++)
                sum += x[i];
            const double mean = sum / (double)L;
            double ss = 0.0, hh = 0.0, ll = 0.0, d3 = 0.0;
            for (int64_t i = 0; i < L; i++) {
                const double d = x[i] - mean;
                ss += d * d;
                hh += h[i] * h[i];
                ll += l[i] * l[i];
                scratch[i] = h[i] < 0 ? -h[i] : h[i];
            }
            for (int64_t i = 0; i + 3 < L; i++) {
                /* as numpy.diff(hp, 3): differences of differences */
                const double a1 = h[i + 1] - h[i], b1 = h[i + 2] - h[i + 1];
                const double c1 = h[i + 3] - h[i + 2];
                const double e = (c1 - b1) - (b1 - a1);
                d3 += e * e;
            }
            var[out] = ss / (double)L;
            hp_ms[out] = hh / (double)L;
            low_ms[out] = ll / (double)L;
            hf_ms[out] = d3 / (20.0 * (double)(L - 3));
            mad[out] = sio_dsp_select(scratch, L, L / 2);
            if (same_code) {
                const int32_t *k = codes + at;
                uint8_t same = 1;
                for (int64_t i = 1; i < L && same; i++)
                    same = k[i] == k[0];
                same_code[out] = same;
            }
        }
    }
    return 0;
}

#define SIO_DSP_MAX_FREQS 16

int sio_dsp_mains(int64_t ch, int64_t m, int64_t L, int64_t stride, const double *hp,
                  const double *prev, const double *basis, int64_t k, int64_t split,
                  double *best, double *total)
{
    if (ch < 0 || m < 0 || L < 1 || stride < m * L || k < 0 || k > SIO_DSP_MAX_FREQS ||
        split < 0 || split > k || !hp || !prev || !basis || !best || !total)
        return -1;
    for (int64_t c = 0; c < ch; c++) {
        for (int64_t j = 0; j < m; j++) {
            const double *halves[2] = {j == 0 ? prev + c * L : hp + c * stride + (j - 1) * L,
                                       hp + c * stride + j * L};
            double proj[2 * SIO_DSP_MAX_FREQS] = {0};
            double ss = 0.0;
            for (int half = 0; half < 2; half++) {
                const double *x = halves[half];
                for (int64_t i = 0; i < L; i++) {
                    const double v = x[i];
                    const double *b = basis + (half * L + i) * 2 * k;
                    ss += v * v;
                    for (int64_t f = 0; f < 2 * k; f++)
                        proj[f] += v * b[f];
                }
            }
            double fam[2] = {0.0, 0.0};
            for (int64_t f = 0; f < k; f++)
                fam[f >= split] += proj[f] * proj[f] + proj[k + f] * proj[k + f];
            best[c * m + j] = fam[0] > fam[1] ? fam[0] : fam[1];
            total[c * m + j] = ss / (double)(2 * L);
        }
    }
    return 0;
}
