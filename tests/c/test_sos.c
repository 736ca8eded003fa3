/* Lockstep second-order sections (csrc/sio_sos.c) against one channel at a
 * time in scipy's order of operations: identical bits, any channel count;
 * argument checks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sio_sos.h"

#define MAXCH 7
#define N 300
#define SEC 3

static void one_channel(const double *sos, double *x, double *zi)
{
    for (int r = 0; r < N; r++) {
        double v = x[r];
        for (int s = 0; s < SEC; s++) {
            const double *c = sos + 6 * s;
            const double y = c[0] * v + zi[2 * s];
            zi[2 * s] = c[1] * v - c[4] * y + zi[2 * s + 1];
            zi[2 * s + 1] = c[2] * v - c[5] * y;
            v = y;
        }
        x[r] = v;
    }
}

int main(void)
{
    /* three stable sections (poles well inside the unit circle) */
    const double sos[SEC * 6] = {0.2, 0.4, 0.2, 1.0, -0.5, 0.2, 1.0, -2.0, 1.0, 1.0, -1.6, 0.7,
                                 0.9, -1.5, 0.9, 1.0, -1.5, 0.8};
    static double x[MAXCH * N], ref[MAXCH * N], zi[MAXCH * SEC * 2], zref[MAXCH * SEC * 2];
    srand(11);
    for (int ch = 1; ch <= MAXCH; ch++) {
        for (int i = 0; i < ch * N; i++)
            x[i] = ref[i] = (double)rand() / RAND_MAX - 0.5;
        for (int i = 0; i < ch * SEC * 2; i++)
            zi[i] = zref[i] = (double)rand() / RAND_MAX - 0.5;
        for (int c = 0; c < ch; c++)
            one_channel(sos, ref + c * N, zref + c * SEC * 2);
        CHECK_EQ(sio_sos_filter(SEC, sos, ch, N, N, x, zi), 0);
        CHECK(memcmp(x, ref, sizeof(double) * (size_t)(ch * N)) == 0);
        CHECK(memcmp(zi, zref, sizeof(double) * (size_t)(ch * SEC * 2)) == 0);
    }
    CHECK_EQ(sio_sos_filter(0, sos, 1, N, N, x, zi), -1);
    CHECK_EQ(sio_sos_filter(65, sos, 1, N, N, x, zi), -1);
    CHECK_EQ(sio_sos_filter(SEC, sos, 1, N, N - 1, x, zi), -1); /* stride < n */
    CHECK_EQ(sio_sos_filter(SEC, NULL, 1, N, N, x, zi), -1);
    CHECK_EQ(sio_sos_filter(SEC, sos, 1, N, N, NULL, zi), -1);
    CHECK_EQ(sio_sos_filter(SEC, sos, 0, 0, 0, NULL, NULL), 0);
    return check_report("test_sos");
}
