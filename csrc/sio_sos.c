/* sio_sos.c - lockstep second-order sections (see sio_sos.h). */
#include "sio_sos.h"

#define SIO_SOS_MAX_SECTIONS 64
#define SIO_SOS_LANES 4

/* `lanes` channels (1..SIO_SOS_LANES) starting at x, side by side (inlined
 * with a constant lane count for full groups, so the state stays in registers). */
static inline void sio_sos_lanes(int64_t n_sections, const double *sos, int lanes, int64_t n,
                          int64_t stride, double *x, double *zi)
{
    double z[SIO_SOS_MAX_SECTIONS][SIO_SOS_LANES][2];
    for (int64_t s = 0; s < n_sections; s++)
        for (int k = 0; k < lanes; k++) {
            z[s][k][0] = zi[(k * n_sections + s) * 2];
            z[s][k][1] = zi[(k * n_sections + s) * 2 + 1];
        }
    for (int64_t r = 0; r < n; r++) {
        double v[SIO_SOS_LANES];
        for (int k = 0; k < lanes; k++)
            v[k] = x[k * stride + r];
        for (int64_t s = 0; s < n_sections; s++) {
            const double *c = sos + 6 * s;
            for (int k = 0; k < lanes; k++) {
                /* scipy's order of operations, so the results are its own */
                const double y = c[0] * v[k] + z[s][k][0];
                z[s][k][0] = c[1] * v[k] - c[4] * y + z[s][k][1];
                z[s][k][1] = c[2] * v[k] - c[5] * y;
                v[k] = y;
            }
        }
        for (int k = 0; k < lanes; k++)
            x[k * stride + r] = v[k];
    }
    for (int64_t s = 0; s < n_sections; s++)
        for (int k = 0; k < lanes; k++) {
            zi[(k * n_sections + s) * 2] = z[s][k][0];
            zi[(k * n_sections + s) * 2 + 1] = z[s][k][1];
        }
}

int sio_sos_filter(int64_t n_sections, const double *sos, int64_t ch, int64_t n, int64_t stride,
                   double *x, double *zi)
{
    if (n_sections < 1 || n_sections > SIO_SOS_MAX_SECTIONS || ch < 0 || n < 0 || stride < n ||
        !sos || (ch && !zi) || (ch && n && !x))
        return -1;
    for (int64_t c = 0; c < ch; c += SIO_SOS_LANES) {
        double *xc = x + c * stride, *zc = zi + c * n_sections * 2;
        if (ch - c >= SIO_SOS_LANES)
            sio_sos_lanes(n_sections, sos, SIO_SOS_LANES, n, stride, xc, zc);
        else
            sio_sos_lanes(n_sections, sos, (int)(ch - c), n, stride, xc, zc);
    }
    return 0;
}
