/* sio_dsp.h - per-sample front end of the dsp fault detector
 * (sensorio/dsp/faults.py): one pass per channel over a block instead of a
 * few dozen numpy passes. The numpy version (FaultDetector._front_numpy) is
 * the reference; tests/test_dsp_native.py checks that both agree. */
#ifndef SIO_DSP_H
#define SIO_DSP_H

#include <stddef.h>
#include <stdint.h>

/* CFFI_BEGIN */
/* Carried state of one streaming biquad cascade (scipy sosfilt, direct form
 * II transposed) with a hold across invalid samples: zi (ch x sections x 2),
 * held (ch; last valid input), invalid_run (ch; invalid samples just before
 * the next one). A valid sample after reprime or more invalid ones re-primes
 * the channel: zi = unit * x (unit: sosfilt_zi, sections x 2). */
typedef struct {
    int n_sections;
    const double *sos;  /* sections x 6 */
    const double *unit; /* sections x 2 */
    double *zi;
    double *held;
    int64_t *invalid_run;
    int64_t reprime;
} sio_dsp_sos;

/* bad_run of a channel before its first valid sample (2^40; a caller starts
 * every channel's bad_run here): the start counts as a restart */
#define SIO_DSP_START_RUN 1099511627776

/* Settings and carried per-channel state of the front end (all arrays have
 * ch entries and belong to the caller). */
typedef struct {
    int64_t stuck_run;  /* a code repeated this long is held out (half a hop) */
    int64_t restart;    /* invalid run that makes the next valid sample a restart */
    int64_t settle;     /* samples after a restart without motion verdicts */
    int64_t settle_start; /* ... after the stream's start: a channel valid within
                           * a restart's run of it (at most settle) */
    int64_t blank;      /* recovery samples after a rail sample */
    int64_t spike_pad;  /* samples after a spiky one that stay spiky */
    double ema_a;       /* smoothing of the running mean of |hp| */
    double ema_a1;      /* ema_a - 1 (the lfilter denominator coefficient) */
    double spike_k;
    double spike_min;
    int has_range;      /* code_lo/code_hi are the rails */
    int has_zero;       /* code_zero is an integer code */
    int32_t code_lo, code_hi, code_zero;
    int64_t *prev_code;
    int64_t *same_run;
    int64_t *bad_run;
    int64_t *last_restart;
    int64_t *last_rail;
    double *ema_last;
    int64_t *last_spiky;
    sio_dsp_sos hp;
    sio_dsp_sos low;
} sio_dsp_front;

/* One block of n rows x ch channels starting at stream row start. Inputs and
 * outputs are channel-major: channel c's row r at [c * stride + r] (stride >=
 * n) in x, valid, codes (NULL: none) and every output; leadoff is n row
 * bitmasks (NULL: none). Flags out are 0/1 bytes.
 * Returns 1 if the block was quiet (every sample hard_ok and neither rail,
 * lead-off nor spiky; 0 may also mean that this was not checked), or -1 if an
 * argument is out of range. */
int sio_dsp_front_run(sio_dsp_front *st, int64_t n, int64_t ch, int64_t stride, int64_t start,
                      const double *x, const uint8_t *valid, const int32_t *codes,
                      const uint64_t *leadoff, uint8_t *hard_ok, uint8_t *rail,
                      uint8_t *lead, uint8_t *blank, uint8_t *settle, uint8_t *spiky,
                      uint8_t *zero, double *hp, double *low);

/* Features of m complete hops of L >= 4 samples on ch channels whose every
 * sample is valid: channel c's hop j starts at [c * stride + j * L] of data,
 * hp, low and codes (NULL: none). Per (c, j), at [c * m + j]: the (population)
 * variance of data, the median of |hp| (the element of rank L / 2, as
 * numpy.partition), the mean squares of hp and low, the mean square of hp's
 * third difference / 20, whether every code is the same, and (peak not
 * NULL) the largest |hp| (NaN if any is). scratch holds 2 L doubles.
 * Returns 0, or -1 if an argument is out of range. */
int sio_dsp_hop_features(int64_t ch, int64_t m, int64_t L, int64_t stride, const double *data,
                         const double *hp, const double *low, const int32_t *codes,
                         double *scratch, double *var, double *mad, double *hp_ms,
                         double *low_ms, double *hf_ms, uint8_t *same_code, double *peak);

/* doubles per channel of sio_dsp_hop_features_acc's sums: 10 sums, the
 * median of |hp| and whether it is taken (at SIO_DSP_FEAT_MAD), and the
 * median's counts (at SIO_DSP_FEAT_BR) */
#define SIO_DSP_FEAT_ACC 16
#define SIO_DSP_FEAT_MAD 10
#define SIO_DSP_FEAT_BR 12

/* doubles per channel of a median's guess (sio_dsp_hop_features_acc,
 * sio_dsp_hop_spikes_acc), of its counts, and of sio_dsp_hop_spikes_acc's
 * counts (the median's, then the largest value) */
#define SIO_DSP_BR_GUESS 3
#define SIO_DSP_BR_COUNT 4
#define SIO_DSP_SPIKE_COUNT 5

/* Start the guesses of ch channels (SIO_DSP_BR_GUESS doubles each): where a
 * hop's median lies, from the channel's last one; a guess only saves work,
 * the median is exact whatever it is. */
void sio_dsp_br_init(int64_t ch, double *guess);

/* sio_dsp_hop_features as a hop's rows come: rows [from, to) of a hop of L
 * >= 4 rows (channel c's row i at [c * stride + i] of data, hp, low and
 * codes, NULL: none: pointers to the hop's row 0; the rows before from are
 * read too, up to three back) go into acc (SIO_DSP_FEAT_ACC doubles per
 * channel, at [c * SIO_DSP_FEAT_ACC], zero at the hop's start). With guess
 * (see sio_dsp_br_init; NULL: none), the median of |hp| is taken as the
 * rows come, the hop's last ones finishing it: mid holds L doubles per
 * channel (at [c * L]), scratch 2 L. Returns 0, or -1 if an argument is out
 * of range. */
int sio_dsp_hop_features_acc(int64_t ch, int64_t L, int64_t from, int64_t to, int64_t stride,
                             const double *data, const double *hp, const double *low,
                             const int32_t *codes, double *acc, double *guess, double *mid,
                             double *scratch);

/* Rows [0, n) of ch channels (channel c's row i at [c * stride + i] of v;
 * absolute: their absolute values) into the counts of a median taken as a
 * hop's rows come (as sio_dsp_hop_features_acc's with its guess):
 * SIO_DSP_BR_COUNT doubles per channel at [c * count_stride], zero at the
 * hop's start, and mid, cap doubles per channel (at [c * cap]; the hop's
 * length), against guess (see sio_dsp_br_init), which must be the same for
 * every row of the hop. For sio_dsp_br_finish, which may then be put off
 * (the guess it moves on is another). Returns 0, or -1 if an argument is
 * out of range. */
int sio_dsp_br_count(int64_t ch, int64_t n, int64_t stride, const double *v, int absolute,
                     int64_t cap, double *count, int64_t count_stride, double *mid,
                     const double *guess);

/* The element of rank n / 2 (as numpy.partition) of each channel's hop of
 * n values (channel c's at [c * stride] of v; absolute: of their absolute
 * values), for the channels c where which[c] (NULL: all), into
 * out[c * out_stride]: from what sio_dsp_br_count counted into count and
 * mid (laid out as there, cap = n) when it counted the whole hop once, else
 * from v; the same bits whatever the guess. The counts are marked used and
 * the guess (SIO_DSP_BR_GUESS doubles per channel) moves on. scratch: 2 n
 * doubles. Returns 0, or -1 if an argument is out of range. */
int sio_dsp_br_finish(int64_t ch, int64_t n, int64_t stride, const double *v, int absolute,
                      const uint8_t *which, double *count, int64_t count_stride, double *mid,
                      double *guess, double *scratch, double *out, int64_t out_stride);

/* Move each channel's guess on from what sio_dsp_br_count counted of a whole
 * hop of n values (counts laid out as there), without finishing the
 * median: where it fell inside the bracket the guess stays; below it or
 * above it, the bracket moves that way by its width squared and widens
 * (as sio_dsp_br_end's after a miss). Left as it is where the counts are
 * not whole or saw a NaN, or the bracket is not finite and positive (only
 * a finish places it then). The median stays exact whatever the guess;
 * this keeps its finish cheap when it is taken. Returns 0, or -1 if an
 * argument is out of range. */
int sio_dsp_br_track(int64_t ch, int64_t n, const double *count, int64_t count_stride,
                     double *guess);

/* sio_dsp_hop_features' outputs (with_codes: same_code too; peak NULL: not
 * wanted; mad NULL: not wanted, see sio_dsp_br_finish) of m hops of L rows laid out as there, whose rows all went into
 * acc (hop j's channel c at [(j * ch + c) * SIO_DSP_FEAT_ACC]): the same
 * bits. Returns 0, or -1 if an argument is out of range. */
int sio_dsp_hop_features_end(int64_t ch, int64_t m, int64_t L, int64_t stride, const double *data,
                             const double *hp, const double *acc, int with_codes, double *scratch,
                             double *var, double *mad, double *hp_ms, double *low_ms,
                             double *hf_ms, uint8_t *same_code, double *peak);

/* The spike test's statistics of m hops of L >= 1 samples on ch channels
 * (channel c's hop j starts at [c * stride + j * L] of hp): the second
 * difference of hp (hp[n] less the mean of hp[n - 1] and hp[n + 1]; before
 * hop 0 the sample before[c], NULL: none, and the first difference is 0),
 * each hop's last sample counted as 0 (the row after it may not be there
 * yet). Per (c, j), at [c * m + j]: the median of its absolute value (the
 * element of rank L / 2, as numpy.partition) and the largest. scratch holds
 * 2 L doubles. Returns 0, or -1 if an argument is out of range. */
int sio_dsp_hop_spikes(int64_t ch, int64_t m, int64_t L, int64_t stride, const double *hp,
                       const double *before, double *scratch, double *mad, double *peak);

/* sio_dsp_hop_spikes' |second difference| as a hop's rows come: rows [from,
 * to) of a hop of L rows (hp: the hop's row 0, channel c's row i at
 * [c * stride + i]; row to is read if to < L, and row -1 if from is 0 and
 * has_before) into buf (channel c's row i at [c * L + i]); the hop's last
 * row gives 0, and its first without has_before. With guess (see
 * sio_dsp_br_init; NULL: none), the median's counts and the largest value
 * go into count (SIO_DSP_SPIKE_COUNT doubles per channel, restarted when
 * from is 0) and mid (L doubles per channel, at [c * L]), for
 * sio_dsp_hop_spikes_end. Returns 0, or -1 if an argument is out of range. */
int sio_dsp_hop_spikes_acc(int64_t ch, int64_t L, int64_t from, int64_t to, int64_t stride,
                           const double *hp, int has_before, double *buf, double *count,
                           const double *guess, double *mid);

/* sio_dsp_hop_spikes' median and largest value of a hop whose rows all went
 * into buf (which the median may overwrite; scratch: 2 L doubles): mad[c]
 * and peak[c], the same bits; with guess, from what sio_dsp_hop_spikes_acc
 * counted into count and mid when it counted the whole hop once (else from
 * buf), the counts then marked used, and the guess moves on. Returns 0, or
 * -1 if an argument is out of range. */
int sio_dsp_hop_spikes_end(int64_t ch, int64_t L, double *buf, double *scratch, double *mad,
                           double *peak, double *count, double *guess, double *mid);

/* What the spike test reads of n rows of hp on ch channels (channel c's row
 * r at [c * stride + r] of hp, ok and out), as features.spike_signal: with
 * second, the second difference (hp[r] less the mean of its neighbours;
 * before row 0 the sample before[c], NULL: none, and row 0 gives 0; after
 * row n - 1 the row n of hp when has_after, else none, and row n - 1 gives 0),
 * 0 where a sample it reads is not ok (before row 0: ok_before[c], NULL: ok;
 * after row n - 1: row n of ok); without second, hp where ok, else 0.
 * Returns 0, or -1 if an argument is out of range. */
int sio_dsp_spike_signal(int64_t ch, int64_t n, int64_t stride, const double *hp,
                         const uint8_t *ok, int has_after, const double *before,
                         const uint8_t *ok_before, int second, double *out);

/* Mains projection of m hops of L samples on ch channels: each hop with the
 * one before it (2L samples; before hop 0, prev: channel c's at
 * [c * prev_stride]) is projected on the columns of basis (2L x 2k,
 * row-major: k windowed cosines, then k sines); best[c * m + j] is the
 * contrast of the summed squared projections of columns [0, split) and
 * [split, k) (cosine and sine): the larger less the smaller, total the mean square of the 2L samples, and (verdict
 * not NULL) verdict whether best * scale > min_ms and is more than min_share
 * of total. Returns 0, or -1 if out of range. */
int sio_dsp_mains(int64_t ch, int64_t m, int64_t L, int64_t stride, const double *hp,
                  const double *prev, int64_t prev_stride, const double *basis, int64_t k,
                  int64_t split, double scale, double min_ms, double min_share, double *best,
                  double *total, uint8_t *verdict);

/* sio_dsp_mains hop by hop as the samples come, with the same arithmetic in
 * the same order: n rows of hp (channel c's row i at [c * stride + i]) at
 * places pos..pos + n - 1 (pos + n <= L) of the hop being completed go into
 * its projection (basis rows L + place) and into the next hop's (rows
 * place: the next hop's window starts with this hop). acc holds, per
 * channel at [c * (4k + 2)], the 2k projections and the sum of squares of
 * the hop being completed, then those of the next; zero at a stream's start
 * (the hop before the first counts as 0). When the rows complete the hop,
 * best, total and verdict (NULL: not wanted) of channel c at [c] are
 * sio_dsp_mains', the next hop's sums move to the front and the next's are
 * zeroed, and 1 is returned; else 0, or -1 if an argument is out of range. */
int sio_dsp_mains_acc(int64_t ch, int64_t n, int64_t stride, const double *hp, int64_t L,
                      int64_t pos, const double *basis, int64_t k, int64_t split, double scale,
                      double min_ms, double min_share, double *acc, double *best, double *total,
                      uint8_t *verdict);

/* The output of n_hops >= 1 hops of lens[j] >= 1 samples, from column 0 of
 * the channel-major flags (channel c's sample r at [c * stride + r]; rows =
 * the sum of lens <= stride). Per hop and channel (hop-major, at [j * ch + c]),
 * as FaultDetector._decide and _spike_threshold: hop_bad = cond of the hop or
 * the next one (n_cond >= n_hops hops of cond) or active; thr = infinite where
 * blocked, else the larger of spike_min and spike_k x 1.4826 x the larger
 * MAD of the hop's two neighbours (n_mad >= n_hops hops of mad; before hop 0,
 * prev_mad, NULL: hop 0's own; after the last, its own). Per sample,
 * as 0/1 bytes: valid_out (row-major, rows x ch) = valid and not (hop_bad, a
 * rail sample if mask_rail, a blanked one if mask_rail and mask_blank, a
 * lead-off one if mask_lead); hit (channel-major, ch x rows) = |hp - med| >
 * thr (med NULL: 0) on a hard_ok, unblanked sample (the spike test); and
 * *n_invalid, the number of invalid outputs. valid, rail, blank, lead and
 * hard_ok all NULL: quiet rows (every sample valid and hard_ok, none at a
 * rail, blanked or lifted), their memory not read. far: NULL, or n_hops x
 * ch (hop-major) of each hop's largest |hp - med| from sio_dsp_hop_far
 * (negative: not known), so that a hop's rows are not read where it is not
 * beyond thr (the same output). Returns the number of hits, or -1 if an
 * argument is out of range (or some flags only NULL). */
int64_t sio_dsp_hop_mask(int64_t ch, int64_t n_hops, const int64_t *lens, int64_t stride,
                         const uint8_t *valid, const uint8_t *rail, const uint8_t *blank,
                         const uint8_t *lead, const uint8_t *hard_ok, const double *hp,
                         const uint8_t *cond, int64_t n_cond, const uint8_t *active,
                         const double *mad, int64_t n_mad, const double *prev_mad,
                         const double *med, const uint8_t *blocked, const double *far,
                         double spike_k, double spike_min, int mask_rail, int mask_blank,
                         int mask_lead, double *thr, uint8_t *hop_bad, uint8_t *valid_out,
                         uint8_t *hit, int64_t *n_invalid);
/* The largest |x - med[c]| (med NULL: |x|) over rows [0, n) of each of ch
 * channel-major channels (channel c's row r at [c * stride + r]) into
 * far[c], as sio_dsp_hop_mask's spike test takes it (a NaN is never the
 * largest; 0 when none is larger): one hop's, worked out before the block
 * that decides it (its rows and median are known a hop earlier), and given
 * back to sio_dsp_hop_mask as that hop's far, which then reads none of the
 * hop's rows of a channel whose far is not beyond its threshold. The same
 * output either way. Returns 0, or -1 if an argument is out of range. */
int sio_dsp_hop_far(int64_t ch, int64_t n, int64_t stride, const double *x, const double *med,
                    double *far);
/* Copies n rows of ch channels from the sources (element (r, c) of x at
 * [r * x_rs + c * x_cs], and so on; codes NULL: none) into channel-major
 * destinations (channel c's row r at [c * stride + r]), the layout of the
 * functions above. Returns 0, or -1 if an argument is out of range. */
int sio_dsp_rows_put(int64_t n, int64_t ch, int64_t stride, const double *x, int64_t x_rs,
                     int64_t x_cs, const uint8_t *valid, int64_t v_rs, int64_t v_cs,
                     const int32_t *codes, int64_t k_rs, int64_t k_cs, double *x_out,
                     uint8_t *valid_out, int32_t *codes_out);
/* Moves rows [from, from + n) of each of ch channel-major channels (channel
 * c's row r at [c * stride + r], elements of elem bytes: 1, 2, 4 or 8) to
 * rows [0, n) of the same channel, in a buffer of size elements: one pass
 * per channel (memmove), where numpy copies through a temporary because the
 * two ranges of one 2-D array overlap in their bounds. Returns 0, or -1 if
 * an argument is out of range. */
int sio_dsp_rows_move(void *base, int64_t size, int64_t elem, int64_t ch, int64_t stride,
                      int64_t from, int64_t n);
/* The settings of sio_dsp_learn_hop (features.py's names and constants). */
typedef struct {
    double motion_uv, motion_rel, motion_loud_rel, motion_share, motion_loud_share;
    double spike_rel;
    double spike_own;   /* spike_k * 1.4826: the own-hop threshold per unit of MAD */
    double floor_k;     /* MOTION_FLOOR_K */
    double learn_up;    /* LEARN_UP: a step up of the 90th percentiles */
    double learn_down;  /* LEARN_UP / 9: their step down, and the 10th percentile's up */
    double learn_rise;  /* LEARN_RISE */
} sio_dsp_learn_set;

/* One hop of FaultDetector._learn (sensorio/dsp/faults/features.py, the
 * reference: the same operations in the same order, so the same bits) for
 * ch channels, each argument ch values: the flags usable, judged, rest_ok
 * and low_set (0/1), the hop's low_ms, share, peak, mad and llow = 0.5
 * log10(low_ms), lpeak = log10(peak) (numpy's: libm's log10 and pow may
 * round differently), and pow_low, pow_rest, pow_peak = 10 ** q_low,
 * q_rest, q_peak (numpy's too). Moves q_low, q_rest, q_peak, q_ref and
 * peak_set on in place and writes mfloor and peak_floor. Returns 1, having
 * written nothing, when a channel's first judged hop is among them (the
 * level it starts from: the reference's own path), 0 when done, -1 if an
 * argument is out of range. The caller does not call it on a channel's
 * first rest hop (rest_ok, its rest not yet started), whose start is the
 * reference's too. */
int sio_dsp_learn_hop(int64_t ch, const sio_dsp_learn_set *set, const uint8_t *usable,
                      const uint8_t *judged, const uint8_t *rest_ok, const uint8_t *low_set,
                      const double *low_ms, const double *share, const double *peak,
                      const double *mad, const double *llow, const double *lpeak,
                      const double *pow_low, const double *pow_rest, const double *pow_peak,
                      double *q_low, double *q_rest, double *q_peak, double *q_ref,
                      uint8_t *peak_set, double *mfloor, double *peak_floor);
/* The settings of sio_dsp_judge_hop: sio_dsp_learn_hop's and those of
 * FaultDetector's noise, settling, ring-down and mains-run rules. */
typedef struct {
    sio_dsp_learn_set learn;
    double noise_share;       /* the noise test's share (self._noise_share) */
    double noise_k2;          /* NOISE_FLOOR_K ** 2 */
    double ring_decay;        /* self._ring_decay */
    double ring_build;        /* RING_BUILD */
    int64_t early_hops;       /* settling hops without a motion verdict (SETTLE_EARLY_S) */
    int64_t noise_hops;       /* hops after broadband noise without a motion verdict (4) */
    int64_t gap_hops;         /* ... and after missing rows (2) */
    int64_t mains_n;          /* hops of mains history: MAINS_RUN - 1 */
    int64_t mains_sure_n;     /* of which the sure test reads the last MAINS_SURE_RUN - 1 */
    int64_t mains_first;      /* a mains run's first row: -(MAINS_RUN - 1) x the hop */
    int64_t mains_sure_first; /* ... a sure run's: -(MAINS_SURE_RUN - 1) x the hop */
} sio_dsp_judge_set;

/* One hop's figures and flags (ch values each unless said; numpy's log10
 * and powers, so that the bits agree with the reference's). */
typedef struct {
    const uint8_t *blocked, *live, *mains, *mains_sure;
    const uint8_t *settling, *spiked; /* NULL: none */
    const double *hp_ms, *low_ms, *hf_ms, *peak, *mad;
    const double *sd_med, *sd_peak;   /* the spike statistics' median and largest */
    const double *logs;               /* 4 x ch: log10 of hf_ms, low_ms, peak, sd_peak */
    const double *pows; /* 6 x ch: 10 ** (2 q_hf), 10 ** q_low, q_rest, q_peak, q_ref, q_sd */
    const int64_t *last_gap;          /* the last hop with missing rows (this one's counted) */
} sio_dsp_judge_in;

/* The carried state the hop moves on, in place (FaultDetector's _q_hf,
 * _noise_ms, ...; motion_prev ch x 2, mains_hist and sure_hist ch x mains_n,
 * row-major). */
typedef struct {
    double *q_hf, *noise_ms, *q_low, *q_rest, *q_peak, *q_ref, *ring_ref, *q_sd;
    int64_t *last_noise, *settle_hops;
    const uint8_t *low_set, *hf_set, *rest_set;
    uint8_t *peak_set, *sd_set, *motion_prev, *motion_rising, *mains_hist, *sure_hist;
} sio_dsp_judge_state;

/* One hop g (the usual: one hop of a full hop's rows, the noise test on)
 * of FaultDetector._hop_conditions after its mains test, in C (features.py
 * is the reference: the same operations in the same order): the noise
 * verdicts and their learnt floor, the rows after noise, gaps and
 * settling, the learnt levels (sio_dsp_learn_hop's), the ring-down's
 * level, the motion history, the mains runs and the spike floor. Writes
 * noise (0/1), mains_on (0/1) and mains_first (the mains condition and its
 * run's first row), mfloor (the motion floor, a mean square) and spike_mad
 * (the spike test's scale), ch each. Returns 1, having written nothing,
 * when a channel's first judged hop, its first usable hop for the noise
 * floor or its first rest hop for the 1-20 Hz band's rest (whose start
 * either may lower: a power of the new level) or a motion
 * candidate (a hop judged for motion and shaped like it: the band's speed
 * is then read from its rows) is among them (the reference's path then); 0
 * when done, -1 if an argument is out of range. */
int sio_dsp_judge_hop(int64_t ch, int64_t g, const sio_dsp_judge_set *set,
                      const sio_dsp_judge_in *in, const sio_dsp_judge_state *st, uint8_t *noise,
                      uint8_t *mains_on, int64_t *mains_first, double *mfloor, double *spike_mad);
/* One hop g (its first stream row start) of FaultDetector._latch
 * (sensorio/dsp/faults/decision.py, the reference) for one kind on ch
 * channels: the hysteresis turning a kind on after on_n hops in a row with
 * its condition cond and off after off_n without; was: the kind on before
 * the hop; first and last (NULL: 0 and -1): the first and last flagged row
 * of the hop. Moves the carried marks lf (the last hop without the
 * condition), lt (the last with it), onset (the first row of the current
 * run) and flag (the row after the last flagged one) on in place, and
 * writes active, turn_on and turn_off (0/1) and clean (hops since the
 * condition), ch values each. Integers only: the reference's values
 * exactly. Returns 0, or -1 if an argument is out of range. */
int sio_dsp_latch_hop(int64_t ch, int64_t g, int64_t start, int64_t on_n, int64_t off_n,
                      const uint8_t *cond, const uint8_t *was, const int64_t *first,
                      const int64_t *last, int64_t *lf, int64_t *lt, int64_t *onset,
                      int64_t *flag, uint8_t *active, uint8_t *turn_on, uint8_t *turn_off,
                      int64_t *clean);
/* The settings of sio_dsp_mains_judge (features.py's names and constants). */
typedef struct {
    double mains_uv;       /* the floor's cap (uV RMS) */
    double floor_k;        /* MAINS_FLOOR_K */
    double learn_up;       /* LEARN_UP: the quiet level's step down */
    double learn_up99;     /* LEARN_UP / 99: its step up */
    double line_contrast;  /* what the test gives a steady line of unit mean square */
    double alone_contrast; /* MAINS_ALONE_CONTRAST: the hum-alone arm is off below it */
    double alone_share;    /* MAINS_ALONE */
    double alone_ms;       /* MAINS_ALONE_UV ** 2 */
} sio_dsp_mains_set;

/* One hop of FaultDetector._mains between the projection and the
 * narrowband test (features.py, the reference: _mains_floor, _hum_alone
 * and the verdict they give), ch channels, each argument ch values: live
 * (0/1), lhp = log10 of the hop's high-passed mean square and pow_rest = 10
 * ** q_rest (numpy's both), the projection's verdict (0/1), the hum's mean
 * square and the two hops' total. Writes the verdict to out and moves the
 * quiet level q_rest on in place. Returns 0, or -1 if an argument is out of
 * range. */
int sio_dsp_mains_judge(int64_t ch, const sio_dsp_mains_set *set, const uint8_t *live,
                        const double *lhp, const double *pow_rest, const uint8_t *verdict,
                        const double *mains_ms, const double *total, double *q_rest,
                        uint8_t *out);
/* CFFI_END */

#endif
