/* sio_dsp_hop_mask (csrc/sio_dsp.c): the output mask and the spike test of
 * whole hops, worked out by hand on two channels of two decided hops (and
 * a third, undecided one whose condition and MAD the caller may pass): a
 * deviation from the hop's own median exactly at the threshold is not a
 * spike (the test is |x - med| > t, as FaultDetector._spike_test's), the
 * next double above it is; the threshold comes from the larger MAD of the
 * two neighbouring hops (before the first: prev_mad, or the first hop's
 * own without it; after the last: the next hop's when passed, else its
 * own); a hop is masked by its own condition, the next hop's or an active
 * kind, and its spikes are still reported; a blocked hop tests nothing;
 * rails, blanking and lead-off mask their samples when asked; quiet rows
 * passed without their flags give the same; and the argument checks. Every buffer is its own allocation of exactly the size
 * the function may touch, so the sanitizers see any access past one. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sio_dsp.h"

/* HOPS decided hops of L rows; LIVE hops of features (the next one too) */
enum { CH = 2, HOPS = 2, LIVE = HOPS + 1, L = 4, ROWS = HOPS * L, STRIDE = ROWS + 2 };
/* channel-major rows: the last channel's row ends at its last decided row */
enum { FLAGS = (CH - 1) * STRIDE + ROWS };

struct inputs {
    int64_t *lens;
    uint8_t *valid, *rail, *blank, *lead, *hard_ok; /* FLAGS */
    double *sd;                                     /* FLAGS */
    uint8_t *cond;                                  /* n_live x CH */
    double *mad;                                    /* n_live x CH */
    uint8_t *active, *blocked;                      /* HOPS x CH */
    double *med;                                    /* HOPS x CH */
    double *prev_mad;                               /* CH */
    int64_t n_live;                                 /* HOPS or LIVE */
};

struct outputs {
    double *thr;
    uint8_t *hop_bad, *valid_out, *hit;
    int64_t *n_invalid;
};

static void *grab(size_t bytes)
{
    void *p = calloc(1, bytes);
    if (!p)
        abort();
    return p;
}

/* every sample valid, usable and quiet; MADs small enough that the
 * threshold is spike_min (50); n_live hops of conditions and MADs */
static void quiet(struct inputs *in, int64_t n_live)
{
    in->n_live = n_live;
    in->lens = grab(HOPS * sizeof *in->lens);
    for (int j = 0; j < HOPS; j++)
        in->lens[j] = L;
    in->valid = grab(FLAGS);
    in->rail = grab(FLAGS);
    in->blank = grab(FLAGS);
    in->lead = grab(FLAGS);
    in->hard_ok = grab(FLAGS);
    memset(in->valid, 1, FLAGS);
    memset(in->hard_ok, 1, FLAGS);
    in->sd = grab(FLAGS * sizeof *in->sd);
    in->cond = grab((size_t)n_live * CH);
    in->mad = grab((size_t)n_live * CH * sizeof *in->mad);
    for (int i = 0; i < n_live * CH; i++)
        in->mad[i] = 1.0;
    in->active = grab(HOPS * CH);
    in->blocked = grab(HOPS * CH);
    in->med = grab(HOPS * CH * sizeof *in->med);
    in->prev_mad = grab(CH * sizeof *in->prev_mad);
    for (int c = 0; c < CH; c++)
        in->prev_mad[c] = 1.0;
}

static void release(struct inputs *in)
{
    free(in->lens);
    free(in->valid);
    free(in->rail);
    free(in->blank);
    free(in->lead);
    free(in->hard_ok);
    free(in->sd);
    free(in->cond);
    free(in->mad);
    free(in->active);
    free(in->blocked);
    free(in->med);
    free(in->prev_mad);
}

/* each hop's largest |sd - med| passed to sio_dsp_hop_mask (NULL: none) */
static const double *g_far = NULL;

static int64_t run_with(const struct inputs *in, struct outputs *out, const double *prev_mad,
                        int with_med, int mask_rail, int mask_blank, int mask_lead)
{
    out->thr = grab(HOPS * CH * sizeof *out->thr);
    out->hop_bad = grab(HOPS * CH);
    out->valid_out = grab(ROWS * CH);
    out->hit = grab(CH * ROWS);
    out->n_invalid = grab(sizeof *out->n_invalid);
    /* garbage in the outputs: every byte the function owns must be written */
    memset(out->hop_bad, 0xAB, HOPS * CH);
    memset(out->valid_out, 0xAB, ROWS * CH);
    memset(out->hit, 0xAB, CH * ROWS);
    for (int i = 0; i < HOPS * CH; i++)
        out->thr[i] = -1.0;
    *out->n_invalid = -1;
    return sio_dsp_hop_mask(CH, HOPS, in->lens, STRIDE, in->valid, in->rail, in->blank,
                            in->lead, in->hard_ok, in->sd, in->cond, in->n_live, in->active,
                            in->mad, in->n_live, prev_mad, with_med ? in->med : NULL,
                            in->blocked, g_far, 5.0, 50.0, mask_rail, mask_blank, mask_lead, out->thr,
                            out->hop_bad, out->valid_out, out->hit, out->n_invalid);
}

static int64_t run(const struct inputs *in, struct outputs *out, int with_med, int mask_rail,
                   int mask_blank, int mask_lead)
{
    return run_with(in, out, in->prev_mad, with_med, mask_rail, mask_blank, mask_lead);
}

static void discard(struct outputs *out)
{
    free(out->thr);
    free(out->hop_bad);
    free(out->valid_out);
    free(out->hit);
    free(out->n_invalid);
}

/* 5 x 1.4826 x mad: the threshold a MAD gives (above spike_min) */
static double thr_of(double mad)
{
    return 5.0 * 1.4826 * mad;
}

static void check_threshold_is_strict(void)
{
    struct inputs in;
    struct outputs out;
    quiet(&in, HOPS);
    /* channel 0 about its hops' own medians, 10 then -8: 60 and -40, then
     * 42 and -58, lie exactly 50 away (all in one binade with 50, so the
     * next double out is beyond it exactly) */
    in.med[0] = 10.0;
    in.med[CH] = -8.0;
    const double ch0[ROWS] = {60.0, -40.0, nextafter(60.0, INFINITY), 0.0,
                              nextafter(-58.0, -INFINITY), 42.0, -58.0, nextafter(42.0, INFINITY)};
    /* channel 1 about 0: +-50 exactly, then just beyond either way */
    const double ch1[ROWS] = {50.0, -50.0, 0.0, nextafter(50.0, INFINITY),
                              0.0, nextafter(-50.0, -INFINITY), 49.0, -50.0};
    for (int r = 0; r < ROWS; r++) {
        in.sd[r] = ch0[r];
        in.sd[STRIDE + r] = ch1[r];
    }
    CHECK_EQ(run(&in, &out, 1, 1, 1, 1), 5);
    const uint8_t want0[ROWS] = {0, 0, 1, 0, 1, 0, 0, 1};
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
    CHECK_EQ(*out.n_invalid, 0);
    discard(&out);
    /* without a median array the median is 0: channel 0's 60 and beyond,
     * and -58 and beyond, are hits */
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), 6);
    const uint8_t zero0[ROWS] = {1, 0, 1, 0, 1, 0, 1, 0};
    for (int r = 0; r < ROWS; r++)
        CHECK_EQ(out.hit[r], zero0[r]);
    discard(&out);
    /* a hit needs a usable sample, not blanked after a rail */
    in.hard_ok[2] = 0;
    in.blank[STRIDE + 3] = 1;
    CHECK_EQ(run(&in, &out, 1, 1, 1, 1), 3);
    CHECK_EQ(out.hit[2], 0);
    CHECK_EQ(out.hit[ROWS + 3], 0);
    discard(&out);
    release(&in);
}

static void check_threshold_from_the_neighbouring_hops(void)
{
    struct inputs in;
    struct outputs out;
    quiet(&in, HOPS);
    /* each hop's own MAD is left out, the larger of the hop before and
     * after counts. Channel 0: the one before wins in both hops (hop 0's
     * before is prev_mad; the last hop's after is its own, smaller) */
    in.prev_mad[0] = 20.0;
    in.mad[0] = 1000.0;
    in.mad[CH] = 10.0;
    /* channel 1: the one after wins in both (hop 0's after is hop 1; the
     * last hop's after is its own) */
    in.prev_mad[1] = 2.0;
    in.mad[1] = 30.0;
    in.mad[CH + 1] = 40.0;
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), 0);
    CHECK(fabs(out.thr[0] - thr_of(20.0)) < 1e-9);
    CHECK(fabs(out.thr[CH] - thr_of(1000.0)) < 1e-9);
    CHECK(fabs(out.thr[1] - thr_of(40.0)) < 1e-9);
    CHECK(fabs(out.thr[CH + 1] - thr_of(40.0)) < 1e-9);
    discard(&out);
    /* without prev_mad hop 0's own MAD stands for the hop before */
    CHECK_EQ(run_with(&in, &out, NULL, 0, 1, 1, 1), 0);
    CHECK(fabs(out.thr[0] - thr_of(1000.0)) < 1e-9);
    CHECK(fabs(out.thr[1] - thr_of(40.0)) < 1e-9);
    discard(&out);
    /* a NaN MAD wins (as np.maximum's): a hop with no statistics tests nothing */
    in.mad[CH] = NAN;
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), 0);
    CHECK(isnan(out.thr[0]));
    discard(&out);
    release(&in);

    /* with the next, undecided hop's MAD passed, the last hop's after is it */
    quiet(&in, LIVE);
    in.mad[CH] = 3.0;              /* channel 0, hop 1's own: left out */
    in.mad[2 * CH] = 100.0;        /* channel 0, the next hop */
    in.mad[2 * CH + 1] = 0.5;      /* channel 1, the next hop: below hop 0's */
    in.mad[1] = 9.0;               /* channel 1, hop 0 */
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), 0);
    CHECK(fabs(out.thr[CH] - thr_of(100.0)) < 1e-9);
    CHECK(fabs(out.thr[CH + 1] - thr_of(9.0)) < 1e-9);
    discard(&out);
    release(&in);

    /* blocked: an infinite threshold, nothing found however far out */
    quiet(&in, HOPS);
    in.blocked[CH + 1] = 1;
    in.sd[STRIDE + L + 1] = 1e12;
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), 0);
    CHECK(out.thr[1] == 50.0);
    CHECK(isinf(out.thr[CH + 1]) && out.thr[CH + 1] > 0);
    CHECK_EQ(out.hit[ROWS + L + 1], 0);
    discard(&out);
    release(&in);
}

static void check_mask(void)
{
    struct inputs in;
    struct outputs out;
    quiet(&in, HOPS);
    /* channel 1: hop 1's condition masks hop 0 too (the look-ahead) */
    in.cond[CH + 1] = 1;
    /* channel 0: a kind active in hop 1 masks that hop only */
    in.active[CH + 0] = 1;
    /* a spike in a masked hop is still found (the caller reports it) */
    in.sd[L + 2] = 400.0;
    in.sd[STRIDE + 1] = -400.0;
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), 2);
    CHECK_EQ(out.hit[L + 2], 1);
    CHECK_EQ(out.hit[ROWS + 1], 1);
    CHECK_EQ(out.hop_bad[0], 0);
    CHECK_EQ(out.hop_bad[1], 1);
    CHECK_EQ(out.hop_bad[CH], 1);
    CHECK_EQ(out.hop_bad[CH + 1], 1);
    for (int r = 0; r < ROWS; r++) {
        CHECK_EQ(out.valid_out[r * CH + 0], r < L);
        CHECK_EQ(out.valid_out[r * CH + 1], 0);
    }
    CHECK_EQ(*out.n_invalid, L + ROWS);
    discard(&out);
    release(&in);

    /* the next, undecided hop's condition masks the last decided hop */
    quiet(&in, LIVE);
    in.cond[2 * CH + 0] = 1;
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), 0);
    CHECK_EQ(out.hop_bad[0], 0);
    CHECK_EQ(out.hop_bad[CH], 1);
    CHECK_EQ(out.hop_bad[CH + 1], 0);
    CHECK_EQ(*out.n_invalid, L);
    discard(&out);
    release(&in);

    /* per-sample flags, each masking only when asked */
    quiet(&in, HOPS);
    in.valid[1] = 0;
    in.rail[2] = 1;
    in.blank[3] = 1;
    in.lead[STRIDE + 4] = 1;
    CHECK_EQ(run(&in, &out, 0, 0, 1, 0), 0); /* no rails (nor blanking), no lead-off */
    CHECK_EQ(*out.n_invalid, 1);
    CHECK_EQ(out.valid_out[1 * CH], 0);
    discard(&out);
    CHECK_EQ(run(&in, &out, 0, 1, 0, 0), 0); /* rails, not blanking */
    CHECK_EQ(*out.n_invalid, 2);
    CHECK_EQ(out.valid_out[2 * CH], 0);
    CHECK_EQ(out.valid_out[3 * CH], 1);
    discard(&out);
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), 0); /* everything */
    CHECK_EQ(*out.n_invalid, 4);
    CHECK_EQ(out.valid_out[3 * CH], 0);
    CHECK_EQ(out.valid_out[4 * CH + 1], 0);
    discard(&out);
    release(&in);
}

/* quiet rows passed as five NULL flag arrays: the same outputs as quiet
 * flags (every sample valid and usable, none at a rail, blanked or
 * lifted), spikes, conditions, active kinds, a blocked hop, with and
 * without medians and whatever is masked; some NULL only: refused */
static void check_quiet_rows_without_flags(void)
{
    struct inputs in;
    struct outputs out, want;
    quiet(&in, LIVE);
    for (int c = 0; c < CH; c++)
        for (int r = 0; r < ROWS; r++)
            in.sd[c * STRIDE + r] = (r % 3 == 1) ? 400.0 * (c ? -1.0 : 1.0) : 10.0 * r - 35.0;
    in.sd[STRIDE + 5] = NAN;
    in.med[CH] = 5.0;
    in.cond[2 * CH + 1] = 1;
    in.active[0] = 1;
    in.blocked[CH] = 1;
    in.mad[1] = 100.0;
    for (int with_med = 0; with_med < 2; with_med++)
        for (int mask = 0; mask < 8; mask++) {
            const int rl = mask & 1, bl = (mask >> 1) & 1, lo = (mask >> 2) & 1;
            const int64_t hits = run(&in, &want, with_med, rl, bl, lo);
            CHECK(hits > 0);
            struct inputs none = in;
            none.valid = none.rail = none.blank = none.lead = none.hard_ok = NULL;
            CHECK_EQ(run(&none, &out, with_med, rl, bl, lo), hits);
            CHECK_EQ(*out.n_invalid, *want.n_invalid);
            CHECK(memcmp(out.valid_out, want.valid_out, ROWS * CH) == 0);
            CHECK(memcmp(out.hit, want.hit, CH * ROWS) == 0);
            CHECK(memcmp(out.hop_bad, want.hop_bad, HOPS * CH) == 0);
            CHECK(memcmp(out.thr, want.thr, HOPS * CH * sizeof *out.thr) == 0);
            discard(&out);
            discard(&want);
        }
    /* one flag array NULL, the others not: refused */
    struct inputs some = in;
    some.blank = NULL;
    CHECK_EQ(run(&some, &out, 0, 1, 1, 1), -1);
    discard(&out);
    some = in;
    some.valid = some.rail = some.blank = some.lead = NULL;
    CHECK_EQ(run(&some, &out, 0, 1, 1, 1), -1);
    discard(&out);
    release(&in);
}

static void check_arguments(void)
{
    struct inputs in;
    struct outputs out;
    quiet(&in, HOPS);
    in.lens[1] = 0;
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), -1);
    discard(&out);
    in.lens[1] = STRIDE - L + 1; /* the hops run past the stride */
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), -1);
    discard(&out);
    in.lens[1] = L;
    in.n_live = HOPS - 1; /* fewer conditions and MADs than hops */
    CHECK_EQ(run(&in, &out, 0, 1, 1, 1), -1);
    discard(&out);
    in.n_live = HOPS;
    double thr[HOPS * CH];
    uint8_t bad[HOPS * CH], valid_out[ROWS * CH], hit[CH * ROWS];
    int64_t n_invalid;
    CHECK_EQ(sio_dsp_hop_mask(CH, HOPS, in.lens, STRIDE, in.valid, in.rail, in.blank, in.lead,
                              in.hard_ok, in.sd, in.cond, HOPS, in.active, in.mad, HOPS - 1,
                              NULL, NULL, in.blocked, NULL, 5.0, 50.0, 1, 1, 1, thr, bad, valid_out,
                              hit, &n_invalid),
             -1); /* fewer MADs than hops */
    CHECK_EQ(sio_dsp_hop_mask(CH, HOPS, in.lens, STRIDE, in.valid, in.rail, in.blank, in.lead,
                              in.hard_ok, in.sd, in.cond, HOPS - 1, in.active, in.mad, HOPS,
                              NULL, NULL, in.blocked, NULL, 5.0, 50.0, 1, 1, 1, thr, bad, valid_out,
                              hit, &n_invalid),
             -1); /* fewer conditions than hops */
    CHECK_EQ(sio_dsp_hop_mask(CH, HOPS, in.lens, STRIDE, in.valid, in.rail, in.blank, in.lead,
                              in.hard_ok, NULL, in.cond, HOPS, in.active, in.mad, HOPS, NULL,
                              NULL, in.blocked, NULL, 5.0, 50.0, 1, 1, 1, thr, bad, valid_out, hit,
                              &n_invalid),
             -1);
    release(&in);
}

/* sio_dsp_hop_far: each hop's largest |sd - med| (a NaN never the largest),
 * and sio_dsp_hop_mask given it: the same outputs; a hop whose far is not
 * beyond its threshold is not read (a far planted too low hides its hits,
 * so the function does take it), a negative far is not known (read). */
static void check_far_known_ahead(void)
{
    struct inputs in;
    struct outputs plain, with;
    quiet(&in, HOPS);
    in.med[0] = 10.0;
    in.med[CH] = -8.0;
    const double ch0[ROWS] = {60.0, -40.0, nextafter(60.0, INFINITY), 0.0,
                              nextafter(-58.0, -INFINITY), 42.0, -58.0, nextafter(42.0, INFINITY)};
    const double ch1[ROWS] = {50.0, NAN, 0.0, -3.0, 0.0, nextafter(-50.0, -INFINITY), 49.0, -50.0};
    for (int r = 0; r < ROWS; r++) {
        in.sd[r] = ch0[r];
        in.sd[STRIDE + r] = ch1[r];
    }
    double *far = grab(HOPS * CH * sizeof *far);
    for (int j = 0; j < HOPS; j++) /* hop j: its rows from j * L, its medians */
        CHECK_EQ(sio_dsp_hop_far(CH, L, STRIDE, in.sd + j * L, in.med + j * CH, far + j * CH), 0);
    CHECK(far[0] == nextafter(60.0, INFINITY) - 10.0);       /* hop 0, channel 0 */
    CHECK(far[1] == 50.0);                                    /* hop 0, channel 1: NaN left */
    CHECK(far[CH] == -8.0 - nextafter(-58.0, -INFINITY));     /* hop 1, channel 0 */
    CHECK(far[CH + 1] == nextafter(50.0, INFINITY));               /* hop 1, channel 1 */
    CHECK_EQ(run(&in, &plain, 1, 1, 1, 1), 4);
    g_far = far;
    CHECK_EQ(run(&in, &with, 1, 1, 1, 1), 4);
    CHECK_EQ(memcmp(plain.hit, with.hit, CH * ROWS), 0);
    CHECK_EQ(memcmp(plain.valid_out, with.valid_out, CH * ROWS), 0);
    CHECK_EQ(memcmp(plain.thr, with.thr, HOPS * CH * sizeof *plain.thr), 0);
    CHECK_EQ(*plain.n_invalid, *with.n_invalid);
    discard(&with);
    /* planted: hop 0 of channel 0 said not beyond (its hit hidden) */
    far[0] = 50.0;
    CHECK_EQ(run(&in, &with, 1, 1, 1, 1), 3);
    CHECK_EQ(with.hit[2], 0);
    discard(&with);
    /* not known: read */
    far[0] = -1.0;
    CHECK_EQ(run(&in, &with, 1, 1, 1, 1), 4);
    CHECK_EQ(memcmp(plain.hit, with.hit, CH * ROWS), 0);
    discard(&with);
    g_far = NULL;
    discard(&plain);
    /* the argument checks */
    CHECK_EQ(sio_dsp_hop_far(CH, L, L - 1, in.sd, NULL, far), -1);
    CHECK_EQ(sio_dsp_hop_far(-1, L, STRIDE, in.sd, NULL, far), -1);
    CHECK_EQ(sio_dsp_hop_far(CH, L, STRIDE, NULL, NULL, far), -1);
    CHECK_EQ(sio_dsp_hop_far(CH, L, STRIDE, in.sd, NULL, NULL), -1);
    CHECK_EQ(sio_dsp_hop_far(0, L, STRIDE, NULL, NULL, NULL), 0);
    /* without medians: |sd| */
    CHECK_EQ(sio_dsp_hop_far(CH, L, STRIDE, in.sd, NULL, far), 0);
    CHECK(far[0] == nextafter(60.0, INFINITY));
    free(far);
    release(&in);
}

int main(void)
{
    check_threshold_is_strict();
    check_threshold_from_the_neighbouring_hops();
    check_mask();
    check_quiet_rows_without_flags();
    check_arguments();
    check_far_known_ahead();
    return check_report("test_dsp_mask");
}
