/* sio_env.h - moving RMS envelope over channel-major blocks (the kernel of
 * sensorio.dsp.filters.Envelope; its numpy path is the reference). */
#ifndef SIO_ENV_H
#define SIO_ENV_H

#include <stdint.h>

/* CFFI_BEGIN */
/* Carried state of a moving sum of squares over windows of w samples, per
 * channel (arrays of the caller, row-major, zero at the start). The stream is
 * cut into segments of w samples from its first sample; a window is a
 * suffix of the previous segment plus a prefix of the current one, so every
 * window sum is a sum of non-negative terms in a fixed order: no cancellation
 * after a loud stretch, and the same bits whatever the chunking. */
typedef struct {
    int64_t w;
    int64_t pos;    /* place of the next sample in its segment (w: the segment
                       is complete, its suffix sums are made with the next sample) */
    double *seg_sq; /* ch x w: squares of the current segment so far */
    double *seg_n;  /* ch x w: their validity (0/1) */
    double *suf_sq; /* ch x (w + 1): suffix sums of the previous segment */
    double *suf_n;  /* ch x (w + 1) */
    double *pre_sq; /* ch: prefix sums of the current segment */
    double *pre_n;  /* ch */
} sio_env_state;

/* Causal moving RMS over windows of st->w samples, leaving invalid samples
 * out. x and valid (NULL: all valid) hold ch channels of rows samples,
 * channel c's row r at [c * stride + r] (stride >= rows); consecutive calls
 * continue the stream. Per (c, r) at [c * rows + r]: out = sqrt(sum of valid squares / number of valid
 * samples) over the window ending at r, ok = 1 if it had a valid sample
 * (else out = NaN). Returns 0, or -1 if an argument is out of range. */
int sio_env_rms(sio_env_state *st, int64_t ch, int64_t rows, int64_t stride, const double *x,
                const uint8_t *valid, double *out, uint8_t *ok);
/* CFFI_END */

#endif
