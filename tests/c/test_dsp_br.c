/* sio_dsp_br_count, sio_dsp_br_finish and sio_dsp_br_track (csrc/sio_dsp.c): a median of
 * |values| counted as a hop's rows come, in pieces, against a bracket that
 * stays put through the hop, then finished later, for some channels, with
 * the guess moved on in between (as when a hop's finish is put off while
 * the next hop is counted): bit for bit the median sio_dsp_hop_features
 * takes over the whole hop, whatever the bracket (around the median,
 * missing it above or below, everything), with ties, a NaN, counts marked
 * unusable (the mid counting another hop); the channels not asked for are
 * not written. Exact-size buffers (the sanitizers see any read past them)
 * and argument checks. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sio_dsp.h"

enum { CH = 3 };

/* the reference: sio_dsp_hop_features' median of |v| over the whole hop */
static void want_medians(const double *v, int64_t L, double *want)
{
    double *x = malloc((size_t)(CH * L) * sizeof *x), *scratch = malloc((size_t)(2 * L) * sizeof *scratch);
    double o[6 * CH];
    for (int64_t i = 0; i < CH * L; i++)
        x[i] = 1.0;
    CHECK_EQ(sio_dsp_hop_features(CH, 1, L, L, x, v, x, NULL, scratch, o, want, o + 2 * CH,
                                  o + 3 * CH, o + 4 * CH, NULL, o + 5 * CH),
             0);
    free(x);
    free(scratch);
}

/* one hop of L rows per channel, counted against bracket (lo, hi), finished
 * with another guess for the channels of which; gone: counts marked unusable */
static void check_hop(int64_t L, double lo, double hi, int nan, int gone)
{
    double *v = malloc((size_t)(CH * L) * sizeof *v), *mid = malloc((size_t)(CH * L) * sizeof *mid);
    double *scratch = malloc((size_t)(2 * L) * sizeof *scratch);
    double count[CH * 6] = {0}, guess[CH * SIO_DSP_BR_GUESS], later[CH * SIO_DSP_BR_GUESS];
    double want[CH], out[CH * 2];
    for (int64_t c = 0; c < CH; c++)
        for (int64_t i = 0; i < L; i++) /* ties on channel 1; signs */
            v[c * L + i] = (c == 1 ? (double)(rand() % 5) : (double)(rand() % 2001 - 1000) / 10.0) *
                           (rand() % 2 ? 1.0 : -1.0);
    if (nan)
        v[2 * L + L / 2] = NAN;
    want_medians(v, L, want);
    for (int64_t c = 0; c < CH; c++) {
        guess[c * SIO_DSP_BR_GUESS] = lo, guess[c * SIO_DSP_BR_GUESS + 1] = hi;
        guess[c * SIO_DSP_BR_GUESS + 2] = 1.5;
    }
    for (int64_t pos = 0; pos < L;) { /* counts 6 doubles apart: a stride of the caller's */
        int64_t to = pos + 1 + rand() % 7;
        to = to > L ? L : to;
        CHECK_EQ(sio_dsp_br_count(CH, to - pos, L, v + pos, 1, L, count, 6, mid, guess), 0);
        pos = to;
    }
    for (int64_t c = 0; c < CH; c++) /* every value counted once, in its channel's counts */
        CHECK(count[c * 6 + 3] == (double)L && count[c * 6] + count[c * 6 + 1] <= (double)L &&
              count[c * 6 + 4] == 0.0 && count[c * 6 + 5] == 0.0);
    if (gone)
        for (int64_t c = 0; c < CH; c++)
            count[c * 6 + 2] = 1.0;
    sio_dsp_br_init(CH, later); /* the guess moved on meanwhile: another bracket */
    later[0] = 3.0, later[1] = 5.0, later[2] = 1.3;
    for (int64_t i = 0; i < 2 * CH; i++)
        out[i] = -7.0;
    const uint8_t which[CH] = {1, 0, 1};
    CHECK_EQ(sio_dsp_br_finish(CH, L, L, v, 1, which, count, 6, mid, later, scratch, out, 2), 0);
    CHECK(memcmp(&out[0], &want[0], sizeof(double)) == 0);
    CHECK(out[2] == -7.0 && out[1] == -7.0 && out[3] == -7.0 && out[5] == -7.0);
    if (nan)
        CHECK(isnan(out[4]) == isnan(want[2]) && (isnan(want[2]) || out[4] == want[2]));
    else
        CHECK(memcmp(&out[4], &want[2], sizeof(double)) == 0);
    /* the channel left: later, all of them again (the others counted used: from v) */
    CHECK_EQ(sio_dsp_br_finish(CH, L, L, v, 1, NULL, count, 6, mid, later, scratch, out, 2), 0);
    CHECK(memcmp(&out[2], &want[1], sizeof(double)) == 0);
    CHECK(memcmp(&out[0], &want[0], sizeof(double)) == 0);
    free(v);
    free(mid);
    free(scratch);
}

int main(void)
{
    srand(5);
    static const double brackets[][2] = {{-INFINITY, INFINITY}, {20.0, 35.0}, {45.0, 60.0},
                                          {0.5, 2.0}, {80.0, 90.0}, {49.0, 51.0}};
    for (int64_t L = 4; L <= 9; L++)
        for (size_t b = 0; b < sizeof brackets / sizeof brackets[0]; b++)
            for (int gone = 0; gone < 2; gone++)
                check_hop(L, brackets[b][0], brackets[b][1], 0, gone);
    for (size_t b = 0; b < sizeof brackets / sizeof brackets[0]; b++) {
        check_hop(200, brackets[b][0], brackets[b][1], 0, 0);
        check_hop(200, brackets[b][0], brackets[b][1], 1, 0);
        check_hop(200, brackets[b][0], brackets[b][1], 0, 1);
    }
    /* sio_dsp_br_track: inside the bracket it stays; below or above it, it
     * moves that way and widens; counts not whole, a NaN or a bracket not
     * finite and positive leave it */
    {
        const int64_t n = 9; /* k = 4 */
        double cnt[5 * 4] = {
            2, 5, 0, 9, /* inside */
            5, 3, 0, 9, /* below: 5 > k */
            1, 3, 0, 9, /* above: k >= 4 */
            5, 3, 1, 9, /* a NaN */
            5, 3, 0, 8, /* not whole */
        };
        double gs[6 * SIO_DSP_BR_GUESS];
        for (int c = 0; c < 5; c++)
            gs[c * 3] = 10.0 / 1.5, gs[c * 3 + 1] = 15.0, gs[c * 3 + 2] = 1.5;
        gs[15] = -INFINITY, gs[16] = INFINITY, gs[17] = 2.0; /* (counted as channel 1's) */
        CHECK_EQ(sio_dsp_br_track(5, n, cnt, 4, gs), 0);
        CHECK(gs[0] == 10.0 / 1.5 && gs[1] == 15.0 && gs[2] == 1.5);
        CHECK(gs[3] < 10.0 / 1.5 && gs[4] < 15.0 && gs[3] < gs[4] && gs[5] == 1.5 * 1.25);
        CHECK(gs[6] > 10.0 / 1.5 && gs[7] > 15.0 && gs[8] == 1.5 * 1.25);
        CHECK(gs[9] == 10.0 / 1.5 && gs[10] == 15.0 && gs[12] == 10.0 / 1.5 && gs[13] == 15.0);
        CHECK_EQ(sio_dsp_br_track(1, n, cnt + 4, 4, gs + 15), 0);
        CHECK(gs[15] == -INFINITY && gs[16] == INFINITY && gs[17] == 2.0);
        CHECK_EQ(sio_dsp_br_track(1, 0, cnt, 4, gs), -1);
        CHECK_EQ(sio_dsp_br_track(1, n, cnt, 3, gs), -1);
        CHECK_EQ(sio_dsp_br_track(1, n, NULL, 4, gs), -1);
        CHECK(gs[0] == 10.0 / 1.5);
    }
    /* sio_dsp_hop_features_end without the median (mad NULL): the rest the same bits */
    {
        enum { L = 8 };
        double d[CH * L], h[CH * L], acc[CH * SIO_DSP_FEAT_ACC] = {0}, sc[2 * L], a[6 * CH], b[6 * CH];
        for (int64_t i = 0; i < CH * L; i++)
            d[i] = (double)(rand() % 100), h[i] = (double)(rand() % 100 - 50);
        CHECK_EQ(sio_dsp_hop_features_acc(CH, L, 0, L, L, d, h, d, NULL, acc, NULL, NULL, NULL), 0);
        for (int64_t i = 0; i < 6 * CH; i++)
            a[i] = b[i] = -7.0;
        CHECK_EQ(sio_dsp_hop_features_end(CH, 1, L, L, d, h, acc, 0, sc, a, a + CH, a + 2 * CH,
                                          a + 3 * CH, a + 4 * CH, NULL, a + 5 * CH),
                 0);
        CHECK_EQ(sio_dsp_hop_features_end(CH, 1, L, L, d, h, acc, 0, sc, b, NULL, b + 2 * CH,
                                          b + 3 * CH, b + 4 * CH, NULL, b + 5 * CH),
                 0);
        CHECK(memcmp(a, b, CH * sizeof *a) == 0 && memcmp(a + 2 * CH, b + 2 * CH, 4 * CH * sizeof *a) == 0);
        CHECK(b[CH] == -7.0 && b[2 * CH - 1] == -7.0 && a[CH] != -7.0);
    }
    /* out of range: nothing written */
    double x[8] = {0}, cnt[8] = {0}, g[SIO_DSP_BR_GUESS] = {0, 1, 2}, s[16], o[2] = {7, 7};
    CHECK_EQ(sio_dsp_br_count(-1, 4, 8, x, 1, 8, cnt, 4, x, g), -1);
    CHECK_EQ(sio_dsp_br_count(1, 4, 3, x, 1, 8, cnt, 4, x, g), -1); /* stride */
    CHECK_EQ(sio_dsp_br_count(1, 4, 8, x, 1, 0, cnt, 4, x, g), -1); /* no room */
    CHECK_EQ(sio_dsp_br_count(1, 4, 8, x, 1, 8, cnt, 3, x, g), -1); /* counts overlap */
    CHECK_EQ(sio_dsp_br_count(1, 4, 8, NULL, 1, 8, cnt, 4, x, g), -1);
    CHECK_EQ(sio_dsp_br_count(1, 4, 8, x, 1, 8, cnt, 4, x, NULL), -1);
    CHECK(cnt[0] == 0.0 && cnt[3] == 0.0);
    CHECK_EQ(sio_dsp_br_finish(1, 0, 8, x, 1, NULL, cnt, 4, x, g, s, o, 1), -1); /* no values */
    CHECK_EQ(sio_dsp_br_finish(1, 4, 3, x, 1, NULL, cnt, 4, x, g, s, o, 1), -1); /* stride */
    CHECK_EQ(sio_dsp_br_finish(1, 4, 8, x, 1, NULL, cnt, 4, x, g, s, o, 0), -1); /* out stride */
    CHECK_EQ(sio_dsp_br_finish(1, 4, 8, x, 1, NULL, cnt, 4, NULL, g, s, o, 1), -1); /* no mid */
    CHECK_EQ(sio_dsp_br_finish(1, 4, 8, x, 1, NULL, cnt, 4, x, g, NULL, o, 1), -1); /* no scratch */
    CHECK(o[0] == 7.0 && g[2] == 2.0);
    return check_report("test_dsp_br");
}
