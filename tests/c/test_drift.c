/* sio_drift_window (csrc/sio_drift.c): one window's end by hand on
 * channels that each take one rule (a straight walk to the top rail, the
 * same with a window missing, a flat baseline, one within the margin of
 * the bottom rail, a window with too few samples), the history's ring
 * wrapped or not, no code range, too short a history, and argument checks.
 * tests/test_dsp_drift_native.py checks it against its numpy reference
 * (DriftMonitor._window_numpy) bit for bit, window after window. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "sio_drift.h"

#define CH 5
#define N_HIST 5
#define CAP 7

/* hist: N_HIST - 1 earlier baselines per channel (the window's own comes
 * from the sums), laid into a ring of CAP rows from row head */
static int run(int64_t head, int has_range, int64_t n_hist, double horizon, double *rms,
               double *mean, uint8_t *near, double *eta, double *ring)
{
    static const double before[N_HIST - 1][CH] = {
        {1000.0, 1000.0, 50.0, -9000.0, 0.0},
        {1500.0, NAN, 50.0, -9000.0, 0.0},
        {2000.0, 2000.0, 50.0, -9000.0, 0.0},
        {2500.0, 2500.0, 50.0, -9000.0, 0.0},
    };
    for (int64_t r = 0; r < CAP * CH; r++)
        ring[r] = -12345.0; /* rows outside the history: never read */
    for (int64_t r = 0; r < n_hist - 1; r++)
        memcpy(ring + ((head + r) % CAP) * CH, before[N_HIST - n_hist + r], sizeof before[0]);
    /* the window: 1000 samples each (half: 500), the last baseline 3000 */
    const double acc_hp2[CH] = {4000.0, 4000.0, 4000.0, 4000.0, 4000.0};
    const double acc_n[CH] = {1000.0, 1000.0, 1000.0, 1000.0, 100.0};
    const double base_sum[CH] = {3.0e6, 3.0e6, 5.0e4, -9.5e6, 1.0e5};
    const double base_n[CH] = {1000.0, 1000.0, 1000.0, 1000.0, 100.0};
    return sio_drift_window(CH, 500.0, acc_hp2, acc_n, base_sum, base_n, has_range, -10000.0,
                            10000.0, 2000.0, ring, CAP, head, n_hist, 1.0, horizon, rms, mean, near,
                            eta);
}

int main(void)
{
    double rms[CH], mean[CH], eta[CH], ring[CAP * CH];
    uint8_t near[CH];
    CHECK_EQ(run(0, 1, N_HIST, 30.0, rms, mean, near, eta, ring), 0);
    /* rms sqrt(4000 / 1000) = 2; NaN with too few samples */
    CHECK(rms[0] == 2.0 && rms[3] == 2.0 && isnan(rms[4]));
    CHECK(mean[0] == 3000.0 && mean[2] == 50.0 && mean[3] == -9500.0 && isnan(mean[4]));
    CHECK(ring[(N_HIST - 1) * CH] == 3000.0 && isnan(ring[(N_HIST - 1) * CH + 4]));
    /* 0: 500 a window from 3000 to 10000: 14 s, under 30 s */
    CHECK(eta[0] == 14.0 && near[0] == 1);
    /* 1: the same line without its second window (4 windows of 5) */
    CHECK(eta[1] == 14.0 && near[1] == 1);
    /* 2: flat: never (inf), not near; 3: within 2000 of the bottom rail */
    CHECK(isinf(eta[2]) && eta[2] > 0 && near[2] == 0);
    CHECK(near[3] == 1);
    /* 4: too few samples sent: no baseline, never near */
    CHECK(near[4] == 0);
    /* a shorter horizon: the walk is not near yet */
    CHECK_EQ(run(0, 1, N_HIST, 10.0, rms, mean, near, eta, ring), 0);
    CHECK(near[0] == 0 && near[1] == 0 && near[3] == 1);

    /* the history wrapped round the ring: the same bits */
    double rms2[CH], mean2[CH], eta2[CH], ring2[CAP * CH];
    uint8_t near2[CH];
    CHECK_EQ(run(0, 1, N_HIST, 30.0, rms, mean, near, eta, ring), 0);
    CHECK_EQ(run(4, 1, N_HIST, 30.0, rms2, mean2, near2, eta2, ring2), 0);
    CHECK(memcmp(eta, eta2, sizeof eta) == 0 && memcmp(near, near2, sizeof near) == 0);
    CHECK(memcmp(mean, mean2, sizeof mean) == 0);
    CHECK(ring2[((4 + N_HIST - 1) % CAP) * CH] == 3000.0);

    /* no code range: nothing near, no line; a history of 2: no line */
    CHECK_EQ(run(2, 0, N_HIST, 30.0, rms, mean, near, eta, ring), 0);
    CHECK(near[0] == 0 && near[3] == 0 && isnan(eta[0]) && mean[0] == 3000.0);
    CHECK_EQ(run(2, 1, 2, 30.0, rms, mean, near, NULL, ring), 0);
    CHECK(near[0] == 0 && near[3] == 1);
    CHECK_EQ(run(2, 1, 2, 30.0, rms, mean, near, eta, ring), 0);
    CHECK(isnan(eta[0]));

    /* argument checks */
    const double one[1] = {1.0};
    double o1[1], o2[1];
    uint8_t n1[1];
    CHECK_EQ(sio_drift_window(-1, 1, one, one, one, one, 1, 0, 1, 0, ring, CAP, 0, 1, 1, 1, o1,
                              o2, n1, NULL),
             -1);
    CHECK_EQ(sio_drift_window(1, 1, one, one, one, one, 1, 0, 1, 0, ring, 0, 0, 1, 1, 1, o1, o2,
                              n1, NULL),
             -1);
    CHECK_EQ(sio_drift_window(1, 1, one, one, one, one, 1, 0, 1, 0, ring, CAP, CAP, 1, 1, 1, o1,
                              o2, n1, NULL),
             -1);
    CHECK_EQ(sio_drift_window(1, 1, one, one, one, one, 1, 0, 1, 0, ring, CAP, 0, CAP + 1, 1, 1,
                              o1, o2, n1, NULL),
             -1);
    CHECK_EQ(sio_drift_window(1, 1, one, one, one, one, 1, 0, 1, 0, ring, CAP, 0, 0, 1, 1, o1, o2,
                              n1, NULL),
             -1);
    CHECK_EQ(sio_drift_window(1, 1, one, one, one, one, 1, 0, 1, 0, NULL, CAP, 0, 1, 1, 1, o1, o2,
                              n1, NULL),
             -1);
    CHECK_EQ(sio_drift_window(1, 1, NULL, one, one, one, 1, 0, 1, 0, ring, CAP, 0, 1, 1, 1, o1, o2,
                              n1, NULL),
             -1);
    CHECK_EQ(sio_drift_window(1, 1, one, one, one, one, 1, 0, 1, 0, ring, CAP, 0, 1, 1, 1, o1, o2,
                              NULL, NULL),
             -1);
    CHECK_EQ(sio_drift_window(0, 1, NULL, NULL, NULL, NULL, 1, 0, 1, 0, ring, CAP, 0, 1, 1, 1,
                              NULL, NULL, NULL, NULL),
             0);
    return check_report("test_drift");
}
