/* sio_dsp_hop_mask (csrc/sio_dsp.c): the output mask and the spike test of
 * whole hops, worked out by hand on two channels of two hops: a deviation
 * from the median exactly at the threshold is not a spike (the test is
 * |x - med| > t, as FaultDetector._spike_test's), the next double above it
 * is; a hop is masked by its own condition, the next hop's or an active
 * kind; a blocked hop tests nothing; rails, blanking and lead-off mask
 * their samples when asked; and the argument checks. Exact-size buffers,
 * so the sanitizers see any access past them. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sio_dsp.h"

enum { CH = 2, HOPS = 2, L = 4, ROWS = HOPS * L, STRIDE = ROWS + 2 };

struct inputs {
    int64_t lens[HOPS];
    uint8_t valid[CH * STRIDE], rail[CH * STRIDE], blank[CH * STRIDE], lead[CH * STRIDE];
    uint8_t hard_ok[CH * STRIDE];
    double sd[CH * STRIDE];
    uint8_t cond[HOPS * CH], active[HOPS * CH], blocked[HOPS * CH];
    double mad[HOPS * CH], med[HOPS * CH], prev_mad[CH];
};

struct outputs {
    double thr[HOPS * CH];
    uint8_t hop_bad[HOPS * CH], valid_out[ROWS * CH], hit[CH * ROWS];
    int64_t n_invalid;
};

/* every sample valid, usable and quiet; MADs small enough that the
 * threshold is spike_min (50) */
static void quiet(struct inputs *in)
{
    memset(in, 0, sizeof *in);
    for (int j = 0; j < HOPS; j++)
        in->lens[j] = L;
    memset(in->valid, 1, sizeof in->valid);
    memset(in->hard_ok, 1, sizeof in->hard_ok);
    for (int i = 0; i < HOPS * CH; i++)
        in->mad[i] = 1.0;
    for (int c = 0; c < CH; c++)
        in->prev_mad[c] = 1.0;
}

static int64_t run(const struct inputs *in, struct outputs *out, int with_med, int mask_rail,
                   int mask_blank, int mask_lead)
{
    memset(out, 0xAB, sizeof *out);
    return sio_dsp_hop_mask(CH, HOPS, in->lens, STRIDE, in->valid, in->rail, in->blank,
                            in->lead, in->hard_ok, in->sd, in->cond, HOPS, in->active, in->mad,
                            HOPS, in->prev_mad, with_med ? in->med : NULL, in->blocked, 5.0,
                            50.0, mask_rail, mask_blank, mask_lead, out->thr, out->hop_bad,
                            out->valid_out, out->hit, &out->n_invalid);
}

static void check_threshold_is_strict(void)
{
    struct inputs in;
    struct outputs out;
    quiet(&in);
    /* channel 0 about a median of 10: 60 and -40 lie exactly 50 away */
    in.med[0] = in.med[CH] = 10.0;
    const double ch0[ROWS] = {60.0, -40.0, nextafter(60.0, INFINITY), 0.0,
                              nextafter(-40.0, -INFINITY), 10.0, 59.0, -39.0};
    /* channel 1 about 0: +-50 exactly, then just beyond either way */
    const double ch1[ROWS] = {50.0, -50.0, 0.0, nextafter(50.0, INFINITY),
                              0.0, nextafter(-50.0, -INFINITY), 49.0, -50.0};
    for (int r = 0; r < ROWS; r++) {
        in.sd[r] = ch0[r];
        in.sd[STRIDE + r] = ch1[r];
    }
    CHECK_EQ(run(&in, &out, 1, 1, 1, 1), 4);
    const uint8_t want0[ROWS] = {0, 0, 1, 0, 1, 0, 0, 0};
    const uint8_t want1[ROWS] = {0, 0, 0, 1, 0, 1, 0, 0};
    for (int r = 0; r < ROWS; r++) {
        CHECK_EQ(out.hit[r], want0[r]);
        CHECK_EQ(out.hit[ROWS + r], want1[r]);
    }
    for (int i = 0; i < HOPS * CH; i++) {
        CHECK(out.thr[i] == 50.0);
        CHECK_EQ(out.hop_bad[i], 0);
    }
    /* spikes are not in the mask (the caller's rules decide them) */
    for (int i = 0; i < ROWS * CH; i++)
        CHECK_EQ(out.valid_out[i], 1);
    CHECK_EQ(out.n_invalid, 0);
    /* without a median array the median is 0: channel 0's 60.0 is beyond */
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), 5);
    CHECK_EQ(out.hit[0], 1);
    CHECK_EQ(out.hit[1], 0);
    /* a hit needs a usable sample, not blanked after a rail */
    in.hard_ok[2] = 0;
    in.blank[STRIDE + 3] = 1;
    CHECK_EQ(run(&in, &out, 1, 1, 1, 1), 2);
    CHECK_EQ(out.hit[2], 0);
    CHECK_EQ(out.hit[ROWS + 3], 0);
}

static void check_threshold_from_the_neighbouring_hops(void)
{
    struct inputs in;
    struct outputs out;
    quiet(&in);
    /* hop 0 of channel 0: its own MAD is left out, the larger of the hop
     * before (prev_mad) and after counts; the last hop takes its own as the
     * one after */
    in.prev_mad[0] = 20.0;
    in.mad[0] = 1000.0;
    in.mad[CH] = 10.0;
    /* channel 1 blocked in hop 1 */
    in.blocked[CH + 1] = 1;
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), 0);
    CHECK(fabs(out.thr[0] - 5.0 * 1.4826 * 20.0) < 1e-9);
    CHECK(fabs(out.thr[CH] - 5.0 * 1.4826 * 1000.0) < 1e-9);
    CHECK(out.thr[1] == 50.0);
    CHECK(isinf(out.thr[CH + 1]) && out.thr[CH + 1] > 0);
    /* a blocked hop finds nothing, however far out */
    in.sd[STRIDE + L + 1] = 1e12;
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), 0);
    CHECK_EQ(out.hit[ROWS + L + 1], 0);
}

static void check_mask(void)
{
    struct inputs in;
    struct outputs out;
    quiet(&in);
    /* channel 1: hop 1's condition masks hop 0 too (the look-ahead) */
    in.cond[CH + 1] = 1;
    /* channel 0: a kind active in hop 1 masks that hop only */
    in.active[CH + 0] = 1;
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), 0);
    CHECK_EQ(out.hop_bad[0], 0);
    CHECK_EQ(out.hop_bad[1], 1);
    CHECK_EQ(out.hop_bad[CH], 1);
    CHECK_EQ(out.hop_bad[CH + 1], 1);
    for (int r = 0; r < ROWS; r++) {
        CHECK_EQ(out.valid_out[r * CH + 0], r < L);
        CHECK_EQ(out.valid_out[r * CH + 1], 0);
    }
    CHECK_EQ(out.n_invalid, L + ROWS);

    /* per-sample flags, each masking only when asked */
    quiet(&in);
    in.valid[1] = 0;
    in.rail[2] = 1;
    in.blank[3] = 1;
    in.lead[STRIDE + 4] = 1;
    CHECK_EQ(run(&in, &out, 0, 0, 1, 0), 0); /* no rails (nor blanking), no lead-off */
    CHECK_EQ(out.n_invalid, 1);
    CHECK_EQ(out.valid_out[1 * CH], 0);
    CHECK_EQ(run(&in, &out, 0, 1, 0, 0), 0); /* rails, not blanking */
    CHECK_EQ(out.n_invalid, 2);
    CHECK_EQ(out.valid_out[2 * CH], 0);
    CHECK_EQ(out.valid_out[3 * CH], 1);
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), 0); /* everything */
    CHECK_EQ(out.n_invalid, 4);
    CHECK_EQ(out.valid_out[3 * CH], 0);
    CHECK_EQ(out.valid_out[4 * CH + 1], 0);
}

static void check_arguments(void)
{
    struct inputs in;
    struct outputs out;
    quiet(&in);
    in.lens[1] = 0;
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), -1);
    in.lens[1] = STRIDE - L + 1; /* the hops run past the stride */
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), -1);
    quiet(&in);
    CHECK_EQ(sio_dsp_hop_mask(CH, HOPS, in.lens, STRIDE, in.valid, in.rail, in.blank, in.lead,
                              in.hard_ok, in.sd, in.cond, HOPS - 1, in.active, in.mad, HOPS,
                              NULL, NULL, in.blocked, 5.0, 50.0, 1, 1, 1, out.thr, out.hop_bad,
                              out.valid_out, out.hit, &out.n_invalid),
             -1); /* fewer conditions than hops */
    CHECK_EQ(sio_dsp_hop_mask(CH, HOPS, in.lens, STRIDE, in.valid, in.rail, in.blank, in.lead,
                              in.hard_ok, NULL, in.cond, HOPS, in.active, in.mad, HOPS, NULL,
                              NULL, in.blocked, 5.0, 50.0, 1, 1, 1, out.thr, out.hop_bad,
                              out.valid_out, out.hit, &out.n_invalid),
             -1);
}

int main(void)
{
    check_threshold_is_strict();
    check_threshold_from_the_neighbouring_hops();
    check_mask();
    check_arguments();
    return check_report("test_dsp_mask");
}
