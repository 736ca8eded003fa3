/* sio_dsp_latch_hop (csrc/sio_dsp.c): one hop of the fault detector's
 * hysteresis, by hand: a kind turning on after its on hops in a row and off
 * after its off hops without, the onset of a run and the end of the last
 * flagged row carried, first and last flagged rows or none, and argument
 * checks. tests/test_dsp_native.py checks it against its numpy reference
 * (FaultDetector._latch) hop after hop. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "sio_dsp.h"

#define N 3
#define NEVER (-(INT64_C(1) << 62))

typedef struct {
    int64_t lf[N], lt[N], onset[N], flag[N];
    uint8_t was[N];
} marks;

static int step(marks *m, int64_t g, int64_t start, int64_t on_n, int64_t off_n,
                const uint8_t *cond, const int64_t *first, const int64_t *last, uint8_t *active,
                uint8_t *on, uint8_t *off, int64_t *clean)
{
    int rc = sio_dsp_latch_hop(N, g, start, on_n, off_n, cond, m->was, first, last, m->lf, m->lt,
                               m->onset, m->flag, active, on, off, clean);
    memcpy(m->was, active, N);
    return rc;
}

int main(void)
{
    marks m;
    for (int c = 0; c < N; c++) {
        m.lf[c] = 9; /* the hop before the first: clean */
        m.lt[c] = m.onset[c] = m.flag[c] = NEVER;
        m.was[c] = 0;
    }
    uint8_t active[N], on[N], off[N];
    int64_t clean[N];
    /* on after 2 hops, off after 3: channel 0 holds its condition for 3
     * hops, channel 1 for 1, channel 2 never */
    const uint8_t yes[N] = {1, 1, 0}, cont[N] = {1, 0, 0}, none[N] = {0, 0, 0};
    const int64_t first[N] = {7, 7, 7}, last[N] = {9, 9, 9};
    CHECK_EQ(step(&m, 10, 2000, 2, 3, yes, first, last, active, on, off, clean), 0);
    CHECK(active[0] == 0 && active[1] == 0 && on[0] == 0 && off[0] == 0);
    CHECK(m.onset[0] == 2007 && m.onset[1] == 2007 && m.onset[2] == NEVER); /* a run begins */
    CHECK(m.flag[0] == 2010 && m.flag[2] == NEVER && m.lf[0] == 9 && m.lf[2] == 10);
    CHECK(clean[0] == 0 && clean[2] == 10 - NEVER);
    CHECK_EQ(step(&m, 11, 2200, 2, 3, cont, NULL, NULL, active, on, off, clean), 0);
    CHECK(active[0] == 1 && on[0] == 1 && active[1] == 0 && on[1] == 0);
    CHECK(m.onset[0] == 2007 && m.flag[0] == 2200 && m.lt[1] == 10 && clean[1] == 1);
    CHECK_EQ(step(&m, 12, 2400, 2, 3, cont, NULL, NULL, active, on, off, clean), 0);
    CHECK(active[0] == 1 && on[0] == 0 && off[0] == 0);
    /* the condition ends: still on for 2 hops, off at the third */
    for (int64_t g = 13; g <= 15; g++) {
        CHECK_EQ(step(&m, g, 200 * g, 2, 3, none, NULL, NULL, active, on, off, clean), 0);
        CHECK_EQ(active[0], g < 15);
        CHECK_EQ(off[0], g == 15);
        CHECK_EQ(clean[0], g - 12);
    }
    CHECK(m.onset[0] == 2007 && m.flag[0] == 2400 && m.lt[0] == 12 && m.lf[0] == 15);
    /* on at once (1 hop), a flag at the hop's start without rows given */
    CHECK_EQ(step(&m, 16, 3200, 1, 2, yes, NULL, NULL, active, on, off, clean), 0);
    CHECK(on[0] == 1 && on[1] == 1 && on[2] == 0 && m.onset[1] == 3200 && m.flag[1] == 3200);

    /* arguments */
    CHECK_EQ(sio_dsp_latch_hop(-1, 1, 0, 1, 1, yes, m.was, NULL, NULL, m.lf, m.lt, m.onset, m.flag,
                               active, on, off, clean),
             -1);
    const uint8_t *in[2] = {yes, m.was};
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(sio_dsp_latch_hop(N, 1, 0, 1, 1, i == 0 ? NULL : in[0], i == 1 ? NULL : in[1],
                                   NULL, NULL, m.lf, m.lt, m.onset, m.flag, active, on, off, clean),
                 -1);
    }
    int64_t *io[4] = {m.lf, m.lt, m.onset, m.flag};
    for (int i = 0; i < 4; i++) {
        int64_t *p[4] = {io[0], io[1], io[2], io[3]};
        p[i] = NULL;
        CHECK_EQ(sio_dsp_latch_hop(N, 1, 0, 1, 1, yes, m.was, NULL, NULL, p[0], p[1], p[2], p[3],
                                   active, on, off, clean),
                 -1);
    }
    CHECK_EQ(sio_dsp_latch_hop(N, 1, 0, 1, 1, yes, m.was, NULL, NULL, m.lf, m.lt, m.onset, m.flag,
                               NULL, on, off, clean),
             -1);
    CHECK_EQ(sio_dsp_latch_hop(N, 1, 0, 1, 1, yes, m.was, NULL, NULL, m.lf, m.lt, m.onset, m.flag,
                               active, NULL, off, clean),
             -1);
    CHECK_EQ(sio_dsp_latch_hop(N, 1, 0, 1, 1, yes, m.was, NULL, NULL, m.lf, m.lt, m.onset, m.flag,
                               active, on, NULL, clean),
             -1);
    CHECK_EQ(sio_dsp_latch_hop(N, 1, 0, 1, 1, yes, m.was, NULL, NULL, m.lf, m.lt, m.onset, m.flag,
                               active, on, off, NULL),
             -1);
    CHECK_EQ(sio_dsp_latch_hop(0, 1, 0, 1, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                               NULL, NULL, NULL),
             0);
    return check_report("test_dsp_latch");
}
