/* sio_drift.h - the drift monitor's per-window bookkeeping (the kernel of
 * sensorio.dsp.drift.DriftMonitor; its numpy path is the reference, and
 * each function gives the same bits as it). */
#ifndef SIO_DRIFT_H
#define SIO_DRIFT_H

#include <stdint.h>

/* CFFI_BEGIN */
/* A window's end, per channel of ch, as DriftMonitor._window_done's numpy
 * code: rms = sqrt(acc_hp2 / max(acc_n, 1)) where acc_n >= half_win, else
 * NaN; mean = base_sum / max(base_n, 1) where base_n >= half_win, else NaN:
 * the window's baseline, written into the history too. hist: the last
 * n_hist (>= 1) windows' baselines, oldest first from row head of a ring of
 * cap rows of ch (row r at [((head + r) % cap) * ch]), one every window_s s,
 * NaN where a window had too few samples; its row n_hist - 1 is this
 * window's (the caller has moved head and n_hist on for it). With a code
 * range (has_range; lo, hi its rails, margin_span = margin x (hi - lo)):
 * near = the baseline within margin_span of a rail, or (with n_hist >= 3)
 * its least-squares line over the history reaching a rail within horizon
 * s, where base_n >= half_win; without one, near = 0. eta (NULL: not
 * wanted): the seconds the line takes to a rail, per channel (inf when
 * the line is flat or undefined, NaN without the line's test). Sums run over the windows oldest
 * first from 0.0, as numpy's along its first axis. Returns 0, or -1 if an
 * argument is out of range. */
int sio_drift_window(int64_t ch, double half_win, const double *acc_hp2, const double *acc_n,
                     const double *base_sum, const double *base_n, int has_range, double lo,
                     double hi, double margin_span, double *hist, int64_t cap, int64_t head,
                     int64_t n_hist, double window_s, double horizon, double *rms, double *mean,
                     uint8_t *near, double *eta);
/* CFFI_END */

#endif
