/* Window features (csrc/sio_feat.c): values on signals whose answer is known,
 * windows read through strides, and argument checks. The values against the
 * numpy reference are checked in tests/test_control_features.py. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "sio_feat.h"

#define CH 2
#define ROWS 64
#define W 16

static double x[CH * ROWS];
static double out[8 * CH * SIO_FEAT_COUNT];
static double power[8 * CH * (W / 2 + 1)];
static const double thr0[CH] = {0.0, 0.0};
static const double thr_w[CH] = {10.0, 10.5};

static int near(double a, double b) { return fabs(a - b) <= 1e-12 * (1.0 + fabs(b)); }

int main(void)
{
    int32_t all[SIO_FEAT_COUNT];
    for (int f = 0; f < SIO_FEAT_COUNT; f++) {
        all[f] = f;
    }
    /* channel 0 alternates 0, 10, 0, 10 ...; channel 1 is constant 7 */
    for (int i = 0; i < ROWS; i++) {
        x[i] = (i % 2) ? 10.0 : 0.0;
        x[ROWS + i] = 7.0;
    }
    memset(power, 0, sizeof power);
    /* 4 windows of W every 8 rows */
    CHECK_EQ(sio_feat_windows(4, CH, W, x, 8, ROWS, thr0, thr0, thr_w, power, W / 2 + 1, 100.0, all,
                              SIO_FEAT_COUNT, out),
             0);
    for (int k = 0; k < 4; k++) {
        const double *a = out + (k * CH + 0) * SIO_FEAT_COUNT;
        const double *c = out + (k * CH + 1) * SIO_FEAT_COUNT;
        CHECK(near(a[SIO_FEAT_MAV], 5.0));
        CHECK(near(a[SIO_FEAT_WL], 10.0 * (W - 1)));
        CHECK(near(a[SIO_FEAT_ZC], 0.0)); /* never below zero */
        CHECK(near(a[SIO_FEAT_SSC], W - 2));
        CHECK(near(a[SIO_FEAT_WAMP], W - 1)); /* |d| = 10 >= 10 */
        CHECK(near(a[SIO_FEAT_RMS], sqrt(50.0)));
        CHECK(near(a[SIO_FEAT_LOGVAR], log(25.0 + 1e-12)));
        CHECK(a[SIO_FEAT_AR1] < -0.8); /* a period-2 series: x[t] ~ -x[t-1] */
        CHECK(near(c[SIO_FEAT_MAV], 7.0));
        CHECK(near(c[SIO_FEAT_WL], 0.0));
        CHECK(near(c[SIO_FEAT_WAMP], 0.0)); /* 10.5 uV threshold, no change */
        for (int f = SIO_FEAT_AR1; f <= SIO_FEAT_AR4; f++) {
            CHECK(c[f] == 0.0); /* flat: zeros, not NaN */
        }
        CHECK(c[SIO_FEAT_MNF] == 0.0 && c[SIO_FEAT_MDF] == 0.0); /* no power */
    }
    /* a periodogram with all its power in bin 3: both frequencies at 300 Hz */
    power[3] = 1.0;
    int32_t spec[2] = {SIO_FEAT_MNF, SIO_FEAT_MDF};
    CHECK_EQ(sio_feat_windows(1, 1, W, x, 0, ROWS, thr0, thr0, thr_w, power, W / 2 + 1, 100.0, spec, 2, out), 0);
    CHECK(near(out[0], 300.0));
    CHECK(near(out[1], 250.0)); /* half the power is reached half-way into bin 3 */
    /* argument checks: nothing written */
    out[0] = -1.0;
    CHECK_EQ(sio_feat_windows(1, CH, 5, x, 8, ROWS, thr0, thr0, thr_w, power, 3, 100.0, all, 1, out), -1);
    CHECK_EQ(sio_feat_windows(1, 0, W, x, 8, ROWS, thr0, thr0, thr_w, power, 9, 100.0, all, 1, out), -1);
    CHECK_EQ(sio_feat_windows(1, CH, W, NULL, 8, ROWS, thr0, thr0, thr_w, power, 9, 100.0, all, 1, out), -1);
    int32_t bad = SIO_FEAT_COUNT;
    CHECK_EQ(sio_feat_windows(1, CH, W, x, 8, ROWS, thr0, thr0, thr_w, power, 9, 100.0, &bad, 1, out), -1);
    CHECK_EQ(sio_feat_windows(1, CH, W, x, 8, ROWS, thr0, thr0, thr_w, NULL, 9, 100.0, spec, 2, out), -1);
    CHECK_EQ(sio_feat_windows(1, CH, W, x, 8, ROWS, thr0, thr0, thr_w, power, 8, 100.0, spec, 2, out), -1);
    CHECK_EQ(sio_feat_windows(1, CH, W, x, 8, ROWS, thr0, thr0, thr_w, power, 9, 100.0, all, 14, out), -1);
    CHECK(out[0] == -1.0);
    return check_report("test_feat");
}
