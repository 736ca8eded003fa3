/* sio_dsp_mains_acc (csrc/sio_dsp.c): the mains projection hop by hop as rows
 * come, in pieces of varied sizes, bit for bit sio_dsp_mains' figures (the
 * hop before the first counted as zeros); exact-size buffers (so the
 * sanitizers see any read past them), and argument checks. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "sio_dsp.h"

static double noise(void) { return (double)(rand() % 2001 - 1000) / 100.0; }

static void check_k(int64_t k)
{
    const int64_t ch = 3, L = 17, hops = 4, n = hops * L, K = 2 * k;
    double *basis = malloc((size_t)(2 * L * K) * sizeof *basis);
    double *padded = malloc((size_t)(ch * (n + L)) * sizeof *padded); /* zeros, then the rows */
    double *acc = calloc((size_t)(ch * (2 * K + 2)), sizeof *acc);
    double *want_b = malloc((size_t)(ch * hops) * sizeof *want_b);
    double *want_t = malloc((size_t)(ch * hops) * sizeof *want_t);
    uint8_t *want_v = malloc((size_t)(ch * hops));
    double best[3], total[3];
    uint8_t verdict[3];
    for (int64_t i = 0; i < 2 * L * K; i++)
        basis[i] = noise();
    for (int64_t c = 0; c < ch; c++)
        for (int64_t i = 0; i < n + L; i++)
            padded[c * (n + L) + i] = i < L ? 0.0 : noise();
    CHECK_EQ(sio_dsp_mains(ch, hops, L, n + L, padded + L, padded, n + L, basis, k, k / 2, 1e-3, 1.0,
                           0.1, want_b, want_t, want_v),
             0);
    int64_t at = 0, hop = 0;
    while (at < n) {
        int64_t take = 1 + rand() % 7;
        if (take > L - at % L)
            take = L - at % L;
        const int rc = sio_dsp_mains_acc(ch, take, n + L, padded + L + at, L, at % L, basis, k, k / 2,
                                         1e-3, 1.0, 0.1, acc, best, total, verdict);
        at += take;
        CHECK_EQ(rc, at % L == 0);
        if (rc == 1) {
            for (int64_t c = 0; c < ch; c++) {
                CHECK(best[c] == want_b[c * hops + hop]);
                CHECK(total[c] == want_t[c * hops + hop]);
                CHECK(verdict[c] == want_v[c * hops + hop]);
            }
            hop++;
        }
    }
    CHECK_EQ(hop, hops);
    free(basis);
    free(padded);
    free(acc);
    free(want_b);
    free(want_t);
    free(want_v);
}

int main(void)
{
    srand(7);
    check_k(6); /* the usual 50 and 60 Hz with two harmonics */
    check_k(2);
    check_k(0); /* no line below Nyquist */
    /* out of range: nothing written */
    double hp[8] = {0}, basis[8 * 12] = {0}, acc[26] = {0}, best[1] = {7}, total[1] = {7};
    uint8_t verdict[1] = {7};
    CHECK_EQ(sio_dsp_mains_acc(1, 5, 8, hp, 4, 0, basis, 6, 3, 1, 1, 1, acc, best, total, verdict), -1); /* past the hop */
    CHECK_EQ(sio_dsp_mains_acc(1, 2, 8, hp, 4, 3, basis, 6, 3, 1, 1, 1, acc, best, total, verdict), -1);
    CHECK_EQ(sio_dsp_mains_acc(1, 4, 3, hp, 4, 0, basis, 6, 3, 1, 1, 1, acc, best, total, verdict), -1); /* stride */
    CHECK_EQ(sio_dsp_mains_acc(1, 4, 8, hp, 4, 0, basis, 17, 3, 1, 1, 1, acc, best, total, verdict), -1); /* k */
    CHECK_EQ(sio_dsp_mains_acc(1, 4, 8, hp, 4, 0, basis, 6, 7, 1, 1, 1, acc, best, total, verdict), -1); /* split */
    CHECK_EQ(sio_dsp_mains_acc(1, 4, 8, hp, 4, 0, basis, 6, 3, 1, 1, 1, acc, NULL, total, verdict), -1);
    CHECK_EQ(sio_dsp_mains_acc(1, 4, 8, NULL, 4, 0, basis, 6, 3, 1, 1, 1, acc, best, total, verdict), -1);
    CHECK_EQ(sio_dsp_mains_acc(-1, 4, 8, hp, 4, 0, basis, 6, 3, 1, 1, 1, acc, best, total, verdict), -1);
    CHECK_EQ(sio_dsp_mains_acc(1, 4, 8, hp, 0, 0, basis, 6, 3, 1, 1, 1, acc, best, total, verdict), -1);
    CHECK(best[0] == 7 && total[0] == 7 && verdict[0] == 7 && acc[0] == 0);
    CHECK_EQ(sio_dsp_mains_acc(1, 2, 8, hp, 4, 0, basis, 6, 3, 1, 1, 1, acc, NULL, NULL, NULL), 0); /* not complete: no outputs needed */
    return check_report("test_dsp_mains");
}
