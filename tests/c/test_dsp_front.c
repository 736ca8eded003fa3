/* sio_dsp_front_run (csrc/sio_dsp.c): channels run together (two at a time
 * in lockstep, in the lanes of one register where the compiler has vector
 * extensions) give each channel's outputs and carried state bit for bit as
 * that channel run alone (one at a time: the scalar loop), block after
 * block, with spikes that hold the low band out long enough to re-prime it,
 * a channel that goes invalid for a while, and blocks of 1 to 45 rows.
 * Exact-size buffers, so the sanitizers see any access past them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sio_dsp.h"

#define CH 7
#define ROWS 3000

/* the filters: a 1-section high-pass and a 2-section band, stable */
static const double HP_SOS[6] = {0.94, -1.88, 0.94, 1.0, -1.877, 0.8819};
static const double HP_UNIT[2] = {-0.94, 0.94};
static const double LOW_SOS[12] = {0.02, 0.04, 0.02, 1.0, -1.56, 0.64,
                                   1.0,  -2.0, 1.0,  1.0, -1.97, 0.9704};
static const double LOW_UNIT[4] = {0.05, -0.03, 0.01, -0.01};

typedef struct {
    int64_t prev_code[CH], same_run[CH], bad_run[CH], last_restart[CH], last_rail[CH];
    int64_t last_spiky[CH], hp_inv[CH], low_inv[CH];
    double ema_last[CH], hp_zi[2 * CH], hp_held[CH], low_zi[4 * CH], low_held[CH];
    sio_dsp_front st;
} front;

static uint64_t rng = 0x9E3779B97F4A7C15u;
static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* the state of channels c0.. (ch of them) of a detector: its values copied
 * from the whole state w (NULL: fresh) */
static void front_init(front *f, int64_t ch, const front *w, int64_t c0)
{
    memset(f, 0, sizeof *f);
    for (int64_t c = 0; c < ch; c++) {
        f->prev_code[c] = -1;
        f->last_restart[c] = -1000000;
        f->last_rail[c] = -1000000;
        f->last_spiky[c] = -1000000;
        f->ema_last[c] = 30.0;
        f->hp_held[c] = f->low_held[c] = 0.0;
        if (w) {
            const int64_t s = c0 + c;
            f->prev_code[c] = w->prev_code[s];
            f->ema_last[c] = w->ema_last[s];
        }
    }
    sio_dsp_front *st = &f->st;
    st->stuck_run = 50;
    st->restart = 20;
    st->settle = 40;
    st->settle_start = 40;
    st->blank = 10;
    st->spike_pad = 2;
    st->ema_a = 0.02;
    st->ema_a1 = 0.02 - 1.0;
    st->spike_k = 6.0;
    st->spike_min = 100.0; /* above spike_k x the mean at times, below it at others */
    st->has_range = 1;
    st->has_zero = 1;
    st->code_lo = -8000000;
    st->code_hi = 8000000;
    st->code_zero = 0;
    st->prev_code = f->prev_code;
    st->same_run = f->same_run;
    st->bad_run = f->bad_run;
    st->last_restart = f->last_restart;
    st->last_rail = f->last_rail;
    st->ema_last = f->ema_last;
    st->last_spiky = f->last_spiky;
    st->hp = (sio_dsp_sos){1, HP_SOS, HP_UNIT, f->hp_zi, f->hp_held, f->hp_inv, 3};
    st->low = (sio_dsp_sos){2, LOW_SOS, LOW_UNIT, f->low_zi, f->low_held, f->low_inv, 2};
}

/* a field of channel c of state f, next to that of channel 0 of one */
static int same_state(const front *f, int64_t c, const front *one)
{
    const size_t d = sizeof(double), i = sizeof(int64_t);
    return !memcmp(&f->last_spiky[c], &one->last_spiky[0], i) &&
           !memcmp(&f->hp_inv[c], &one->hp_inv[0], i) &&
           !memcmp(&f->low_inv[c], &one->low_inv[0], i) &&
           !memcmp(&f->ema_last[c], &one->ema_last[0], d) &&
           !memcmp(&f->hp_zi[2 * c], &one->hp_zi[0], 2 * d) &&
           !memcmp(&f->hp_held[c], &one->hp_held[0], d) &&
           !memcmp(&f->low_zi[4 * c], &one->low_zi[0], 4 * d) &&
           !memcmp(&f->low_held[c], &one->low_held[0], d) &&
           !memcmp(&f->same_run[c], &one->same_run[0], i) &&
           !memcmp(&f->bad_run[c], &one->bad_run[0], i);
}

int main(void)
{
    /* the signal, channel-major: noise, slow swings, spikes in runs */
    double *x = malloc(sizeof(double) * CH * ROWS);
    uint8_t *valid = malloc(CH * ROWS);
    int32_t *codes = malloc(sizeof(int32_t) * CH * ROWS);
    int spikes = 0;
    for (int64_t c = 0; c < CH; c++) {
        for (int64_t r = 0; r < ROWS; r++) {
            double v = 40.0 * (uniform() - 0.5) + 300.0 * (double)((r / 400 + c) % 3);
            if (uniform() < 0.004 + 0.002 * (double)c) { /* a spike, sometimes a run */
                v += (uniform() < 0.5 ? -1 : 1) * 5000.0;
                spikes++;
            }
            x[c * ROWS + r] = v;
            codes[c * ROWS + r] = (int32_t)(v * 10.0);
            /* channel 3 invalid for a while: the scalar path for its pair */
            valid[c * ROWS + r] = !(c == 3 && r >= 1200 && r < 1290);
        }
    }
    CHECK(spikes > 40);

    /* all CH channels at once, and each alone, in the same blocks */
    front *all = malloc(sizeof *all);
    front *one = malloc(sizeof(front) * CH);
    front_init(all, CH, NULL, 0);
    for (int64_t c = 0; c < CH; c++)
        front_init(&one[c], 1, all, c);
    enum { NF = 7 };
    uint8_t *fa[NF], *fo[NF];
    for (int k = 0; k < NF; k++) {
        fa[k] = malloc(CH * ROWS);
        fo[k] = malloc(CH * ROWS);
    }
    double *ha = malloc(sizeof(double) * CH * ROWS), *la = malloc(sizeof(double) * CH * ROWS);
    double *ho = malloc(sizeof(double) * CH * ROWS), *lo = malloc(sizeof(double) * CH * ROWS);
    int64_t at = 0, blocks = 0, quiet = 0;
    int state_ok = 1;
    while (at < ROWS) {
        int64_t n = 1 + (int64_t)(uniform() * 45.0);
        n = n > ROWS - at ? ROWS - at : n;
        /* channel-major with stride ROWS: channel c's row r at c * ROWS + r */
        const int rc = sio_dsp_front_run(&all->st, n, CH, ROWS, at, x + at, valid + at,
                                         codes + at, NULL, fa[0] + at, fa[1] + at, fa[2] + at,
                                         fa[3] + at, fa[4] + at, fa[5] + at, fa[6] + at, ha + at,
                                         la + at);
        CHECK(rc == 0 || rc == 1);
        quiet += rc == 1;
        int all_quiet = 1;
        for (int64_t c = 0; c < CH; c++) {
            const int64_t o = c * ROWS + at;
            const int r1 = sio_dsp_front_run(&one[c].st, n, 1, n, at, x + o, valid + o,
                                             codes + o, NULL, fo[0] + o, fo[1] + o, fo[2] + o,
                                             fo[3] + o, fo[4] + o, fo[5] + o, fo[6] + o,
                                             ho + o, lo + o);
            CHECK(r1 == 0 || r1 == 1);
            all_quiet &= r1 == 1;
            state_ok &= same_state(all, c, &one[c]);
        }
        CHECK_EQ(rc, all_quiet); /* quiet: every channel's block is */
        at += n;
        blocks++;
    }
    CHECK(blocks > 100);
    CHECK(quiet > 10); /* blocks on the usual path */
    CHECK(quiet < blocks);
    CHECK(state_ok);
    CHECK(!memcmp(ha, ho, sizeof(double) * CH * ROWS));
    CHECK(!memcmp(la, lo, sizeof(double) * CH * ROWS));
    for (int k = 0; k < NF; k++)
        CHECK(!memcmp(fa[k], fo[k], CH * ROWS));
    /* the low band was re-primed after spikes: held out 2 or more rows */
    int64_t held = 0;
    for (int64_t i = 0; i < CH * ROWS; i++)
        held += fa[5][i];
    CHECK(held > 100);

    for (int k = 0; k < NF; k++) {
        free(fa[k]);
        free(fo[k]);
    }
    free(ha);
    free(la);
    free(ho);
    free(lo);
    free(all);
    free(one);
    free(x);
    free(valid);
    free(codes);
    return check_report("test_dsp_front");
}
