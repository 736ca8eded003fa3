/* sio_drift.c - the drift monitor's per-window bookkeeping (see
 * sio_drift.h). Every figure takes numpy's operations in numpy's order (no
 * contraction into fused multiply-adds: C11 mode), so the bits are its. */
#include "sio_drift.h"

#include <math.h>

/* numpy.maximum(v, 1.0) of a count (never NaN) */
static inline double sio_drift_at_least_1(double v)
{
    return v > 1.0 ? v : 1.0;
}

int sio_drift_window(int64_t ch, double half_win, const double *acc_hp2, const double *acc_n,
                     const double *base_sum, const double *base_n, int has_range, double lo,
                     double hi, double margin_span, double *hist, int64_t cap, int64_t head,
                     int64_t n_hist, double window_s, double horizon, double *rms, double *mean,
                     uint8_t *near, double *eta)
{
    if (ch < 0 || cap < 1 || head < 0 || head >= cap || n_hist < 1 || n_hist > cap || !hist ||
        (ch && (!acc_hp2 || !acc_n || !base_sum || !base_n || !rms || !mean || !near)))
        return -1;
    const int64_t slot = (head + n_hist - 1) % cap;
    const int trend = has_range && n_hist >= 3;
    for (int64_t c = 0; c < ch; c++) {
        rms[c] = acc_n[c] >= half_win ? sqrt(acc_hp2[c] / sio_drift_at_least_1(acc_n[c])) : NAN;
        const int ok = base_n[c] >= half_win;
        const double m = ok ? base_sum[c] / sio_drift_at_least_1(base_n[c]) : NAN;
        mean[c] = m;
        hist[slot * ch + c] = m;
        int is_near = has_range && ((m - lo < margin_span) | (hi - m < margin_span));
        double when = NAN;
        if (trend) {
            /* the least-squares slope over the windows where the baseline is
             * finite, as the numpy code: sums of where(finite, ., 0) terms
             * (the ring's rows by a wrapping index: a division per row cost
             * more than the rest) */
            int64_t cnt = 0;
            double tm = 0.0, ys = 0.0;
            for (int64_t r = 0, row = head; r < n_hist; r++, row = row + 1 == cap ? 0 : row + 1) {
                const double y = hist[row * ch + c];
                const int fin = isfinite(y) != 0;
                cnt += fin;
                tm += fin ? (double)r * window_s : 0.0;
                ys += fin ? y : 0.0;
            }
            const double t_mean = tm / (double)cnt, y_mean = ys / (double)cnt;
            double num = 0.0, den = 0.0;
            for (int64_t r = 0, row = head; r < n_hist; r++, row = row + 1 == cap ? 0 : row + 1) {
                const double y = hist[row * ch + c];
                const int fin = isfinite(y) != 0;
                const double dt = fin ? (double)r * window_s - t_mean : 0.0;
                num += dt * ((fin ? y : 0.0) - y_mean);
                den += dt * dt;
            }
            const double slope = num / den;
            const double last = isfinite(m) ? m : y_mean;
            when = slope > 0 ? (hi - last) / slope : (slope < 0 ? (lo - last) / slope : INFINITY);
            is_near |= (cnt >= 3) & (isfinite(slope) != 0) & (when < horizon);
        }
        near[c] = (uint8_t)(is_near && ok); /* (near &= ok) */
        if (eta)
            eta[c] = when;
    }
    return 0;
}
