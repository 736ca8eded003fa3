/* sio_feat.h - per-channel EMG features of sliding windows (the kernel of
 * sensorio.control.features.FeatureExtractor; reference_features, plain
 * numpy, is the reference it is tested against). */
#ifndef SIO_FEAT_H
#define SIO_FEAT_H

#include <stdint.h>

/* CFFI_BEGIN */
/* Feature codes, in the order of sensorio.control.features.FEATURES. */
enum {
    SIO_FEAT_MAV = 0,
    SIO_FEAT_WL = 1,
    SIO_FEAT_ZC = 2,
    SIO_FEAT_SSC = 3,
    SIO_FEAT_RMS = 4,
    SIO_FEAT_LOGVAR = 5,
    SIO_FEAT_WAMP = 6,
    SIO_FEAT_AR1 = 7,
    SIO_FEAT_AR2 = 8,
    SIO_FEAT_AR3 = 9,
    SIO_FEAT_AR4 = 10,
    SIO_FEAT_MNF = 11,
    SIO_FEAT_MDF = 12,
    SIO_FEAT_COUNT = 13
};

/* Features of n_win windows of w samples on ch channels. Sample i of window
 * k on channel c is x[k * win_stride + c * ch_stride + i]. thr_zc, thr_ssc,
 * thr_wamp: per-channel thresholds (ch each; ssc compares the product of the
 * two slopes with thr_ssc squared). power: the periodogram of each
 * mean-removed window, n_bins = w / 2 + 1 values per (k, c) at
 * [(k * ch + c) * n_bins + j], bin j at j * bin_hz; NULL when no spectral
 * feature is asked for. which: n_feat feature codes, the order of the
 * output; out[(k * ch + c) * n_feat + f]. Returns 0, or -1 if an argument
 * is out of range (nothing written). */
int sio_feat_windows(int64_t n_win, int64_t ch, int64_t w, const double *x, int64_t win_stride,
                     int64_t ch_stride, const double *thr_zc, const double *thr_ssc,
                     const double *thr_wamp, const double *power, int64_t n_bins, double bin_hz,
                     const int32_t *which, int64_t n_feat, double *out);
/* CFFI_END */

#endif
