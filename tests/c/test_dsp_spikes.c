/* sio_dsp_hop_spikes (csrc/sio_dsp.c): the second difference's median and
 * peak per hop against a direct computation (each hop's last sample 0),
 * exact-size buffers (so the sanitizers see any read past them), a missing
 * sample before, and argument checks; sio_dsp_spike_signal likewise. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "sio_dsp.h"

static int cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median (rank L / 2 of the sorted values) and largest of |d| over one hop */
static void reference(const double *h, int64_t j, int64_t L, const double *before, double *mad,
                      double *peak)
{
    double *v = malloc((size_t)L * sizeof *v);
    double top = 0.0;
    for (int64_t i = 0; i < L; i++) {
        const int64_t r = j * L + i;
        double d = 0.0;
        if (!((r == 0 && !before) || i == L - 1)) {
            const double left = r ? h[r - 1] : *before;
            d = fabs(h[r] - 0.5 * (left + h[r + 1]));
        }
        v[i] = d;
        top = d > top ? d : top;
    }
    qsort(v, (size_t)L, sizeof *v, cmp);
    *mad = v[L / 2];
    *peak = top;
    free(v);
}

/* sio_dsp_spike_signal against the definition, every combination of ends:
 * rows 0..n-1 of a stride n + 1 buffer (row n read only with has_after) */
static void check_spike_signal(void)
{
    const int64_t ch = 3, n = 6, stride = n + 1;
    double *hp = malloc((size_t)(ch * stride) * sizeof *hp);
    uint8_t *ok = malloc((size_t)(ch * stride));
    double *out = malloc((size_t)(ch * stride) * sizeof *out);
    const double before[3] = {1.5, -2.0, 0.25};
    const uint8_t ok_before[3] = {1, 0, 1};
    for (int64_t i = 0; i < ch * stride; i++) {
        hp[i] = (double)(rand() % 41 - 20) / 4.0;
        ok[i] = (uint8_t)(rand() % 5 != 0);
    }
    for (int second = 0; second < 2; second++)
        for (int ends = 0; ends < 4; ends++) {
            const int has_before = ends & 1, has_after = (ends >> 1) & 1;
            for (int64_t i = 0; i < ch * stride; i++)
                out[i] = 99.0;
            CHECK_EQ(sio_dsp_spike_signal(ch, n, stride, hp, ok, has_after, has_before ? before : NULL,
                                          has_before ? ok_before : NULL, second, out),
                     0);
            for (int64_t c = 0; c < ch; c++) {
                const double *h = hp + c * stride;
                const uint8_t *k = ok + c * stride;
                for (int64_t r = 0; r < n; r++) {
                    double want;
                    if (!second) {
                        want = k[r] ? h[r] : 0.0;
                    } else if ((r == 0 && !has_before) || (r == n - 1 && !has_after)) {
                        want = 0.0;
                    } else {
                        const int ok_left = r ? k[r - 1] : ok_before[c];
                        const double left = r ? h[r - 1] : before[c];
                        want = ok_left && k[r] && k[r + 1] ? h[r] - 0.5 * (left + h[r + 1]) : 0.0;
                    }
                    CHECK(out[c * stride + r] == want);
                }
                CHECK(out[c * stride + n] == 99.0); /* row n is not written */
            }
        }
    /* out of range: nothing written */
    out[0] = 7.0;
    CHECK_EQ(sio_dsp_spike_signal(ch, n, n, hp, ok, 1, NULL, NULL, 1, out), -1); /* no row n */
    CHECK_EQ(sio_dsp_spike_signal(-1, n, stride, hp, ok, 0, NULL, NULL, 1, out), -1);
    CHECK_EQ(sio_dsp_spike_signal(ch, -1, stride, hp, ok, 0, NULL, NULL, 1, out), -1);
    CHECK_EQ(sio_dsp_spike_signal(ch, INT64_MAX, INT64_MAX, hp, ok, 1, NULL, NULL, 1, out), -1);
    CHECK_EQ(sio_dsp_spike_signal(ch, n, stride, NULL, ok, 0, NULL, NULL, 1, out), -1);
    CHECK_EQ(sio_dsp_spike_signal(ch, n, stride, hp, ok, 0, NULL, NULL, 1, NULL), -1);
    CHECK(out[0] == 7.0);
    CHECK_EQ(sio_dsp_spike_signal(0, n, stride, NULL, NULL, 0, NULL, NULL, 1, NULL), 0); /* nothing to do */
    free(hp);
    free(ok);
    free(out);
}

int main(void)
{
    srand(5);
    for (int64_t L = 1; L <= 9; L += 4) {
        for (int ends = 0; ends < 2; ends++) {
            const int64_t ch = 3, m = 4, n = m * L;
            double *hp = malloc((size_t)(ch * n) * sizeof *hp);
            double *scratch = malloc((size_t)(2 * L) * sizeof *scratch);
            double *mad = malloc((size_t)(ch * m) * sizeof *mad);
            double *peak = malloc((size_t)(ch * m) * sizeof *peak);
            double before[3] = {1.5, -2.0, 0.25};
            for (int64_t i = 0; i < ch * n; i++)
                hp[i] = (double)(rand() % 41 - 20); /* ties, as quantised signals have */
            const double *b = ends ? before : NULL;
            CHECK_EQ(sio_dsp_hop_spikes(ch, m, L, n, hp, b, scratch, mad, peak), 0);
            for (int64_t c = 0; c < ch; c++)
                for (int64_t j = 0; j < m; j++) {
                    double rm, rp;
                    reference(hp + c * n, j, L, b ? b + c : NULL, &rm, &rp);
                    CHECK(mad[c * m + j] == rm);
                    CHECK(peak[c * m + j] == rp);
                }
            free(hp);
            free(scratch);
            free(mad);
            free(peak);
        }
    }
    /* out of range: nothing written */
    double hp[8] = {0}, scratch[4], mad[2] = {7, 7}, peak[2] = {7, 7};
    CHECK_EQ(sio_dsp_hop_spikes(1, 2, 4, 7, hp, NULL, scratch, mad, peak), -1); /* stride < m L */
    CHECK_EQ(sio_dsp_hop_spikes(1, 2, 0, 8, hp, NULL, scratch, mad, peak), -1);
    CHECK_EQ(sio_dsp_hop_spikes(-1, 2, 4, 8, hp, NULL, scratch, mad, peak), -1);
    CHECK_EQ(sio_dsp_hop_spikes(1, INT64_MAX / 2, 4, INT64_MAX, hp, NULL, scratch, mad, peak), -1);
    CHECK_EQ(sio_dsp_hop_spikes(1, 2, 4, 8, NULL, NULL, scratch, mad, peak), -1);
    CHECK(mad[0] == 7 && peak[1] == 7);
    check_spike_signal();
    return check_report("test_dsp_spikes");
}
