/* sio_dsp_hop_features_acc and _end, sio_dsp_hop_spikes_acc and _end
 * (csrc/sio_dsp.c): a hop's sums taken as its rows come, in pieces of
 * varied sizes, then finished, bit for bit sio_dsp_hop_features and
 * sio_dsp_hop_spikes on the whole hops, with and without the medians'
 * guesses, over hops whose level jumps (the guess missing above and below,
 * by a little -- within the second bracket a miss is selected in -- and by
 * far), a hop of zeros and one with a NaN; exact-size buffers (so the sanitizers
 * see any read past them), and argument checks. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sio_dsp.h"

static double noise(void) { return (double)(rand() % 2001 - 1000) / 10.0; }

/* near: the levels step by a little after steady runs (the guess's
 * bracket narrows on a steady level, then misses by less than its width
 * again: csrc/sio_dsp.c, sio_dsp_br_end) */
static int near;

/* the level of hop j of m: steady, jumps up and down, zero; one NaN */
static double level(int64_t j)
{
    static const double levels[] = {1.0, 1.1, 0.9, 30.0, 28.0, 0.02, 1.0, 0.0, 1.0, 1.3};
    static const double steps[] = {1.0,  1.0,  1.0,  1.0,  1.0,  1.0, 1.3, 1.3, 1.3, 1.3,
                                   1.3,  1.3,  1.0,  1.0,  1.0,  1.0, 1.0, 1.0, 0.77, 0.77,
                                   0.77, 0.77, 0.77, 0.77, 1.35, 1.0, 0.75, 2.0, 4.0, 1.0};
    return near ? steps[j % 30] : levels[j % 10];
}

static void shape(double *hp, int64_t ch, int64_t m, int64_t L, int nan)
{
    for (int64_t c = 0; c < ch; c++)
        for (int64_t j = 0; j < m; j++)
            for (int64_t i = 0; i < L; i++)
                hp[c * m * L + j * L + i] *= level(j + c);
    if (nan && m > 2)
        hp[L + L / 2] = NAN; /* channel 0, hop 1 */
}

static void check_hops(int64_t L, int with_codes, int guessed, int64_t m, int nan)
{
    const int64_t ch = 3, stride = m * L;
    double *data = malloc((size_t)(ch * stride) * sizeof *data);
    double *hp = malloc((size_t)(ch * stride) * sizeof *hp);
    double *low = malloc((size_t)(ch * stride) * sizeof *low);
    int32_t *codes = malloc((size_t)(ch * stride) * sizeof *codes);
    double *acc = calloc((size_t)(m * ch * SIO_DSP_FEAT_ACC), sizeof *acc);
    double *scratch = malloc((size_t)(2 * L) * sizeof *scratch);
    double *want = malloc((size_t)(6 * ch * m) * sizeof *want);
    double *got = malloc((size_t)(6 * ch * m) * sizeof *got);
    double *guess = malloc((size_t)(ch * SIO_DSP_BR_GUESS) * sizeof *guess);
    double *mid = malloc((size_t)(ch * L) * sizeof *mid);
    double *scratch2 = malloc((size_t)(2 * L) * sizeof *scratch2);
    uint8_t *want_same = malloc((size_t)(ch * m)), *got_same = malloc((size_t)(ch * m));
    for (int64_t i = 0; i < ch * stride; i++) {
        data[i] = 1000.0 + noise();
        hp[i] = noise();
        low[i] = noise() / 3.0;
        codes[i] = i < stride ? 5 : rand() % 3; /* channel 0 stuck */
    }
    shape(hp, ch, m, L, nan);
    sio_dsp_br_init(ch, guess);
    const int32_t *k = with_codes ? codes : NULL;
    const int64_t o = ch * m; /* one output's size */
    CHECK_EQ(sio_dsp_hop_features(ch, m, L, stride, data, hp, low, k, scratch, want, want + o,
                                  want + 2 * o, want + 3 * o, want + 4 * o, want_same, want + 5 * o),
             0);
    for (int64_t j = 0; j < m; j++)
        for (int64_t pos = 0; pos < L;) {
            int64_t to = pos + 1 + rand() % 4;
            to = to > L ? L : to;
            CHECK_EQ(sio_dsp_hop_features_acc(ch, L, pos, to, stride, data + j * L, hp + j * L,
                                              low + j * L, k ? k + j * L : NULL,
                                              acc + j * ch * SIO_DSP_FEAT_ACC,
                                              guessed ? guess : NULL, mid, scratch2),
                     0);
            pos = to;
        }
    CHECK_EQ(sio_dsp_hop_features_end(ch, m, L, stride, data, hp, acc, with_codes, scratch, got,
                                      got + o, got + 2 * o, got + 3 * o, got + 4 * o, got_same,
                                      got + 5 * o),
             0);
    CHECK(memcmp(got, want, (size_t)(6 * ch * m) * sizeof *got) == 0);
    if (with_codes) {
        CHECK(memcmp(got_same, want_same, (size_t)(ch * m)) == 0);
        CHECK(got_same[0] && got_same[1]);
    }
    free(data);
    free(hp);
    free(low);
    free(codes);
    free(acc);
    free(scratch);
    free(want);
    free(got);
    free(guess);
    free(mid);
    free(scratch2);
    free(want_same);
    free(got_same);
}

/* spikes: hop 0 without a row before it, hop 1 reading hop 0's last */
static void check_spikes(int64_t L, int guessed, int64_t m, int nan)
{
    const int64_t ch = 2, stride = m * L;
    double *hp = malloc((size_t)(ch * stride) * sizeof *hp);
    double *buf = malloc((size_t)(ch * L) * sizeof *buf);
    double *scratch = malloc((size_t)(2 * L) * sizeof *scratch);
    double *want_mad = malloc((size_t)(ch * m) * sizeof *want_mad);
    double *want_peak = malloc((size_t)(ch * m) * sizeof *want_peak);
    double *guess = malloc((size_t)(ch * SIO_DSP_BR_GUESS) * sizeof *guess);
    double *count = malloc((size_t)(ch * SIO_DSP_SPIKE_COUNT) * sizeof *count);
    double *mid = malloc((size_t)(ch * L) * sizeof *mid);
    double mad[2], peak[2];
    for (int64_t i = 0; i < ch * stride; i++)
        hp[i] = (double)(rand() % 41 - 20);
    shape(hp, ch, m, L, nan);
    sio_dsp_br_init(ch, guess);
    for (int64_t i = 0; i < ch * SIO_DSP_SPIKE_COUNT; i++)
        count[i] = 99.0; /* restarted by a hop's first rows */
    double *g = guessed ? guess : NULL;
    CHECK_EQ(sio_dsp_hop_spikes(ch, m, L, stride, hp, NULL, scratch, want_mad, want_peak), 0);
    for (int64_t j = 0; j < m; j++) {
        for (int64_t i = 0; i < ch * L; i++)
            buf[i] = 1e300; /* every row of the hop is written (its ends 0): a row left shows */
        for (int64_t pos = 0; pos < L;) {
            int64_t to = pos + 1 + rand() % 3;
            to = to > L ? L : to;
            CHECK_EQ(sio_dsp_hop_spikes_acc(ch, L, pos, to, stride, hp + j * L, j > 0, buf, count, g,
                                            mid),
                     0);
            pos = to;
        }
        CHECK_EQ(sio_dsp_hop_spikes_end(ch, L, buf, scratch, mad, peak, count, g, mid), 0);
        for (int64_t c = 0; c < ch; c++) {
            const double w = want_mad[c * m + j], p = want_peak[c * m + j];
            CHECK(mad[c] == w || (mad[c] != mad[c] && w != w));
            CHECK(peak[c] == p || (peak[c] != peak[c] && p != p));
        }
    }
    free(hp);
    free(buf);
    free(scratch);
    free(want_mad);
    free(want_peak);
    free(guess);
    free(count);
    free(mid);
}

/* rows given twice, an end with no rows counted: the guesses are not used
 * (no write past mid), the medians and peaks still those of the hop */
static void check_misuse(void)
{
    enum { L = 40, CH = 2 };
    double hp[CH * L], buf[CH * L], scratch[2 * L], mid[CH * L], guess[CH * SIO_DSP_BR_GUESS];
    double count[CH * SIO_DSP_SPIKE_COUNT], want_mad[CH], want_peak[CH], mad[CH], peak[CH];
    for (int64_t i = 0; i < CH * L; i++)
        hp[i] = noise();
    CHECK_EQ(sio_dsp_hop_spikes(CH, 1, L, L, hp, NULL, scratch, want_mad, want_peak), 0);
    sio_dsp_br_init(CH, guess);
    for (int round = 0; round < 3; round++) { /* round 0 teaches the guess */
        CHECK_EQ(sio_dsp_hop_spikes_acc(CH, L, 0, L, L, hp, 0, buf, count, guess, mid), 0);
        if (round == 1) /* rows again, from row 3 */
            CHECK_EQ(sio_dsp_hop_spikes_acc(CH, L, 3, L, L, hp, 0, buf, count, guess, mid), 0);
        for (int twice = 0; twice < (round == 2 ? 2 : 1); twice++) { /* an end with nothing counted */
            CHECK_EQ(sio_dsp_hop_spikes_end(CH, L, buf, scratch, mad, peak, count, guess, mid), 0);
            for (int64_t c = 0; c < CH; c++) {
                CHECK(mad[c] == want_mad[c]);
                CHECK(peak[c] == want_peak[c]);
            }
        }
    }
    /* the features' median: a hop's rows given twice without the sums restarted */
    double data[CH * L], low[CH * L], acc[CH * SIO_DSP_FEAT_ACC] = {0}, o[6 * CH];
    for (int64_t i = 0; i < CH * L; i++)
        data[i] = low[i] = noise();
    CHECK_EQ(sio_dsp_hop_features(CH, 1, L, L, data, hp, low, NULL, scratch, o, want_mad, o + 2 * CH,
                                  o + 3 * CH, o + 4 * CH, NULL, o + 5 * CH),
             0);
    sio_dsp_br_init(CH, guess);
    for (int round = 0; round < 3; round++) {
        CHECK_EQ(sio_dsp_hop_features_acc(CH, L, 0, L, L, data, hp, low, NULL, acc, guess, mid, scratch), 0);
        for (int64_t c = 0; c < CH; c++)
            CHECK(acc[c * SIO_DSP_FEAT_ACC + SIO_DSP_FEAT_MAD] == want_mad[c]);
    }
}

int main(void)
{
    srand(11);
    for (int64_t L = 4; L <= 9; L++)
        for (int guessed = 0; guessed < 2; guessed++) {
            check_hops(L, 1, guessed, 2, 0);
            check_hops(L, 0, guessed, 2, 0);
            check_hops(L, 1, guessed, 23, 0);
        }
    for (int guessed = 0; guessed < 2; guessed++) {
        check_hops(200, 1, guessed, 2, 0);
        check_hops(200, 1, guessed, 31, 0);
        check_hops(200, 0, guessed, 31, 1);
        for (int64_t L = 1; L <= 6; L++) {
            check_spikes(L, guessed, 2, 0);
            check_spikes(L, guessed, 23, 0);
        }
        check_spikes(200, guessed, 2, 0);
        check_spikes(200, guessed, 31, 0);
        check_spikes(200, guessed, 31, 1);
    }
    near = 1;
    check_hops(200, 1, 1, 61, 0);
    check_spikes(200, 1, 61, 0);
    near = 0;
    check_misuse();
    /* out of range: nothing written */
    double x[8] = {0}, acc[SIO_DSP_FEAT_ACC] = {7}, scratch[8], o[6] = {7, 7, 7, 7, 7, 7};
    uint8_t same[1] = {7};
    double g[SIO_DSP_BR_GUESS] = {0, 1, 2};
    CHECK_EQ(sio_dsp_hop_features_acc(1, 3, 0, 3, 8, x, x, x, NULL, acc, NULL, NULL, NULL), -1); /* L < 4 */
    CHECK_EQ(sio_dsp_hop_features_acc(1, 4, 2, 1, 8, x, x, x, NULL, acc, NULL, NULL, NULL), -1); /* to < from */
    CHECK_EQ(sio_dsp_hop_features_acc(1, 4, 0, 5, 8, x, x, x, NULL, acc, NULL, NULL, NULL), -1); /* past the hop */
    CHECK_EQ(sio_dsp_hop_features_acc(1, 4, 0, 4, 3, x, x, x, NULL, acc, NULL, NULL, NULL), -1); /* stride */
    CHECK_EQ(sio_dsp_hop_features_acc(1, 4, 0, 4, 8, NULL, x, x, NULL, acc, NULL, NULL, NULL), -1);
    CHECK_EQ(sio_dsp_hop_features_acc(-1, 4, 0, 4, 8, x, x, x, NULL, acc, NULL, NULL, NULL), -1);
    CHECK_EQ(sio_dsp_hop_features_acc(1, 4, 0, 4, 8, x, x, x, NULL, acc, g, NULL, scratch), -1); /* no mid */
    CHECK_EQ(sio_dsp_hop_features_acc(1, 4, 0, 4, 8, x, x, x, NULL, acc, g, scratch, NULL), -1); /* no scratch */
    CHECK(acc[0] == 7);
    CHECK_EQ(sio_dsp_hop_features_end(1, 2, 4, 7, x, x, acc, 0, scratch, o, o + 1, o + 2, o + 3, o + 4, NULL, o + 5), -1);
    CHECK_EQ(sio_dsp_hop_features_end(1, 1, 4, 8, x, x, acc, 1, scratch, o, o + 1, o + 2, o + 3, o + 4, NULL, o + 5), -1);
    CHECK_EQ(sio_dsp_hop_features_end(1, 1, 4, 8, x, x, NULL, 0, scratch, o, o + 1, o + 2, o + 3, o + 4, NULL, o + 5), -1);
    CHECK(o[0] == 7 && o[5] == 7 && same[0] == 7);
    CHECK_EQ(sio_dsp_hop_spikes_acc(1, 4, 0, 5, 8, x, 0, o, NULL, NULL, NULL), -1); /* past the hop */
    CHECK_EQ(sio_dsp_hop_spikes_acc(1, 4, 3, 2, 8, x, 0, o, NULL, NULL, NULL), -1);
    CHECK_EQ(sio_dsp_hop_spikes_acc(1, 4, 0, 4, 3, x, 0, o, NULL, NULL, NULL), -1); /* stride */
    CHECK_EQ(sio_dsp_hop_spikes_acc(1, 4, 0, 4, 8, NULL, 0, o, NULL, NULL, NULL), -1);
    CHECK_EQ(sio_dsp_hop_spikes_acc(1, 0, 0, 0, 8, x, 0, o, NULL, NULL, NULL), -1);
    CHECK_EQ(sio_dsp_hop_spikes_acc(1, 4, 0, 4, 8, x, 0, o, NULL, g, scratch), -1); /* no count */
    CHECK_EQ(sio_dsp_hop_spikes_acc(1, 4, 0, 4, 8, x, 0, o, scratch, g, NULL), -1); /* no mid */
    CHECK_EQ(sio_dsp_hop_spikes_end(1, 4, x, scratch, NULL, o, NULL, NULL, NULL), -1);
    CHECK_EQ(sio_dsp_hop_spikes_end(1, 0, x, scratch, o, o, NULL, NULL, NULL), -1);
    CHECK_EQ(sio_dsp_hop_spikes_end(1, 4, x, scratch, o, o, NULL, g, scratch), -1); /* no count */
    CHECK_EQ(sio_dsp_hop_spikes_end(1, 4, x, scratch, o, o, scratch, g, NULL), -1); /* no mid */
    CHECK(o[0] == 7);
    return check_report("test_dsp_hop_sums");
}
