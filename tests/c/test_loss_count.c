/* Counting lost frames when the frame counter cannot (sio_parser.h,
 * "Counting lost frames"): a ring overflow or a gap longer than the counter's
 * range. SIO-1 reads the count off the device clock (t_us); without a clock,
 * and for Cyton (8-bit counter, no clock), the bytes lost give a lower bound
 * and the count is never 0. Every case checks frames_ok + lost_frames against
 * what was sent, and the events against the statistics. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "parser_util.h"
#include "sio1.h"

static sink_buffers sink[SIO_MAX_STREAMS];
static uint8_t ring_mem[1 << 16];
static sio_ring ring;
static sio_parser parser;

/* what came out, summed over handed-over blocks */
typedef struct {
    uint64_t frames;
    uint64_t ev_lost;       /* lost_frames summed over GAP events */
    uint64_t ev_gaps;
    uint64_t ev_overflows;
    uint64_t ev_restarts;
    uint32_t gap_flags;     /* flags of the last GAP */
    uint64_t gap_time_after; /* frame time of the frame after the last GAP */
} harvest;

static harvest out;

static void take_block(int slot)
{
    sio_block *b = sio_parser_block(&parser, slot);
    if (sio_parser_slot_stream(&parser, slot) != 0)
        return; /* only stream 0 is counted (Cyton's accelerometer has no counter) */
    out.frames += b->n_frames;
    for (size_t i = 0; i < b->n_events; i++) {
        sio_event *e = &b->events[i];
        if (e->kind == SIO_EV_GAP) {
            out.ev_gaps++;
            out.ev_lost += e->lost_frames;
            out.gap_flags = e->flags;
            CHECK_EQ(e->reserved, 0);
            for (size_t f = 0; f < b->n_frames; f++)
                if (b->frame_row[f] == e->row)
                    out.gap_time_after = b->frame_time[f];
        } else if (e->kind == SIO_EV_OVERFLOW) {
            out.ev_overflows++;
        } else if (e->kind == SIO_EV_RESTART) {
            out.ev_restarts++;
        }
    }
}

static void start(int format)
{
    memset(&out, 0, sizeof out);
    memset(sink, 0, sizeof sink);
    sio_parser_init(&parser, format);
    sio_ring_init(&ring, ring_mem, sizeof ring_mem);
}

/* Parses what the ring holds, handing over full blocks. */
static void drain(void)
{
    for (;;) {
        size_t used;
        int st = sio_parser_feed_ring(&parser, &ring, (size_t)-1, &used);
        if (st == SIO_FEED_NEED_BLOCK) {
            int slot = sio_parser_need_slot(&parser);
            take_block(slot);
            sio_parser_block_reset(&parser, slot);
            sink_attach(&parser, slot, &sink[slot], SINK_VALUES);
            continue;
        }
        CHECK_EQ(st, SIO_FEED_DONE);
        if (!sio_ring_used(&ring))
            break;
    }
}

static void put(const uint8_t *d, size_t n)
{
    while (n) {
        size_t k = n < 4096 ? n : 4096;
        CHECK_EQ(sio_ring_write(&ring, d, k), k);
        d += k;
        n -= k;
        drain();
    }
}

static void finish(void)
{
    drain();
    for (int slot = 0; slot < SIO_MAX_STREAMS; slot++)
        if (sio_parser_slot_stream(&parser, slot) >= 0)
            take_block(slot);
}

/* ---- SIO-1 ---- */

enum { N_CH = 4, N_SAMP = 4, PERIOD_US = 2000 };

/* Frame i of a device stream: seq i mod 65536, t_us from a 2 kHz clock
 * (or a constant 0 when clock is 0), starting at t0. */
static size_t sio_frame(uint8_t *dst, uint64_t i, int clock, uint32_t t0)
{
    int32_t v[N_CH * N_SAMP];
    uint8_t scratch[SIO1_MAX_FRAME];
    for (int k = 0; k < N_CH * N_SAMP; k++)
        v[k] = (int32_t)((i * 7 + (uint64_t)k * 131) % 2000) - 1000;
    uint32_t t = clock ? (uint32_t)(t0 + i * PERIOD_US) : 0;
    return sio1_encode_data(0, SIO1_ENC_I16, N_CH, N_SAMP, (uint16_t)i, t, 0, v, scratch, sizeof scratch, dst,
                            SIO1_WIRE_MAX(SIO1_MAX_FRAME));
}

/* Sends frames [0, before), loses the bytes from `cut_in` bytes into frame
 * `before` to `cut_out` bytes into frame before + lost - 1 (so `lost` frames
 * are gone, two of them in part), then sends `after` more frames. With
 * ring_loss 0 the frames are simply missing (a device or link drop). */
static void sio_run(uint64_t before, uint64_t lost, uint64_t after, int clock, int ring_loss)
{
    static uint8_t buf[SIO1_WIRE_MAX(SIO1_MAX_FRAME)];
    start(SIO_FMT_SIO1);
    uint32_t t0 = 4000000000u; /* the clock wraps during the loss */
    for (uint64_t i = 0; i < before; i++)
        put(buf, sio_frame(buf, i, clock, t0));
    if (ring_loss) {
        size_t cut_in = 5, cut_out = 7;
        uint64_t gone = 0;
        size_t n = sio_frame(buf, before, clock, t0);
        put(buf, cut_in);
        gone += n - cut_in;
        for (uint64_t i = before + 1; i < before + lost - 1; i++)
            gone += sio_frame(buf, i, clock, t0);
        n = sio_frame(buf, before + lost - 1, clock, t0);
        sio_ring_note_loss(&ring, (size_t)(gone + cut_out));
        put(buf + cut_out, n - cut_out);
    }
    for (uint64_t i = before + lost; i < before + lost + after; i++)
        put(buf, sio_frame(buf, i, clock, t0));
    finish();
}

static void check_totals(uint64_t sent)
{
    sio_stats *st = sio_parser_stats(&parser);
    CHECK_EQ(out.frames, st->frames_ok);
    CHECK_EQ(st->frames_ok + st->lost_frames, sent);
    CHECK_EQ(out.ev_lost, st->lost_frames);
    CHECK_EQ(accounted_bytes(&parser), st->bytes_in);
}

/* The reported case: a consumer asleep behind a fast device, 323,221 frames
 * overflowed (323221 mod 65536 = 61077: the counter alone says "restart"). */
static void test_overflow_longer_than_the_counter(void)
{
    sio_run(100, 323221, 100, 1, 1);
    sio_stats *st = sio_parser_stats(&parser);
    CHECK_EQ(st->ring_overflows, 1);
    CHECK_EQ(st->lost_frames, 323221);
    CHECK_EQ(st->lost_samples, 323221ull * N_SAMP);
    CHECK_EQ(st->restarts, 0);
    CHECK_EQ(st->gaps_by_clock, 1);
    CHECK_EQ(st->gaps_at_least, 0);
    CHECK_EQ(out.ev_overflows, 1);
    CHECK_EQ(out.ev_gaps, 1);
    CHECK_EQ(out.gap_flags, SIO_EVF_CLOCK);
    check_totals(100 + 323221 + 100);
}

/* A loss of exactly 4 * 65536 frames: the counter alone sees the next frame. */
static void test_overflow_of_whole_counter_turns(void)
{
    sio_run(50, 4 * 65536, 50, 1, 1);
    sio_stats *st = sio_parser_stats(&parser);
    CHECK_EQ(st->lost_frames, 4 * 65536);
    CHECK_EQ(st->gaps_at_least, 0);
    check_totals(50 + 4 * 65536 + 50);
}

/* Short overflows still count exactly (the clock agrees with the counter). */
static void test_short_overflow(void)
{
    sio_run(100, 3, 100, 1, 1);
    sio_stats *st = sio_parser_stats(&parser);
    CHECK_EQ(st->lost_frames, 3);
    CHECK_EQ(st->gaps_at_least, 0);
    check_totals(203);
}

/* Frames missing without any overflow (dropped by the device or the link),
 * more than the counter's range: 70000 mod 65536 = 4464. */
static void test_gap_longer_than_the_counter_without_overflow(void)
{
    sio_run(100, 70000, 100, 1, 0);
    sio_stats *st = sio_parser_stats(&parser);
    CHECK_EQ(st->ring_overflows, 0);
    CHECK_EQ(st->lost_frames, 70000);
    CHECK_EQ(st->gaps_by_clock, 1);
    CHECK_EQ(st->restarts, 0);
    check_totals(70200);
    /* 40000 (>= 32768): the protocol's rule alone would call it a restart */
    sio_run(100, 40000, 100, 1, 0);
    CHECK_EQ(sio_parser_stats(&parser)->lost_frames, 40000);
    CHECK_EQ(sio_parser_stats(&parser)->restarts, 0);
    check_totals(40200);
}

/* Ordinary gaps stay the counter's business, exact and unflagged. */
static void test_ordinary_gap(void)
{
    sio_run(100, 7, 100, 1, 0);
    sio_stats *st = sio_parser_stats(&parser);
    CHECK_EQ(st->lost_frames, 7);
    CHECK_EQ(st->gaps_by_clock + st->gaps_at_least, 0);
    CHECK_EQ(out.gap_flags, 0);
    check_totals(207);
}

/* No clock (t_us constant): the overflowed bytes bound the loss from below,
 * and the count is the least value above the bound that the counter allows. */
static void test_overflow_without_clock_is_a_lower_bound(void)
{
    sio_run(100, 70000, 100, 0, 1);
    sio_stats *st = sio_parser_stats(&parser);
    CHECK_EQ(st->gaps_at_least, 1);
    CHECK(st->lost_frames > 0);
    CHECK(st->lost_frames <= 70000);
    CHECK_EQ(st->lost_frames % 65536, 70000 % 65536);
    CHECK(out.gap_flags & SIO_EVF_AT_LEAST);
    CHECK_EQ(out.ev_lost, st->lost_frames);
    /* here the bound is close enough for the counter to pin it */
    CHECK_EQ(st->lost_frames, 70000);
}

/* A device that restarts during an overflow: its clock went backwards. */
static void test_restart_during_overflow(void)
{
    static uint8_t buf[SIO1_WIRE_MAX(SIO1_MAX_FRAME)];
    start(SIO_FMT_SIO1);
    for (uint64_t i = 0; i < 100; i++)
        put(buf, sio_frame(buf, 50000 + i, 1, 0));
    sio_ring_note_loss(&ring, 123456);
    for (uint64_t i = 0; i < 100; i++)
        put(buf, sio_frame(buf, 1 + i, 1, 0)); /* clock and counter from the start again */
    finish();
    sio_stats *st = sio_parser_stats(&parser);
    CHECK_EQ(st->restarts, 1);
    CHECK_EQ(st->lost_frames, 0);
    CHECK_EQ(out.ev_restarts, 1);
}

/* ---- Cyton: 33-byte packets, 8-bit counter, no clock ---- */

static void cyton_packet(uint8_t *pk, uint64_t i)
{
    memset(pk, 0, SIO_CYTON_PACKET);
    pk[0] = 0xA0;
    pk[1] = (uint8_t)i;
    for (int c = 0; c < 24; c++)
        pk[2 + c] = (uint8_t)(i * 3 + (uint64_t)c);
    pk[32] = 0xC1; /* no accelerometer data */
}

static void cyton_run(uint64_t before, uint64_t lost, uint64_t after)
{
    uint8_t pk[SIO_CYTON_PACKET];
    start(SIO_FMT_CYTON);
    for (uint64_t i = 0; i < before; i++) {
        cyton_packet(pk, i);
        put(pk, sizeof pk);
    }
    /* the loss starts 28 bytes into packet `before` and ends 20 bytes into
     * packet before + lost - 1 */
    cyton_packet(pk, before);
    put(pk, 28);
    sio_ring_note_loss(&ring, (size_t)(5 + (lost - 2) * SIO_CYTON_PACKET + 20));
    cyton_packet(pk, before + lost - 1);
    put(pk + 20, SIO_CYTON_PACKET - 20);
    for (uint64_t i = before + lost; i < before + lost + after; i++) {
        cyton_packet(pk, i);
        put(pk, sizeof pk);
    }
    CHECK_EQ(sio_parser_flush(&parser), SIO_FEED_DONE);
    finish();
}

static void test_cyton_overflow_is_never_zero(void)
{
    /* 1024 packets: the 8-bit counter sees the next packet */
    cyton_run(100, 1024, 100);
    sio_stats *st = sio_parser_stats(&parser);
    CHECK_EQ(st->ring_overflows, 1);
    CHECK(st->lost_frames >= (5 + 1022 * 33 + 20) / 33);
    CHECK(st->lost_frames <= 1024);
    CHECK_EQ(st->gaps_at_least, 1);
    CHECK_EQ(st->restarts, 0);
    CHECK(out.gap_flags & SIO_EVF_AT_LEAST);
    CHECK_EQ(out.ev_lost, st->lost_frames);
    /* the bound and the counter together pin it here */
    CHECK_EQ(st->lost_frames, 1024);
    check_totals(100 + 1024 + 100);
    /* the sample number (frame time) counts the lost packets too */
    CHECK_EQ(out.gap_time_after, 100 + 1024);

    /* 1001 packets: 1001 mod 256 = 233, which the counter alone calls a restart */
    cyton_run(100, 1001, 100);
    st = sio_parser_stats(&parser);
    CHECK_EQ(st->restarts, 0);
    CHECK_EQ(st->lost_frames, 1001);
    CHECK_EQ(st->gaps_at_least, 1);
    check_totals(100 + 1001 + 100);
}

/* Whole packets vanish (a radio dropout: no bytes lost on the host), each
 * packet read on its own at its host time, 4 ms apart, the dropout a silence
 * of the reads. */
static void cyton_dropout(uint64_t before, uint64_t lost, uint64_t after, int64_t silence_ns)
{
    uint8_t pk[SIO_CYTON_PACKET];
    start(SIO_FMT_CYTON);
    sio_parser_set_counter_period(&parser, 4000000);
    int64_t t = 1700000000000000000LL;
    for (uint64_t i = 0; i < before + lost + after; i++) {
        if (i >= before && i < before + lost)
            continue;
        if (i == before + lost)
            t += silence_ns;
        sio_parser_read_time(&parser, t);
        cyton_packet(pk, i);
        put(pk, sizeof pk);
        t += 4000000;
    }
    CHECK_EQ(sio_parser_flush(&parser), SIO_FEED_DONE);
    finish();
}

static void test_cyton_dropout_read_times(void)
{
    /* 3 packets, 16 ms: exact */
    cyton_dropout(100, 3, 100, 16000000);
    sio_stats *st = sio_parser_stats(&parser);
    CHECK_EQ(st->lost_frames, 3);
    CHECK_EQ(st->gaps_at_least, 0);
    /* 200 packets (over half the counter's range), 0.8 s: a loss, not a restart */
    cyton_dropout(100, 200, 100, 800000000);
    st = sio_parser_stats(&parser);
    CHECK_EQ(st->lost_frames, 200);
    CHECK_EQ(st->restarts, 0);
    CHECK_EQ(st->gaps_at_least, 0);
    check_totals(100 + 200 + 100);
    /* 300 packets, 1.2 s: the counter sees 44; a turn may hide in the gap */
    cyton_dropout(100, 300, 100, 1200000000);
    st = sio_parser_stats(&parser);
    CHECK_EQ(st->lost_frames, 44);
    CHECK_EQ(st->gaps_at_least, 1);
    CHECK(out.gap_flags & SIO_EVF_AT_LEAST);
    CHECK_EQ(out.ev_gaps, 1);
    /* 256 packets: the counter sees consecutive packets, which are never
     * judged (a late read of buffered packets looks the same) */
    cyton_dropout(100, 256, 100, 1024000000);
    st = sio_parser_stats(&parser);
    CHECK_EQ(st->lost_frames, 0);
    CHECK_EQ(st->gaps_at_least, 0);
    CHECK_EQ(out.ev_gaps, 0);
    /* without a period set, the read times change nothing: 3 lost after 5 s */
    start(SIO_FMT_CYTON);
    uint8_t pk[SIO_CYTON_PACKET];
    for (uint64_t i = 0; i < 10; i++) {
        sio_parser_read_time(&parser, i < 5 ? 1000000000LL + (int64_t)i : 6000000000LL + (int64_t)i);
        cyton_packet(pk, i < 5 ? i : i + 3);
        put(pk, sizeof pk);
    }
    CHECK_EQ(sio_parser_flush(&parser), SIO_FEED_DONE);
    finish();
    CHECK_EQ(sio_parser_stats(&parser)->lost_frames, 3);
    CHECK_EQ(sio_parser_stats(&parser)->gaps_at_least, 0);
    /* times at or below 0 (a damaged record's) are ignored, and extreme ones
     * overflow nothing (UBSan) */
    cyton_dropout(100, 3, 100, 16000000);
    sio_parser_read_time(&parser, INT64_MIN);
    sio_parser_read_time(&parser, 0);
    sio_parser_read_time(&parser, INT64_MAX);
    cyton_packet(pk, 210);
    put(pk, sizeof pk);
    cyton_packet(pk, 212);
    put(pk, sizeof pk);
    CHECK_EQ(sio_parser_flush(&parser), SIO_FEED_DONE);
    finish();
}

int main(void)
{
    test_overflow_longer_than_the_counter();
    test_overflow_of_whole_counter_turns();
    test_short_overflow();
    test_gap_longer_than_the_counter_without_overflow();
    test_ordinary_gap();
    test_overflow_without_clock_is_a_lower_bound();
    test_restart_during_overflow();
    test_cyton_overflow_is_never_zero();
    test_cyton_dropout_read_times();
    return check_report("test_loss_count");
}
