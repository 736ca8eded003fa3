/* sio_dsp_judge_hop (csrc/sio_dsp.c): the rest of a usual hop after its
 * mains test, by hand on channels that each take one rule (a quiet hop
 * teaching every level, broadband noise, a blocked hop, a mains run, a
 * settling hop, a sure mains run after a gap), the hops it leaves to the
 * reference (a channel's first judged hop, its first usable one, a motion
 * candidate) writing nothing, and argument checks. tests/test_dsp_native.py checks it against
 * its numpy reference (FaultDetector._hop_conditions) bit for bit. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "sio_dsp.h"

#define N 6
#define G 100

static sio_dsp_judge_set settings(void)
{
    sio_dsp_judge_set s;
    memset(&s, 0, sizeof s);
    s.learn = (sio_dsp_learn_set){
        .motion_uv = 40.0, .motion_rel = 1.5, .motion_loud_rel = 2.5, .motion_share = 0.6,
        .motion_loud_share = 0.12, .spike_rel = 2.75, .spike_own = 10.0 * 1.4826, .floor_k = 10.0,
        .learn_up = 0.05, .learn_down = 0.05 / 9.0, .learn_rise = 0.3,
    };
    s.noise_share = 0.3;
    s.noise_k2 = 36.0;
    s.ring_decay = 0.5;
    s.ring_build = 2.0;
    s.early_hops = 3;
    s.noise_hops = 4;
    s.gap_hops = 2;
    s.mains_n = 3;
    s.mains_sure_n = 2;
    s.mains_first = -600;
    s.mains_sure_first = -400;
    return s;
}

/* the carried state, as arrays the state struct points into */
typedef struct {
    double q_hf[N], noise_ms[N], q_low[N], q_rest[N], q_peak[N], q_ref[N], ring_ref[N], q_sd[N];
    int64_t last_noise[N], settle_hops[N];
    uint8_t low_set[N], hf_set[N], rest_set[N], peak_set[N], sd_set[N], motion_prev[2 * N], motion_rising[N];
    uint8_t mains_hist[3 * N], sure_hist[3 * N];
} state_arrays;

static void fresh(state_arrays *a)
{
    memset(a, 0, sizeof *a); /* (its padding too: the fallback cases compare it whole) */
    for (int c = 0; c < N; c++) {
        a->q_hf[c] = 0.5;
        a->noise_ms[c] = 3.0;
        a->q_low[c] = 1.0;
        a->q_rest[c] = 0.0;
        a->q_peak[c] = 2.0;
        a->q_ref[c] = 1.5;
        a->ring_ref[c] = 8.0;
        a->q_sd[c] = 1.5;
        a->last_noise[c] = -(INT64_C(1) << 62);
        a->settle_hops[c] = 0;
        a->low_set[c] = 1;
        a->hf_set[c] = 1;
        a->rest_set[c] = 1;
        a->peak_set[c] = 1;
        a->sd_set[c] = c != 0; /* channel 0: the spike level's first hop */
        a->motion_prev[2 * c] = a->motion_prev[2 * c + 1] = 1;
        a->motion_rising[c] = 1;
        for (int j = 0; j < 3; j++)
            a->mains_hist[3 * c + j] = a->sure_hist[3 * c + j] = 1;
    }
    a->settle_hops[4] = 5; /* settling for a while: no longer early */
    a->mains_hist[3 * 5] = a->sure_hist[3 * 5] = 0; /* 5: only the sure run holds */
}

static sio_dsp_judge_state point(state_arrays *a)
{
    return (sio_dsp_judge_state){
        .q_hf = a->q_hf, .noise_ms = a->noise_ms, .q_low = a->q_low, .q_rest = a->q_rest,
        .q_peak = a->q_peak, .q_ref = a->q_ref, .ring_ref = a->ring_ref, .q_sd = a->q_sd,
        .last_noise = a->last_noise, .settle_hops = a->settle_hops, .low_set = a->low_set,
        .hf_set = a->hf_set, .rest_set = a->rest_set, .peak_set = a->peak_set, .sd_set = a->sd_set, .motion_prev = a->motion_prev,
        .motion_rising = a->motion_rising, .mains_hist = a->mains_hist, .sure_hist = a->sure_hist,
    };
}

int main(void)
{
    const sio_dsp_judge_set set = settings();
    /* 0: quiet, teaches; 1: broadband noise; 2: blocked (its noise share and
     * mains test do not count); 3: a mains run; 4: settling; 5: after a gap,
     * a sure mains run */
    const uint8_t blocked[N] = {0, 0, 1, 0, 0, 0}, live[N] = {1, 1, 0, 1, 1, 1};
    const uint8_t mains[N] = {0, 0, 1, 1, 0, 1}, sure[N] = {0, 0, 1, 1, 0, 1};
    const uint8_t settling[N] = {0, 0, 0, 0, 1, 0}, spiked[N] = {0, 0, 0, 0, 0, 0};
    double hp_ms[N], low_ms[N], hf_ms[N], peak[N], mad[N], sd_med[N], sd_peak[N];
    double logs[4 * N], pows[6 * N];
    int64_t last_gap[N];
    for (int c = 0; c < N; c++) {
        hp_ms[c] = 100.0;
        low_ms[c] = 10.0; /* a share of 0.09: the band came with the rest */
        hf_ms[c] = c == 1 || c == 2 ? 50.0 : 5.0;
        peak[c] = 50.0;
        mad[c] = 5.0;
        sd_med[c] = 4.0;
        sd_peak[c] = 40.0;
        last_gap[c] = c == 5 ? G - 1 : -(INT64_C(1) << 62);
        logs[c] = log10(hf_ms[c]);
        logs[N + c] = log10(low_ms[c]);
        logs[2 * N + c] = log10(peak[c]);
        logs[3 * N + c] = log10(sd_peak[c]);
        const double p[6] = {1.0, 10.0, 1.0, 100.0, 100.0, 100.0};
        for (int k = 0; k < 6; k++)
            pows[k * N + c] = p[k];
    }
    sio_dsp_judge_in in = {
        .blocked = blocked, .live = live, .mains = mains, .mains_sure = sure,
        .settling = settling, .spiked = spiked, .hp_ms = hp_ms, .low_ms = low_ms,
        .hf_ms = hf_ms, .peak = peak, .mad = mad, .sd_med = sd_med, .sd_peak = sd_peak,
        .logs = logs, .pows = pows, .last_gap = last_gap,
    };
    state_arrays a;
    fresh(&a);
    sio_dsp_judge_state st = point(&a);
    uint8_t noise[N], on[N];
    int64_t first[N];
    double mfloor[N], smad[N];
    CHECK_EQ(sio_dsp_judge_hop(N, G, &set, &in, &st, noise, on, first, mfloor, smad), 0);
    const double up = 0.05, down = 0.05 / 9.0;
    for (int c = 0; c < N; c++) {
        CHECK_EQ(noise[c], c == 1);
        CHECK(mfloor[c] == 100.0);                     /* min(40, 10 x 1) squared */
        CHECK(smad[c] == 275.0 / (10.0 * 1.4826));    /* the spike floor over the own-hop factor */
        CHECK(a.ring_ref[c] == 20.0);                 /* 8 x 0.5, up to 2 x the band (broad) */
        CHECK(a.motion_prev[2 * c] == 1 && a.motion_prev[2 * c + 1] == 0 && a.motion_rising[c] == 0);
        CHECK_EQ(a.settle_hops[c], c == 4 ? 6 : 0);
    }
    /* the noise floor learns from the live hops without a verdict (down:
     * 0.5 log10(5) is below 0.5); the noise hop is remembered */
    CHECK(a.q_hf[0] == 0.5 - up && a.q_hf[1] == 0.5 && a.q_hf[2] == 0.5 && a.q_hf[3] == 0.5 - up);
    CHECK(a.last_noise[1] == G && a.noise_ms[1] == 50.0);
    CHECK(a.last_noise[0] < 0 && a.noise_ms[0] == 3.0);
    /* judged (0, 3): the band's level down (a ninth of a step), its rest up */
    CHECK(a.q_low[0] == 1.0 - down && a.q_rest[0] == 0.0 + down && a.q_ref[0] == 2.0);
    CHECK(a.q_low[3] == 1.0 - down && a.q_ref[3] == 2.0);
    /* not judged: noise, blocked, settling, after a gap; the band's rest
     * learns while settling, after the early hops, too */
    for (int c = 1; c < N; c++)
        if (c != 3)
            CHECK(a.q_low[c] == 1.0 && a.q_rest[c] == (c == 4 ? 0.0 + down : 0.0) && a.q_ref[c] == 1.5);
    /* the peaks learn where no fault of the hop's own (noise, blocked, mains) */
    const double lp = log10(40.0);
    CHECK(a.q_peak[0] == 2.0 - down && a.q_peak[4] == 2.0 - down);
    CHECK(a.q_peak[1] == 2.0 && a.q_peak[2] == 2.0 && a.q_peak[3] == 2.0 && a.q_peak[5] == 2.0);
    CHECK(a.q_sd[0] == (1.5 + up > lp ? 1.5 + up : lp) && a.sd_set[0] == 1); /* its first hop */
    CHECK(a.q_sd[4] == 1.5 + up && a.q_sd[1] == 1.5 && a.q_sd[3] == 1.5);
    /* mains: 3 a run of four hops, 5 a sure run of three; 2 is blocked */
    CHECK(on[0] == 0 && on[2] == 0 && on[3] == 1 && on[5] == 1);
    CHECK(first[3] == -600 && first[5] == -400 && first[0] == -400);
    CHECK(a.mains_hist[3 * 2 + 2] == 0 && a.mains_hist[3 * 3 + 2] == 1 && a.mains_hist[3 * 5] == 1);
    CHECK(a.sure_hist[3 * 0 + 2] == 0 && a.sure_hist[3 * 5 + 1] == 1);

    /* hops left to the reference: nothing written */
    for (int k = 0; k < 4; k++) {
        state_arrays b;
        fresh(&b);
        state_arrays before;
        memcpy(&before, &b, sizeof b);
        sio_dsp_judge_state sb = point(&b);
        double lm0 = low_ms[0];
        if (k == 0)
            b.low_set[0] = 0; /* channel 0's first judged hop */
        else if (k == 1)
            low_ms[0] = 1000.0; /* a motion candidate: the band's share 0.91 */
        else if (k == 2)
            b.hf_set[3] = 0; /* channel 3's first usable hop: its noise floor may start */
        else
            b.rest_set[4] = 0; /* channel 4's first rest hop, settling: its rest may start */
        before.low_set[0] = b.low_set[0];
        before.hf_set[3] = b.hf_set[3];
        before.rest_set[4] = b.rest_set[4];
        uint8_t o1[N] = {7, 7, 7, 7, 7, 7}, o2[N] = {7, 7, 7, 7, 7, 7};
        int64_t o3[N] = {7, 7, 7, 7, 7, 7};
        double o4[N] = {7, 7, 7, 7, 7, 7}, o5[N] = {7, 7, 7, 7, 7, 7};
        CHECK_EQ(sio_dsp_judge_hop(N, G, &set, &in, &sb, o1, o2, o3, o4, o5), 1);
        CHECK(memcmp(&b, &before, sizeof b) == 0);
        for (int c = 0; c < N; c++)
            CHECK(o1[c] == 7 && o2[c] == 7 && o3[c] == 7 && o4[c] == 7.0 && o5[c] == 7.0);
        low_ms[0] = lm0;
    }
    /* NULL settling and spiked: none (channel 4 then judged, its run ended) */
    {
        state_arrays b;
        fresh(&b);
        sio_dsp_judge_state sb = point(&b);
        sio_dsp_judge_in none = in;
        none.settling = none.spiked = NULL;
        CHECK_EQ(sio_dsp_judge_hop(N, G, &set, &none, &sb, noise, on, first, mfloor, smad), 0);
        CHECK(b.settle_hops[4] == 0 && b.q_low[4] == 1.0 - down);
    }

    /* arguments: each pointer, the channel count and the mains history */
    CHECK_EQ(sio_dsp_judge_hop(-1, G, &set, &in, &st, noise, on, first, mfloor, smad), -1);
    CHECK_EQ(sio_dsp_judge_hop(N, G, NULL, &in, &st, noise, on, first, mfloor, smad), -1);
    CHECK_EQ(sio_dsp_judge_hop(N, G, &set, NULL, &st, noise, on, first, mfloor, smad), -1);
    CHECK_EQ(sio_dsp_judge_hop(N, G, &set, &in, NULL, noise, on, first, mfloor, smad), -1);
    CHECK_EQ(sio_dsp_judge_hop(N, G, &set, &in, &st, NULL, on, first, mfloor, smad), -1);
    CHECK_EQ(sio_dsp_judge_hop(N, G, &set, &in, &st, noise, NULL, first, mfloor, smad), -1);
    CHECK_EQ(sio_dsp_judge_hop(N, G, &set, &in, &st, noise, on, NULL, mfloor, smad), -1);
    CHECK_EQ(sio_dsp_judge_hop(N, G, &set, &in, &st, noise, on, first, NULL, smad), -1);
    CHECK_EQ(sio_dsp_judge_hop(N, G, &set, &in, &st, noise, on, first, mfloor, NULL), -1);
    {
        const void **ins[] = {
            (const void **)&in.blocked, (const void **)&in.live, (const void **)&in.mains,
            (const void **)&in.mains_sure, (const void **)&in.hp_ms, (const void **)&in.low_ms,
            (const void **)&in.hf_ms, (const void **)&in.peak, (const void **)&in.mad,
            (const void **)&in.sd_med, (const void **)&in.sd_peak, (const void **)&in.logs,
            (const void **)&in.pows, (const void **)&in.last_gap,
        };
        for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
            const void *keep = *ins[i];
            *ins[i] = NULL;
            CHECK_EQ(sio_dsp_judge_hop(N, G, &set, &in, &st, noise, on, first, mfloor, smad), -1);
            *ins[i] = keep;
        }
        void **sts[] = {
            (void **)&st.q_hf, (void **)&st.noise_ms, (void **)&st.q_low, (void **)&st.q_rest,
            (void **)&st.q_peak, (void **)&st.q_ref, (void **)&st.ring_ref, (void **)&st.q_sd,
            (void **)&st.last_noise, (void **)&st.settle_hops, (void **)&st.low_set,
            (void **)&st.hf_set, (void **)&st.rest_set, (void **)&st.peak_set, (void **)&st.sd_set, (void **)&st.motion_prev,
            (void **)&st.motion_rising, (void **)&st.mains_hist, (void **)&st.sure_hist,
        };
        for (size_t i = 0; i < sizeof sts / sizeof sts[0]; i++) {
            void *keep = *sts[i];
            *sts[i] = NULL;
            CHECK_EQ(sio_dsp_judge_hop(N, G, &set, &in, &st, noise, on, first, mfloor, smad), -1);
            *sts[i] = keep;
        }
    }
    sio_dsp_judge_set bad = set;
    bad.mains_n = -1;
    CHECK_EQ(sio_dsp_judge_hop(N, G, &bad, &in, &st, noise, on, first, mfloor, smad), -1);
    bad = set;
    bad.mains_sure_n = 4; /* more than the history holds */
    CHECK_EQ(sio_dsp_judge_hop(N, G, &bad, &in, &st, noise, on, first, mfloor, smad), -1);
    bad = set;
    bad.mains_sure_n = -1;
    CHECK_EQ(sio_dsp_judge_hop(N, G, &bad, &in, &st, noise, on, first, mfloor, smad), -1);
    /* no channel: nothing read */
    sio_dsp_judge_in empty;
    sio_dsp_judge_state nothing;
    memset(&empty, 0, sizeof empty);
    memset(&nothing, 0, sizeof nothing);
    CHECK_EQ(sio_dsp_judge_hop(0, G, &set, &empty, &nothing, NULL, NULL, NULL, NULL, NULL), 0);
    return check_report("test_dsp_judge");
}
