/* Moving RMS envelope (csrc/sio_env.c): against a direct sum over each
 * window, in awkward chunkings, with invalid samples, for a window shorter
 * and one longer than the rows sio_env_rms takes its roots of at once;
 * argument checks. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sio_env.h"

#define CH 3
#define N 700
#define W 25
#define W_MAX 150 /* segments of more rows than SIO_ENV_CHUNK */

static double x[CH * N], out[CH * N];
static uint8_t valid[CH * N], ok[CH * N];
static double seg_sq[CH * W_MAX], seg_n[CH * W_MAX], suf_sq[CH * (W_MAX + 1)], suf_n[CH * (W_MAX + 1)];
static double pre_sq[CH], pre_n[CH];

static void reset_state(sio_env_state *st, int w)
{
    memset(seg_sq, 0, sizeof seg_sq);
    memset(seg_n, 0, sizeof seg_n);
    memset(suf_sq, 0, sizeof suf_sq);
    memset(suf_n, 0, sizeof suf_n);
    memset(pre_sq, 0, sizeof pre_sq);
    memset(pre_n, 0, sizeof pre_n);
    *st = (sio_env_state){w, 0, seg_sq, seg_n, suf_sq, suf_n, pre_sq, pre_n};
}

/* run the stream in chunks of the given sizes (cycled) into out/ok */
static void run_chunked(int w, const int *sizes, int n_sizes)
{
    sio_env_state st;
    reset_state(&st, w);
    static double cx[CH * N], cout[CH * N];
    static uint8_t cv[CH * N], cok[CH * N];
    int at = 0, k = 0;
    while (at < N) {
        int rows = sizes[k++ % n_sizes];
        if (rows > N - at)
            rows = N - at;
        for (int c = 0; c < CH; c++) {
            memcpy(cx + c * rows, x + c * N + at, (size_t)rows * sizeof(double));
            memcpy(cv + c * rows, valid + c * N + at, (size_t)rows);
        }
        CHECK_EQ(sio_env_rms(&st, CH, rows, rows, cx, cv, cout, cok), 0);
        for (int c = 0; c < CH; c++) {
            memcpy(out + c * N + at, cout + c * rows, (size_t)rows * sizeof(double));
            memcpy(ok + c * N + at, cok + c * rows, (size_t)rows);
        }
        at += rows;
    }
}

/* one window of w samples: against the direct sums, and bit for bit in any chunking */
static void check_window(int w)
{
    const int plain[] = {N};
    const int odd[] = {1, 7, 24, 25, 26, 3, 100, 149, 151, 64, 65};
    static double ref_out[CH * N];
    static uint8_t ref_ok[CH * N];
    run_chunked(w, plain, 1);
    memcpy(ref_out, out, sizeof out);
    memcpy(ref_ok, ok, sizeof ok);
    int bad = 0, same = 0;
    for (int c = 0; c < CH; c++) {
        for (int r = 0; r < N; r++) {
            double s = 0.0, n = 0.0;
            for (int j = r - w + 1; j <= r; j++) {
                if (j >= 0 && valid[c * N + j]) {
                    s += x[c * N + j] * x[c * N + j];
                    n += 1.0;
                }
            }
            const int i = c * N + r;
            if ((n > 0) != (ref_ok[i] != 0))
                bad++;
            else if (n > 0 && fabs(sqrt(s / n) - ref_out[i]) > 1e-9 * (1.0 + sqrt(s / n)))
                bad++;
        }
    }
    CHECK_EQ(bad, 0);
    run_chunked(w, odd, (int)(sizeof odd / sizeof odd[0]));
    for (int i = 0; i < CH * N; i++)
        same += (ok[i] == ref_ok[i]) && (ok[i] ? out[i] == ref_out[i] : isnan(out[i]));
    CHECK_EQ(same, CH * N); /* bit for bit in any chunking */
    /* silence after the loud stretch: exactly zero, no rounding residue */
    int zero = 0;
    for (int r = 300 + w; r < N; r++)
        zero += !ref_ok[2 * N + r] || ref_out[2 * N + r] == 0.0;
    CHECK_EQ(zero, N - 300 - w);
}

int main(void)
{
    srand(7);
    for (int i = 0; i < CH * N; i++) {
        x[i] = ((double)rand() / RAND_MAX - 0.5) * (i % N < 300 ? 2000.0 : 2.0);
        if (i / N == 2 && i % N >= 300)
            x[i] = 0.0; /* silence after a loud stretch */
        /* gaps: one longer than W (channel 0), one longer than W_MAX (channel 1) */
        valid[i] = (i % 97) < 90 && !(i >= 400 && i < 440) && !(i >= N + 500 && i < N + 670);
    }
    check_window(W);
    check_window(W_MAX);
    sio_env_state st;
    reset_state(&st, W);
    CHECK_EQ(sio_env_rms(NULL, CH, 1, 1, x, NULL, out, ok), -1);
    CHECK_EQ(sio_env_rms(&st, CH, 5, 4, x, NULL, out, ok), -1); /* stride < rows */
    CHECK_EQ(sio_env_rms(&st, -1, 5, 5, x, NULL, out, ok), -1);
    st.pos = W + 1; /* corrupt state (W: a segment complete) */
    CHECK_EQ(sio_env_rms(&st, CH, 5, 5, x, NULL, out, ok), -1);
    st.pos = 0;
    st.w = 0;
    CHECK_EQ(sio_env_rms(&st, CH, 5, 5, x, NULL, out, ok), -1);
    reset_state(&st, W);
    CHECK_EQ(sio_env_rms(&st, CH, 0, 0, NULL, NULL, NULL, NULL), 0);
    return check_report("test_env");
}
