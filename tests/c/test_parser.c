/* The SIO-1 parser: frames in any chunking, gaps and restarts as events at
 * the right rows, block hand-over, messages, rejection reasons, and the
 * byte-accounting invariant. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "parser_util.h"
#include "sio1.h"

static sink_buffers sink[SIO_MAX_STREAMS];
static uint8_t msgs[4096];

static size_t make_data(uint8_t *out, uint8_t stream, uint8_t n_ch, uint8_t n_samp, uint16_t seq, int32_t base)
{
    int32_t v[255 * 8];
    uint8_t scratch[SIO1_MAX_FRAME];
    for (int i = 0; i < n_ch * n_samp; i++)
        v[i] = base + i;
    return sio1_encode_data(stream, SIO1_ENC_I16, n_ch, n_samp, seq, 1000u * seq, (uint64_t)seq & 1,
                            v, scratch, sizeof scratch, out, SIO1_WIRE_MAX(SIO1_MAX_FRAME));
}

/* Feeds len bytes in chunks of `chunk`, servicing NEED_BLOCK by attaching the
 * slot's static sink (it never fills in these tests). */
static void feed_all(sio_parser *p, const uint8_t *d, size_t len, size_t chunk)
{
    size_t off = 0;
    while (off < len || 1) {
        size_t n = len - off < chunk ? len - off : chunk;
        size_t used;
        int st = sio_parser_feed(p, d + off, n, &used);
        off += used;
        if (st == SIO_FEED_NEED_BLOCK) {
            int slot = sio_parser_need_slot(p);
            sink_attach(p, slot, &sink[slot], SINK_VALUES);
            continue;
        }
        CHECK_EQ(st, SIO_FEED_DONE);
        if (off >= len)
            break;
    }
}

static void test_chunkings(void)
{
    static uint8_t stream[200000];
    size_t len = 0;
    stream[len++] = 0; /* device start flush */
    for (uint16_t s = 0; s < 300; s++) {
        if (s == 100 || s == 101)
            continue; /* two frames lost */
        len += make_data(stream + len, 0, 4, 10, s, s);
    }
    len += make_data(stream + len, 0, 4, 10, 5, 0); /* backward: restart */
    size_t chunks[] = {1, 2, 3, 7, 64, 1000, sizeof stream};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        sio_parser p;
        sio_parser_init(&p, SIO_FMT_SIO1);
        memset(sink, 0, sizeof sink);
        feed_all(&p, stream, len, chunks[c]);
        sio_stats *st = sio_parser_stats(&p);
        sio_block *b = sio_parser_block(&p, 0);
        CHECK_EQ(st->frames_ok, 299);
        CHECK_EQ(st->lost_frames, 2);
        CHECK_EQ(st->lost_samples, 20);
        CHECK_EQ(st->restarts, 1);
        CHECK_EQ(st->bytes_in, len);
        CHECK_EQ(st->bytes_idle, 1);
        CHECK_EQ(accounted_bytes(&p), len);
        CHECK_EQ(b->n_rows, 2990);
        CHECK_EQ(b->n_ch, 4);
        CHECK_EQ(b->n_events, 2);
        CHECK_EQ(b->events[0].kind, SIO_EV_GAP);
        CHECK_EQ(b->events[0].row, 1000);
        CHECK_EQ(b->events[0].lost_frames, 2);
        CHECK_EQ(b->events[0].seq_before, 99);
        CHECK_EQ(b->events[0].seq_after, 102);
        CHECK_EQ(b->events[1].kind, SIO_EV_RESTART);
        CHECK_EQ(b->events[1].row, 2980);
        CHECK_EQ(b->frame_seq[100], 102);
        CHECK_EQ(b->frame_row[100], 1000);
        CHECK_EQ(b->frame_time[100], 102000);
        CHECK_EQ(b->frame_leadoff[1], 1);
        CHECK_EQ(sink[0].samples[1000 * 4], 102);
    }
}

static void test_block_handover(void)
{
    /* A sink with room for 25 rows: NEED_BLOCK comes back and the frame
     * that did not fit is emitted first on the next call. */
    static uint8_t stream[20000];
    size_t len = 0;
    for (uint16_t s = 0; s < 20; s++)
        len += make_data(stream + len, 0, 2, 10, s, s * 100);
    sio_parser p;
    sio_parser_init(&p, SIO_FMT_SIO1);
    size_t off = 0, rows = 0, handovers = 0;
    int32_t expect_first = 0;
    for (;;) {
        size_t used;
        int st = sio_parser_feed(&p, stream + off, len - off, &used);
        off += used;
        sio_block *b = sio_parser_block(&p, 0);
        if (st == SIO_FEED_NEED_BLOCK) {
            if (b->samples) {
                CHECK_EQ(b->n_rows, 20);
                CHECK_EQ(sink[0].samples[0], expect_first);
                rows += b->n_rows;
                expect_first += 200;
                handovers++;
                sio_parser_block_reset(&p, 0);
            }
            sink_attach(&p, 0, &sink[0], 50); /* 25 rows of 2 channels */
            continue;
        }
        rows += b->n_rows;
        break;
    }
    CHECK_EQ(rows, 200);
    CHECK_EQ(handovers, 9);
    CHECK_EQ(sio_parser_slot_rows_before(&p, 0), 180);
    CHECK_EQ(sio_parser_stats(&p)->frames_ok, 20);
}

static void test_block_advance(void)
{
    /* Blocks handed over in place: each continues after the last in the
     * same sink, with the rows before counted, until the sink is full. */
    static uint8_t stream[20000];
    size_t len = 0, ends[20];
    for (uint16_t s = 0; s < 20; s++) {
        len += make_data(stream + len, 0, 2, 10, s, s * 100);
        ends[s] = len;
    }
    sio_parser p;
    sio_parser_init(&p, SIO_FMT_SIO1);
    memset(sink, 0, sizeof sink);
    sink_attach(&p, 0, &sink[0], 100); /* 50 rows of 2 channels */
    size_t off = 0, used;
    for (int k = 0; k < 5; k++) { /* one frame per feed */
        CHECK_EQ(sio_parser_feed(&p, stream + off, ends[k] - off, &used), SIO_FEED_DONE);
        off += used;
        sio_block *b = sio_parser_block(&p, 0);
        CHECK_EQ(b->n_rows, 10);
        CHECK_EQ(b->n_frames, 1);
        CHECK(b->samples == sink[0].samples + 20 * k);
        CHECK_EQ(b->samples[0], 100 * k);
        CHECK(b->frame_seq == sink[0].seq + k);
        CHECK_EQ(b->frame_seq[0], k);
        CHECK_EQ(b->frame_row[0], 0);
        CHECK_EQ(sio_parser_slot_rows_before(&p, 0), 10u * k);
        CHECK_EQ(sio_parser_block_advance(&p, 0), 0);
        CHECK_EQ(b->n_rows, 0);
        CHECK_EQ(b->samples_cap, 100u - 20 * (k + 1));
        CHECK_EQ(b->frames_cap, (size_t)SINK_FRAMES - (k + 1));
        CHECK_EQ(b->events_cap, (size_t)SINK_EVENTS);
    }
    /* the sink is full: the next frame asks for a block */
    CHECK_EQ(sio_parser_feed(&p, stream + off, len - off, &used), SIO_FEED_NEED_BLOCK);
    CHECK_EQ(sio_parser_slot_rows_before(&p, 0), 50);
}

static void test_block_advance_checks_the_counts(void)
{
    /* sio_block's counts are public: an advance checks them against the
     * capacities (and the buffers against NULL) and refuses, changing
     * nothing, rather than move a pointer past its buffer's end or wrap a
     * capacity round to a huge one the next frames would be written into. */
    sio_parser p;
    sio_parser_init(&p, SIO_FMT_SIO1);
    memset(sink, 0, sizeof sink);
    sio_block *b = sio_parser_block(&p, 0);
    /* no buffers yet: nothing to move (no arithmetic on NULL either) */
    CHECK_EQ(sio_parser_block_advance(&p, 0), 0);
    CHECK(b->samples == NULL && b->frame_seq == NULL && b->events == NULL);
    CHECK_EQ(b->samples_cap, 0);
    CHECK_EQ(sio_parser_block_advance(&p, -1), -1);
    CHECK_EQ(sio_parser_block_advance(&p, SIO_MAX_STREAMS), -1);
    /* rows in a block without buffers */
    b->n_rows = 1;
    b->n_ch = 1;
    CHECK_EQ(sio_parser_block_advance(&p, 0), -1);
    CHECK(b->samples == NULL);
    CHECK_EQ(b->n_rows, 1);
    b->n_rows = 0;
    b->n_ch = 0;

    sink_attach(&p, 0, &sink[0], 100);
    struct {
        size_t rows, ch, frames, events;
    } bad[] = {
        {51, 2, 1, 0},                        /* 102 values in 100 */
        {((size_t)-1) / 2 + 2, 2, 1, 0},      /* rows * channels wraps round */
        {1, 2, SINK_FRAMES + 1, 0},           /* frames */
        {1, 2, 1, SINK_EVENTS + 1},           /* events */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b->n_rows = bad[i].rows;
        b->n_ch = (uint32_t)bad[i].ch;
        b->n_frames = bad[i].frames;
        b->n_events = bad[i].events;
        CHECK_EQ(sio_parser_block_advance(&p, 0), -1);
        CHECK(b->samples == sink[0].samples && b->frame_seq == sink[0].seq && b->frame_row == sink[0].row &&
              b->events == sink[0].events);
        CHECK_EQ(b->samples_cap, 100);
        CHECK_EQ(b->frames_cap, (size_t)SINK_FRAMES);
        CHECK_EQ(b->events_cap, (size_t)SINK_EVENTS);
        CHECK_EQ(b->n_rows, bad[i].rows);
        CHECK_EQ(sio_parser_slot_rows_before(&p, 0), 0);
    }
    /* exactly full is fine: everything moves to the end, nothing left */
    b->n_rows = 50;
    b->n_ch = 2;
    b->n_frames = SINK_FRAMES;
    b->n_events = SINK_EVENTS;
    CHECK_EQ(sio_parser_block_advance(&p, 0), 0);
    CHECK(b->samples == sink[0].samples + 100);
    CHECK_EQ(b->samples_cap, 0);
    CHECK_EQ(b->frames_cap, 0);
    CHECK_EQ(b->events_cap, 0);
    CHECK_EQ(sio_parser_slot_rows_before(&p, 0), 50);
    /* and the next frame asks for a block instead of being written past it */
    uint8_t frame[2100];
    size_t len = make_data(frame, 0, 2, 1, 0, 7), used;
    uint8_t wire[2101];
    wire[0] = 0;
    memcpy(wire + 1, frame, len);
    CHECK_EQ(sio_parser_feed(&p, wire, len + 1, &used), SIO_FEED_NEED_BLOCK);
}

static void test_rejections(void)
{
    uint8_t frame[2048], enc[2100], raw[2048];
    uint8_t scratch[SIO1_MAX_FRAME];
    sio_parser p;
    sio_parser_init(&p, SIO_FMT_SIO1);
    sio_parser_set_msg_buffer(&p, msgs, sizeof msgs);
    memset(sink, 0, sizeof sink);
    size_t total = 0;

    size_t n = make_data(frame, 0, 2, 2, 0, 0);
    feed_all(&p, frame, n, 4096); /* good, and ends the "fresh" state */
    total += n;

    n = make_data(frame, 0, 2, 2, 1, 0);
    frame[3] ^= 0x10; /* a flipped bit: CRC */
    feed_all(&p, frame, n, 4096);
    total += n;
    CHECK_EQ(sio_parser_stats(&p)->crc_errors, 1);

    static const uint8_t bad_cobs[] = {9, 1, 2, 0};
    feed_all(&p, bad_cobs, 4, 4096);
    total += 4;
    CHECK_EQ(sio_parser_stats(&p)->cobs_errors, 1);

    /* unknown type with a valid CRC */
    n = sio1_encode_frame(0x7E, (const uint8_t *)"hi", 2, scratch, sizeof scratch, frame, sizeof frame);
    feed_all(&p, frame, n, 4096);
    total += n;
    CHECK_EQ(sio_parser_stats(&p)->unknown_type, 1);

    /* DATA whose length disagrees with its header (valid CRC): malformed */
    raw[0] = 1; raw[1] = 0; raw[2] = 1; raw[3] = 2; raw[4] = 3;
    memset(raw + 5, 1, 20);
    n = sio1_encode_frame(1, raw + 1, 24, scratch, sizeof scratch, frame, sizeof frame);
    feed_all(&p, frame, n, 4096);
    total += n;
    CHECK_EQ(sio_parser_stats(&p)->malformed, 1);

    /* bad encoding id and zero channels: malformed */
    raw[1] = 0; raw[2] = 9; raw[3] = 1; raw[4] = 1;
    n = sio1_encode_frame(1, raw + 1, 24, scratch, sizeof scratch, frame, sizeof frame);
    feed_all(&p, frame, n, 4096);
    total += n;
    CHECK_EQ(sio_parser_stats(&p)->malformed, 2);

    /* oversized: 1500 nonzero bytes, then a delimiter */
    memset(enc, 0x55, 1500);
    enc[1500] = 0;
    feed_all(&p, enc, 1501, 100);
    total += 1501;
    CHECK_EQ(sio_parser_stats(&p)->oversized, 1);
    CHECK_EQ(sio_parser_stats(&p)->bytes_oversized, 1501);

    /* messages */
    n = sio1_encode_frame(SIO1_TYPE_REPLY, (const uint8_t *)"OK", 2, scratch, sizeof scratch, frame, sizeof frame);
    feed_all(&p, frame, n, 3);
    total += n;
    CHECK_EQ(sio_parser_stats(&p)->messages_ok, 1);
    CHECK_EQ(sio_parser_msg_len(&p), 5);
    CHECK(msgs[0] == SIO1_TYPE_REPLY && msgs[1] == 2 && msgs[2] == 0 && memcmp(msgs + 3, "OK", 2) == 0);

    /* after all that, a good frame is still accepted, without a gap event
     * beyond the one frame lost to the CRC error */
    n = make_data(frame, 0, 2, 2, 2, 0);
    feed_all(&p, frame, n, 4096);
    total += n;
    CHECK_EQ(sio_parser_stats(&p)->frames_ok, 2);
    CHECK_EQ(sio_parser_stats(&p)->lost_frames, 1);
    CHECK_EQ(sio_parser_stats(&p)->bytes_in, total);
    CHECK_EQ(accounted_bytes(&p), total);
}

static void test_join_mid_frame(void)
{
    /* Bytes before the first delimiter come from a frame we joined late:
     * counted as resync, not as a device error. */
    uint8_t frame[512];
    size_t n = make_data(frame, 0, 2, 2, 0, 0);
    sio_parser p;
    sio_parser_init(&p, SIO_FMT_SIO1);
    memset(sink, 0, sizeof sink);
    feed_all(&p, frame + 5, n - 5, 4096);
    n = make_data(frame, 0, 2, 2, 1, 0);
    feed_all(&p, frame, n, 4096);
    sio_stats *st = sio_parser_stats(&p);
    CHECK_EQ(st->frames_ok, 1);
    CHECK_EQ(st->crc_errors + st->cobs_errors + st->malformed, 0);
    CHECK(st->bytes_resync > 0);
}

static void test_multistream_and_ring(void)
{
    static uint8_t stream[100000];
    size_t len = 0;
    for (uint16_t s = 0; s < 100; s++) {
        len += make_data(stream + len, 0, 8, 4, s, 0);
        if (s % 4 == 0)
            len += make_data(stream + len, 3, 3, 1, (uint16_t)(s / 4), 0);
    }
    static uint8_t mem[1024];
    sio_ring r;
    sio_ring_init(&r, mem, sizeof mem);
    sio_parser p;
    sio_parser_init(&p, SIO_FMT_SIO1);
    memset(sink, 0, sizeof sink);
    size_t off = 0;
    int drop_once = 1;
    while (off < len || sio_ring_used(&r)) {
        size_t n = len - off < 700 ? len - off : 700;
        if (drop_once && off > 3000) {
            /* lose 300 bytes in the ring: a mark, then resync */
            sio_ring_note_loss(&r, 300);
            off += 300;
            drop_once = 0;
            continue;
        }
        off += sio_ring_write(&r, stream + off, n);
        for (;;) {
            size_t used;
            int st = sio_parser_feed_ring(&p, &r, (size_t)-1, &used);
            if (st == SIO_FEED_NEED_BLOCK) {
                int slot = sio_parser_need_slot(&p);
                sink_attach(&p, slot, &sink[slot], SINK_VALUES);
                continue;
            }
            break;
        }
    }
    sio_stats *st = sio_parser_stats(&p);
    CHECK_EQ(st->ring_overflows, 1);
    CHECK_EQ(st->ring_overflow_bytes, 300);
    CHECK_EQ(sio_parser_slot_stream(&p, 0), 0);
    CHECK_EQ(sio_parser_slot_stream(&p, 1), 3);
    sio_block *b0 = sio_parser_block(&p, 0), *b1 = sio_parser_block(&p, 1);
    /* every frame is either received or reported lost */
    CHECK_EQ(b0->n_frames + b1->n_frames + st->lost_frames, 125);
    CHECK(b0->n_events >= 2); /* overflow + gap on the stream that lost frames */
    int saw_overflow = 0;
    for (size_t i = 0; i < b0->n_events; i++)
        if (b0->events[i].kind == SIO_EV_OVERFLOW && b0->events[i].lost_bytes == 300)
            saw_overflow = 1;
    CHECK(saw_overflow);
    CHECK_EQ(st->crc_errors + st->cobs_errors + st->malformed, 0);
    CHECK_EQ(st->bytes_in + 300, len);
    CHECK_EQ(accounted_bytes(&p), st->bytes_in);
}

int main(void)
{
    test_chunkings();
    test_block_handover();
    test_block_advance();
    test_block_advance_checks_the_counts();
    test_rejections();
    test_join_mid_frame();
    test_multistream_and_ring();
    return check_report("test_parser");
}
