/* sio_dsp_hop_features_acc and _end, sio_dsp_hop_spikes_acc and _end
 * (csrc/sio_dsp.c): a hop's sums taken as its rows come, in pieces of
 * varied sizes, then finished, bit for bit sio_dsp_hop_features and
 * sio_dsp_hop_spikes on the whole hops; exact-size buffers (so the
 * sanitizers see any read past them), and argument checks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sio_dsp.h"

static double noise(void) { return (double)(rand() % 2001 - 1000) / 10.0; }

static void check_hops(int64_t L, int with_codes)
{
    const int64_t ch = 3, m = 2, stride = m * L;
    double *data = malloc((size_t)(ch * stride) * sizeof *data);
    double *hp = malloc((size_t)(ch * stride) * sizeof *hp);
    double *low = malloc((size_t)(ch * stride) * sizeof *low);
    int32_t *codes = malloc((size_t)(ch * stride) * sizeof *codes);
    double *acc = calloc((size_t)(m * ch * SIO_DSP_FEAT_ACC), sizeof *acc);
    double *scratch = malloc((size_t)(2 * L) * sizeof *scratch);
    double *want = malloc((size_t)(6 * ch * m) * sizeof *want);
    double *got = malloc((size_t)(6 * ch * m) * sizeof *got);
    uint8_t want_same[6], got_same[6];
    for (int64_t i = 0; i < ch * stride; i++) {
        data[i] = 1000.0 + noise();
        hp[i] = noise();
        low[i] = noise() / 3.0;
        codes[i] = i < stride ? 5 : rand() % 3; /* channel 0 stuck */
    }
    const int32_t *k = with_codes ? codes : NULL;
    CHECK_EQ(sio_dsp_hop_features(ch, m, L, stride, data, hp, low, k, scratch, want, want + 6,
                                  want + 12, want + 18, want + 24, want_same, want + 30),
             0);
    for (int64_t j = 0; j < m; j++)
        for (int64_t pos = 0; pos < L;) {
            int64_t to = pos + 1 + rand() % 4;
            to = to > L ? L : to;
            CHECK_EQ(sio_dsp_hop_features_acc(ch, L, pos, to, stride, data + j * L, hp + j * L,
                                              low + j * L, k ? k + j * L : NULL,
                                              acc + j * ch * SIO_DSP_FEAT_ACC),
                     0);
            pos = to;
        }
    CHECK_EQ(sio_dsp_hop_features_end(ch, m, L, stride, data, hp, acc, with_codes, scratch, got,
                                      got + 6, got + 12, got + 18, got + 24, got_same, got + 30),
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
}

/* spikes: hop 0 without a row before it, hop 1 reading hop 0's last */
static void check_spikes(int64_t L)
{
    const int64_t ch = 2, m = 2, stride = m * L;
    double *hp = malloc((size_t)(ch * stride) * sizeof *hp);
    double *buf = malloc((size_t)(ch * L) * sizeof *buf);
    double *scratch = malloc((size_t)(2 * L) * sizeof *scratch);
    double want_mad[4], want_peak[4], mad[2], peak[2];
    for (int64_t i = 0; i < ch * stride; i++)
        hp[i] = (double)(rand() % 41 - 20);
    CHECK_EQ(sio_dsp_hop_spikes(ch, m, L, stride, hp, NULL, scratch, want_mad, want_peak), 0);
    for (int64_t j = 0; j < m; j++) {
        for (int64_t pos = 0; pos < L;) {
            int64_t to = pos + 1 + rand() % 3;
            to = to > L ? L : to;
            CHECK_EQ(sio_dsp_hop_spikes_acc(ch, L, pos, to, stride, hp + j * L, j > 0, buf), 0);
            pos = to;
        }
        CHECK_EQ(sio_dsp_hop_spikes_end(ch, L, buf, scratch, mad, peak), 0);
        for (int64_t c = 0; c < ch; c++) {
            CHECK(mad[c] == want_mad[c * m + j]);
            CHECK(peak[c] == want_peak[c * m + j]);
        }
    }
    free(hp);
    free(buf);
    free(scratch);
}

int main(void)
{
    srand(11);
    for (int64_t L = 4; L <= 9; L++) {
        check_hops(L, 1);
        check_hops(L, 0);
    }
    check_hops(200, 1);
    for (int64_t L = 1; L <= 6; L++)
        check_spikes(L);
    check_spikes(200);
    /* out of range: nothing written */
    double x[8] = {0}, acc[SIO_DSP_FEAT_ACC] = {7}, scratch[8], o[6] = {7, 7, 7, 7, 7, 7};
    uint8_t same[1] = {7};
    CHECK_EQ(sio_dsp_hop_features_acc(1, 3, 0, 3, 8, x, x, x, NULL, acc), -1); /* L < 4 */
    CHECK_EQ(sio_dsp_hop_features_acc(1, 4, 2, 1, 8, x, x, x, NULL, acc), -1); /* to < from */
    CHECK_EQ(sio_dsp_hop_features_acc(1, 4, 0, 5, 8, x, x, x, NULL, acc), -1); /* past the hop */
    CHECK_EQ(sio_dsp_hop_features_acc(1, 4, 0, 4, 3, x, x, x, NULL, acc), -1); /* stride */
    CHECK_EQ(sio_dsp_hop_features_acc(1, 4, 0, 4, 8, NULL, x, x, NULL, acc), -1);
    CHECK_EQ(sio_dsp_hop_features_acc(-1, 4, 0, 4, 8, x, x, x, NULL, acc), -1);
    CHECK(acc[0] == 7);
    CHECK_EQ(sio_dsp_hop_features_end(1, 2, 4, 7, x, x, acc, 0, scratch, o, o + 1, o + 2, o + 3, o + 4, NULL, o + 5), -1);
    CHECK_EQ(sio_dsp_hop_features_end(1, 1, 4, 8, x, x, acc, 1, scratch, o, o + 1, o + 2, o + 3, o + 4, NULL, o + 5), -1);
    CHECK_EQ(sio_dsp_hop_features_end(1, 1, 4, 8, x, x, NULL, 0, scratch, o, o + 1, o + 2, o + 3, o + 4, NULL, o + 5), -1);
    CHECK(o[0] == 7 && o[5] == 7 && same[0] == 7);
    CHECK_EQ(sio_dsp_hop_spikes_acc(1, 4, 0, 5, 8, x, 0, o), -1); /* past the hop */
    CHECK_EQ(sio_dsp_hop_spikes_acc(1, 4, 3, 2, 8, x, 0, o), -1);
    CHECK_EQ(sio_dsp_hop_spikes_acc(1, 4, 0, 4, 3, x, 0, o), -1); /* stride */
    CHECK_EQ(sio_dsp_hop_spikes_acc(1, 4, 0, 4, 8, NULL, 0, o), -1);
    CHECK_EQ(sio_dsp_hop_spikes_acc(1, 0, 0, 0, 8, x, 0, o), -1);
    CHECK_EQ(sio_dsp_hop_spikes_end(1, 4, x, scratch, NULL, o), -1);
    CHECK_EQ(sio_dsp_hop_spikes_end(1, 0, x, scratch, o, o), -1);
    CHECK(o[0] == 7);
    return check_report("test_dsp_hop_sums");
}
