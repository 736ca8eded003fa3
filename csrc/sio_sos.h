/* sio_sos.h - second-order-section filtering of several channels at once,
 * the same arithmetic as scipy.signal.sosfilt (direct form II transposed),
 * with the channels in lockstep so their serial filter chains overlap in the
 * CPU (scipy filters one channel after the other). */
#ifndef SIO_SOS_H
#define SIO_SOS_H

#include <stdint.h>

/* CFFI_BEGIN */
/* Filter x in place: ch channels of n samples, channel c's sample r at
 * [c * stride + r] (stride >= n); sos is n_sections x 6 (b0 b1 b2 a0 a1 a2,
 * a0 = 1), zi ch x n_sections x 2 and is updated, as scipy's
 * sosfilt(sos, x, axis=-1, zi=zi) along each row. Returns 0, or -1 if an
 * argument is out of range (n_sections 1..64). */
int sio_sos_filter(int64_t n_sections, const double *sos, int64_t ch, int64_t n, int64_t stride,
                   double *x, double *zi);
/* CFFI_END */

#endif
