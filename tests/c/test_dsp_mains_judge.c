/* sio_dsp_mains_judge (csrc/sio_dsp.c): one hop of the mains test's floor
 * and verdict before the narrowband test, by hand on channels that each
 * take one rule (a projection's verdict above the floor, one under it, a
 * hum alone, a hum alone on a hop that is not live, a NaN quiet level),
 * the hum-alone arm off at a low contrast, and argument checks.
 * tests/test_dsp_native.py checks it against its numpy reference
 * (FaultDetector._mains_floor, _hum_alone) bit for bit. */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "sio_dsp.h"

#define N 5

int main(void)
{
    sio_dsp_mains_set set = {
        .mains_uv = 40.0, .floor_k = 2.0, .learn_up = 0.05, .learn_up99 = 0.05 / 99.0,
        .line_contrast = 0.75, .alone_contrast = 0.5, .alone_share = 0.8, .alone_ms = 1.0,
    };
    /* 0: a verdict above the floor (2 x 5 uV: 100); 1: a verdict under it;
     * 2: no verdict, nearly all hum; 3: the same, not live; 4: quiet level
     * not finite */
    const uint8_t live[N] = {1, 1, 1, 0, 1}, verdict[N] = {1, 1, 0, 0, 0};
    const double pow_rest[N] = {5.0, 5.0, 5.0, 5.0, 5.0};
    const double mains_ms[N] = {150.0, 90.0, 7.5, 7.5, 0.0}, total[N] = {1000.0, 1000.0, 10.0, 10.0, 0.0};
    double lhp[N];
    const double hp_ms[N] = {100.0, 1.0, 100.0, 100.0, 0.0};
    for (int c = 0; c < N; c++)
        lhp[c] = log10(hp_ms[c]);
    double q[N] = {0.5, 0.5, 0.5, 0.5, 0.5};
    uint8_t out[N];
    CHECK_EQ(sio_dsp_mains_judge(N, &set, live, lhp, pow_rest, verdict, mains_ms, total, q, out), 0);
    CHECK(out[0] == 1 && out[1] == 0 && out[2] == 1 && out[3] == 0 && out[4] == 0);
    /* the quiet level: up a 99th of a step above it (0.5 log10 100 = 1),
     * down a step below (0), not without a live hop or a finite figure */
    CHECK(q[0] == 0.5 + 0.05 / 99.0 && q[1] == 0.5 - 0.05 && q[2] == 0.5 + 0.05 / 99.0);
    CHECK(q[3] == 0.5 && q[4] == 0.5);
    /* a floor at mains_uv where the quiet level is loud: 2 x 30 -> 40, 1600 */
    const double loud[N] = {30.0, 30.0, 30.0, 30.0, 30.0}, big[N] = {1700.0, 1500.0, 0.0, 0.0, 0.0};
    const double all[N] = {1e4, 1e4, 10.0, 10.0, 0.0}; /* (far from a hum alone) */
    CHECK_EQ(sio_dsp_mains_judge(N, &set, live, lhp, loud, verdict, big, all, q, out), 0);
    CHECK(out[0] == 1 && out[1] == 0);
    /* the hum-alone arm off where the test cannot tell a line */
    set.line_contrast = 0.3;
    CHECK_EQ(sio_dsp_mains_judge(N, &set, live, lhp, pow_rest, verdict, mains_ms, total, q, out), 0);
    CHECK(out[0] == 1 && out[2] == 0);
    /* arguments */
    CHECK_EQ(sio_dsp_mains_judge(-1, &set, live, lhp, pow_rest, verdict, mains_ms, total, q, out), -1);
    CHECK_EQ(sio_dsp_mains_judge(N, NULL, live, lhp, pow_rest, verdict, mains_ms, total, q, out), -1);
    CHECK_EQ(sio_dsp_mains_judge(N, &set, NULL, lhp, pow_rest, verdict, mains_ms, total, q, out), -1);
    CHECK_EQ(sio_dsp_mains_judge(N, &set, live, NULL, pow_rest, verdict, mains_ms, total, q, out), -1);
    CHECK_EQ(sio_dsp_mains_judge(N, &set, live, lhp, NULL, verdict, mains_ms, total, q, out), -1);
    CHECK_EQ(sio_dsp_mains_judge(N, &set, live, lhp, pow_rest, NULL, mains_ms, total, q, out), -1);
    CHECK_EQ(sio_dsp_mains_judge(N, &set, live, lhp, pow_rest, verdict, NULL, total, q, out), -1);
    CHECK_EQ(sio_dsp_mains_judge(N, &set, live, lhp, pow_rest, verdict, mains_ms, NULL, q, out), -1);
    CHECK_EQ(sio_dsp_mains_judge(N, &set, live, lhp, pow_rest, verdict, mains_ms, total, NULL, out), -1);
    CHECK_EQ(sio_dsp_mains_judge(N, &set, live, lhp, pow_rest, verdict, mains_ms, total, q, NULL), -1);
    CHECK_EQ(sio_dsp_mains_judge(0, &set, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), 0);
    return check_report("test_dsp_mains_judge");
}
