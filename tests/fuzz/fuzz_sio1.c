/* libFuzzer target: the SIO-1 parser, fed directly and through a small ring
 * with losses, in chunk sizes drawn from the input, with output blocks small
 * enough that block hand-over and message draining happen often, blocks
 * also handed over in place between chunks (block_advance). Any
 * violation of the accounting invariants aborts. Also built with
 * replay_main.c so the ordinary test run replays the corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sio_parser.h"

#define VALUES 256
#define FRAMES 64
#define EVENTS 4

typedef struct {
    int32_t samples[VALUES];
    uint32_t seq[FRAMES];
    uint64_t time[FRAMES];
    uint64_t leadoff[FRAMES];
    uint32_t row[FRAMES];
    sio_event events[EVENTS];
} sink;

static sink sinks[SIO_MAX_STREAMS];
static uint8_t msg_buf[4096];
static uint8_t ring_mem[512];

static void require(int ok)
{
    if (!ok)
        abort();
}

static void attach(sio_parser *p, int slot)
{
    sio_block *b = sio_parser_block(p, slot);
    require(b != NULL);
    if (b->n_rows) {
        /* a handed-over block must be internally consistent */
        require(b->n_rows * b->n_ch <= b->samples_cap);
        require(b->n_frames <= b->frames_cap && b->n_events <= b->events_cap);
        for (size_t i = 0; i < b->n_frames; i++)
            require(b->frame_row[i] < b->n_rows);
        sio_parser_block_reset(p, slot);
    }
    sink *s = &sinks[slot];
    size_t need = sio_parser_need_rows(p) * sio_parser_need_channels(p);
    b->samples = s->samples;
    /* usually small, but always room for the waiting frame */
    b->samples_cap = need > VALUES / 4 ? VALUES : VALUES / 4;
    if (need > b->samples_cap)
        abort();
    b->frame_seq = s->seq;
    b->frame_time = s->time;
    b->frame_leadoff = s->leadoff;
    b->frame_row = s->row;
    b->frames_cap = FRAMES;
    b->events = s->events;
    b->events_cap = EVENTS;
}

/* Hands every slot's block over in place, as the Python Parser reads them
 * (views of its buffers): the buffers continue after it. */
static void take(sio_parser *p)
{
    for (int slot = 0; slot < SIO_MAX_STREAMS; slot++) {
        sio_block *b = sio_parser_block(p, slot);
        if (!b->n_rows)
            continue;
        require(b->n_rows * b->n_ch <= b->samples_cap);
        require(b->n_frames <= b->frames_cap && b->n_events <= b->events_cap);
        for (size_t i = 0; i < b->n_frames; i++)
            require(b->frame_row[i] < b->n_rows);
        int32_t *samples = b->samples;
        size_t cap = b->samples_cap, values = b->n_rows * b->n_ch;
        require(sio_parser_block_advance(p, slot) == 0);
        require(b->samples == samples + values && b->samples_cap == cap - values && !b->n_rows);
    }
}

static void service(sio_parser *p, int status)
{
    if (status == SIO_FEED_NEED_BLOCK)
        attach(p, sio_parser_need_slot(p));
    else if (status == SIO_FEED_NEED_MSG)
        sio_parser_msg_reset(p);
}

static void check_accounting(sio_parser *p, uint64_t fed)
{
    sio_stats *s = sio_parser_stats(p);
    require(s->bytes_in == fed);
    require(s->bytes_in == s->bytes_ok + s->bytes_crc + s->bytes_cobs + s->bytes_oversized +
                               s->bytes_malformed + s->bytes_unknown + s->bytes_resync + s->bytes_idle +
                               sio_parser_pending_bytes(p));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned chunk = (unsigned)data[0] % 64 + 1;
    data++;
    size--;
    static sio_parser *p;
    if (!p)
        p = malloc(sio_parser_struct_size());

    /* direct feeding */
    sio_parser_init(p, SIO_FMT_SIO1);
    sio_parser_set_msg_buffer(p, msg_buf, (size_t)chunk * 16 + 64);
    size_t off = 0;
    int guard = 0;
    while (off < size || guard == 0) {
        size_t n = size - off < chunk ? size - off : chunk;
        size_t used = 0;
        int st = sio_parser_feed(p, data + off, n, &used);
        require(used <= n);
        off += used;
        if (st == SIO_FEED_DONE) {
            if (off & 1)
                take(p); /* a read between chunks (not after every one: blocks of several too) */
            if (off >= size)
                break;
            continue;
        }
        service(p, st);
        require(++guard < 1000000);
    }
    /* flush whatever frame waits for a block */
    for (;;) {
        size_t used;
        int st = sio_parser_feed(p, data, 0, &used);
        if (st == SIO_FEED_DONE)
            break;
        service(p, st);
    }
    check_accounting(p, size);

    /* through a ring, with a loss every so often */
    sio_ring r;
    sio_ring_init(&r, ring_mem, sizeof ring_mem);
    sio_parser_init(p, SIO_FMT_SIO1);
    sio_parser_set_msg_buffer(p, msg_buf, sizeof msg_buf);
    off = 0;
    uint64_t lost = 0;
    while (off < size) {
        size_t n = size - off < chunk * 3 ? size - off : chunk * 3;
        if ((off / n) % 7 == 3) {
            sio_ring_note_loss(&r, n);
            lost += n;
        } else {
            size_t stored = sio_ring_write(&r, data + off, n);
            lost += n - stored;
        }
        off += n;
        for (;;) {
            size_t used;
            int st = sio_parser_feed_ring(p, &r, (size_t)chunk * 5, &used);
            if (st == SIO_FEED_DONE) {
                take(p);
                break;
            }
            service(p, st);
        }
    }
    for (;;) {
        size_t used;
        int st = sio_parser_feed_ring(p, &r, (size_t)-1, &used);
        if (st == SIO_FEED_DONE && sio_ring_used(&r) == 0) {
            /* a mark may still sit at the write position */
            if (!sio_ring_pop_mark(&r))
                break;
            continue;
        }
        if (st != SIO_FEED_DONE)
            service(p, st);
    }
    require(sio_ring_overflow_bytes(&r) == lost);
    check_accounting(p, size - lost);
    return 0;
}
