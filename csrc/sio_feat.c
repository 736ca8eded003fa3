/* sio_feat.c - per-channel EMG features of sliding windows (see sio_feat.h). */
#include "sio_feat.h"

#include <math.h>
#include <stddef.h>

#define AR_ORDER 4
#define LOGVAR_FLOOR 1e-12

/* Yule-Walker AR coefficients from the autocorrelation r[0..AR_ORDER] by
 * Levinson-Durbin; zeros for a flat (or NaN) series. */
static void ar_levinson(const double *r, double *a)
{
    double prev[AR_ORDER];
    for (int m = 0; m < AR_ORDER; m++) {
        a[m] = 0.0;
    }
    if (!(r[0] > 0.0)) {
        return;
    }
    double err = r[0];
    for (int m = 0; m < AR_ORDER; m++) {
        double acc = r[m + 1];
        for (int j = 0; j < m; j++) {
            acc -= a[j] * r[m - j];
        }
        double k = acc / err;
        for (int j = 0; j < m; j++) {
            prev[j] = a[j];
        }
        for (int j = 0; j < m; j++) {
            a[j] = prev[j] - k * prev[m - 1 - j];
        }
        a[m] = k;
        err *= 1.0 - k * k;
    }
}

/* Mean and median frequency of one periodogram (0 without power). */
static void spectral(const double *p, int64_t n_bins, double bin_hz, double *mnf, double *mdf)
{
    double total = 0.0, moment = 0.0;
    for (int64_t j = 0; j < n_bins; j++) {
        total += p[j];
        moment += p[j] * ((double)j * bin_hz);
    }
    *mnf = 0.0;
    *mdf = 0.0;
    if (!(total > 0.0)) {
        return;
    }
    *mnf = moment / total;
    double half = total / 2.0, cum = 0.0, below = 0.0;
    for (int64_t j = 0; j < n_bins; j++) {
        below = cum;
        cum += p[j];
        if (cum >= half) {
            double f_lo = j ? (double)(j - 1) * bin_hz : 0.0;
            double f_hi = (double)j * bin_hz;
            double step = cum - below;
            double frac = step > 0.0 ? (half - below) / step : 0.0;
            *mdf = f_lo + frac * (f_hi - f_lo);
            return;
        }
    }
}

int sio_feat_windows(int64_t n_win, int64_t ch, int64_t w, const double *x, int64_t win_stride,
                     int64_t ch_stride, const double *thr_zc, const double *thr_ssc,
                     const double *thr_wamp, const double *power, int64_t n_bins, double bin_hz,
                     const int32_t *which, int64_t n_feat, double *out)
{
    int spectral_wanted = 0;
    if (n_win < 0 || ch < 1 || w < AR_ORDER + 2 || x == NULL || win_stride < 0 || ch_stride < 0
        || thr_zc == NULL || thr_ssc == NULL || thr_wamp == NULL || which == NULL || n_feat < 1
        || n_feat > SIO_FEAT_COUNT || out == NULL) {
        return -1;
    }
    for (int64_t f = 0; f < n_feat; f++) {
        if (which[f] < 0 || which[f] >= SIO_FEAT_COUNT) {
            return -1;
        }
        if (which[f] == SIO_FEAT_MNF || which[f] == SIO_FEAT_MDF) {
            spectral_wanted = 1;
        }
    }
    if (spectral_wanted && (power == NULL || n_bins != w / 2 + 1)) {
        return -1;
    }
    for (int64_t k = 0; k < n_win; k++) {
        for (int64_t c = 0; c < ch; c++) {
            const double *s = x + k * win_stride + c * ch_stride;
            double tz = thr_zc[c], ts = thr_ssc[c], tw = thr_wamp[c];
            double ts2 = ts * ts;
            double sum = 0.0, sum_abs = 0.0, sum_sq = 0.0, wl = 0.0;
            int64_t zc = 0, ssc = 0, wamp = 0;
            for (int64_t i = 0; i < w; i++) {
                double v = s[i];
                sum += v;
                sum_abs += fabs(v);
                sum_sq += v * v;
            }
            for (int64_t i = 0; i + 1 < w; i++) {
                double ad = fabs(s[i + 1] - s[i]);
                wl += ad;
                zc += (s[i] * s[i + 1] < 0.0) & (ad >= tz);
                wamp += ad >= tw;
            }
            for (int64_t i = 1; i + 1 < w; i++) {
                double prod = (s[i] - s[i - 1]) * (s[i] - s[i + 1]);
                ssc += (prod > 0.0) & (prod >= ts2);
            }
            double mean = sum / (double)w;
            /* autocorrelation of the mean-removed window, lags 0..AR_ORDER */
            double r[AR_ORDER + 1] = {0.0, 0.0, 0.0, 0.0, 0.0};
            for (int64_t i = 0; i < AR_ORDER; i++) {
                double v = s[i] - mean;
                for (int64_t j = 0; j <= i; j++) {
                    r[j] += v * (s[i - j] - mean);
                }
            }
            double c1 = s[3] - mean, c2 = s[2] - mean, c3 = s[1] - mean, c4 = s[0] - mean;
            for (int64_t i = AR_ORDER; i < w; i++) {
                double c0 = s[i] - mean;
                r[0] += c0 * c0;
                r[1] += c0 * c1;
                r[2] += c0 * c2;
                r[3] += c0 * c3;
                r[4] += c0 * c4;
                c4 = c3;
                c3 = c2;
                c2 = c1;
                c1 = c0;
            }
            double a[AR_ORDER];
            ar_levinson(r, a);
            double mnf = 0.0, mdf = 0.0;
            if (spectral_wanted) {
                spectral(power + (k * ch + c) * n_bins, n_bins, bin_hz, &mnf, &mdf);
            }
            double *o = out + (k * ch + c) * n_feat;
            for (int64_t f = 0; f < n_feat; f++) {
                double value = 0.0;
                switch (which[f]) {
                case SIO_FEAT_MAV: value = sum_abs / (double)w; break;
                case SIO_FEAT_WL: value = wl; break;
                case SIO_FEAT_ZC: value = (double)zc; break;
                case SIO_FEAT_SSC: value = (double)ssc; break;
                case SIO_FEAT_RMS: value = sqrt(sum_sq / (double)w); break;
                case SIO_FEAT_LOGVAR: value = log(r[0] / (double)w + LOGVAR_FLOOR); break;
                case SIO_FEAT_WAMP: value = (double)wamp; break;
                case SIO_FEAT_AR1: value = a[0]; break;
                case SIO_FEAT_AR2: value = a[1]; break;
                case SIO_FEAT_AR3: value = a[2]; break;
                case SIO_FEAT_AR4: value = a[3]; break;
                case SIO_FEAT_MNF: value = mnf; break;
                default: value = mdf; break;
                }
                o[f] = value;
            }
        }
    }
    return 0;
}
