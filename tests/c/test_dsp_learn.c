/* sio_dsp_learn_hop (csrc/sio_dsp.c): one hop of the fault detector's
 * learnt levels, by hand on channels that each take one rule (a quiet hop
 * teaching, a motion-like hop and an outlier peak that do not, figures that
 * are not finite, a peak level's first hop), a channel's first judged hop
 * leaving everything untouched, and argument checks. tests/test_dsp_native.py
 * checks it against its numpy reference (FaultDetector._learn) bit for bit. */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "sio_dsp.h"

#define N 4

static const sio_dsp_learn_set SET = {
    .motion_uv = 40.0, .motion_rel = 1.5, .motion_loud_rel = 2.5, .motion_share = 0.6,
    .motion_loud_share = 0.12, .spike_rel = 2.75, .spike_own = 10.0 * 1.4826, .floor_k = 10.0,
    .learn_up = 0.05, .learn_down = 0.05 / 9.0, .learn_rise = 0.3,
};

int main(void)
{
    /* 0: quiet, teaches; 1: motion-like, an outlier peak; 2: NaN band, zero
     * peak; 3: the peak level's first hop */
    const uint8_t usable[N] = {1, 1, 1, 1}, judged[N] = {1, 1, 1, 0}, rest_ok[N] = {1, 1, 1, 0};
    const uint8_t low_set[N] = {1, 1, 1, 1};
    const double low_ms[N] = {400.0, 900.0, NAN, 400.0}, share[N] = {0.1, 0.8, 0.1, 0.1};
    const double peak[N] = {50.0, 1000.0, 0.0, 5000.0}, mad[N] = {5.0, 5.0, 5.0, 1000.0};
    double llow[N], lpeak[N];
    for (int c = 0; c < N; c++) {
        llow[c] = 0.5 * log10(low_ms[c]);
        lpeak[c] = log10(peak[c]);
    }
    const double pow_low[N] = {10.0, 10.0, 10.0, 10.0}, pow_rest[N] = {1.0, 1.0, 1.0, 1.0};
    const double pow_peak[N] = {100.0, 100.0, 100.0, 100.0};
    double q_low[N] = {1.0, 1.0, 1.0, 1.0}, q_rest[N] = {0.0, 0.0, 0.0, 0.0};
    double q_peak[N] = {2.0, 2.0, 2.0, 2.0}, q_ref[N] = {1.5, 1.5, 1.5, 1.5};
    uint8_t peak_set[N] = {1, 1, 0, 0};
    double mfloor[N], peak_floor[N];
    CHECK_EQ(sio_dsp_learn_hop(N, &SET, usable, judged, rest_ok, low_set, low_ms, share, peak,
                               mad, llow, lpeak, pow_low, pow_rest, pow_peak, q_low, q_rest,
                               q_peak, q_ref, peak_set, mfloor, peak_floor),
             0);
    const double down = 0.05 / 9.0;
    for (int c = 0; c < N; c++) {
        CHECK(mfloor[c] == 100.0); /* min(40, 10 x 1) squared */
        CHECK(peak_floor[c] == 275.0);
    }
    /* 0: the band's level up a step, its rest up a ninth, the reference
     * follows the peak level, which steps down (its peak below it) */
    CHECK(q_low[0] == 1.0 + 0.05 && q_rest[0] == 0.0 + down && q_ref[0] == 2.0);
    CHECK(q_peak[0] == 2.0 - down && peak_set[0] == 1);
    /* 1: shaped like motion and an outlier peak: nothing learns */
    CHECK(q_low[1] == 1.0 && q_rest[1] == 0.0 && q_ref[1] == 1.5 && q_peak[1] == 2.0);
    /* 2: no finite figure: nothing learns, the peak level does not start */
    CHECK(q_low[2] == 1.0 && q_rest[2] == 0.0 && q_ref[2] == 1.5 && q_peak[2] == 2.0);
    CHECK_EQ(peak_set[2], 0);
    /* 3: not judged; the peak level starts at the hop's peak */
    CHECK(q_low[3] == 1.0 && q_rest[3] == 0.0 && q_ref[3] == 1.5);
    CHECK(q_peak[3] == lpeak[3] && peak_set[3] == 1);

    /* a channel's first judged hop (its band's level not set): nothing written */
    const uint8_t unset[N] = {1, 0, 1, 1};
    double before[N], out[N] = {-7.0, -7.0, -7.0, -7.0}, out2[N] = {-7.0, -7.0, -7.0, -7.0};
    for (int c = 0; c < N; c++)
        before[c] = q_low[c];
    CHECK_EQ(sio_dsp_learn_hop(N, &SET, usable, judged, rest_ok, unset, low_ms, share, peak, mad,
                               llow, lpeak, pow_low, pow_rest, pow_peak, q_low, q_rest, q_peak,
                               q_ref, peak_set, out, out2),
             1);
    for (int c = 0; c < N; c++)
        CHECK(q_low[c] == before[c] && out[c] == -7.0 && out2[c] == -7.0);

    /* arguments */
    CHECK_EQ(sio_dsp_learn_hop(-1, &SET, usable, judged, rest_ok, low_set, low_ms, share, peak,
                               mad, llow, lpeak, pow_low, pow_rest, pow_peak, q_low, q_rest,
                               q_peak, q_ref, peak_set, mfloor, peak_floor),
             -1);
    CHECK_EQ(sio_dsp_learn_hop(N, NULL, usable, judged, rest_ok, low_set, low_ms, share, peak,
                               mad, llow, lpeak, pow_low, pow_rest, pow_peak, q_low, q_rest,
                               q_peak, q_ref, peak_set, mfloor, peak_floor),
             -1);
    CHECK_EQ(sio_dsp_learn_hop(N, &SET, usable, judged, rest_ok, low_set, low_ms, share, peak,
                               mad, llow, lpeak, pow_low, pow_rest, pow_peak, q_low, q_rest,
                               q_peak, q_ref, peak_set, mfloor, NULL),
             -1);
    CHECK_EQ(sio_dsp_learn_hop(0, &SET, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
             0);
    return check_report("test_dsp_learn");
}
